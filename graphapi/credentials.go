package graphapi

import (
	"cmp"
	"context"
	"iter"
	"slices"
	"time"

	"github.com/google/uuid"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// ExpiringCredential is a client secret or certificate of an application or
// service principal that expires soon or has expired.
type ExpiringCredential struct {
	ObjectType  string // "application" or "servicePrincipal"
	ObjectID    string
	AppID       string
	AppName     string // the object's displayName
	Kind        string // "password" (client secret) or "key" (certificate)
	KeyID       string
	Name        string // the credential's displayName
	EndDateTime time.Time
	Expired     bool
}

// credentialProps are the only properties ExpiringCredentials reads.
var credentialProps = []string{"id", "appId", "displayName", "passwordCredentials", "keyCredentials"}

// ExpiringCredentials lists the password and key credentials of every
// application and service principal whose endDateTime is within the window
// from now, or past, soonest first. It needs Application.Read.All.
func (c *Client) ExpiringCredentials(ctx context.Context, within time.Duration) ([]ExpiringCredential, error) {
	now := c.now()
	limit := now.Add(within)
	var out []ExpiringCredential
	collect := func(typ string, o credentialOwner) {
		add := func(kind string, keyID *uuid.UUID, credName *string, end *time.Time) {
			if end == nil || end.After(limit) {
				return
			}
			ec := ExpiringCredential{
				ObjectType: typ, ObjectID: deref(o.GetId()), AppID: deref(o.GetAppId()), AppName: deref(o.GetDisplayName()),
				Kind: kind, Name: deref(credName), EndDateTime: *end, Expired: !end.After(now),
			}
			if keyID != nil {
				ec.KeyID = keyID.String()
			}
			out = append(out, ec)
		}
		for _, p := range o.GetPasswordCredentials() {
			add("password", p.GetKeyId(), p.GetDisplayName(), p.GetEndDateTime())
		}
		for _, k := range o.GetKeyCredentials() {
			add("key", k.GetKeyId(), k.GetDisplayName(), k.GetEndDateTime())
		}
	}

	q := &odataQuery{Select: credentialProps}
	apps := pages[models.Applicationable, models.ApplicationCollectionResponseable](ctx, c,
		func() *abs.RequestInformation { return c.get(tmplApplications, nil, q, nil, "") }, nil,
		models.CreateApplicationCollectionResponseFromDiscriminatorValue)
	sps := pages[models.ServicePrincipalable, models.ServicePrincipalCollectionResponseable](ctx, c,
		func() *abs.RequestInformation { return c.get(tmplServicePrincipals, nil, q, nil, "") }, nil,
		models.CreateServicePrincipalCollectionResponseFromDiscriminatorValue)
	if err := each(apps, func(a models.Applicationable) { collect("application", a) }); err != nil {
		return nil, err
	}
	if err := each(sps, func(sp models.ServicePrincipalable) { collect("servicePrincipal", sp) }); err != nil {
		return nil, err
	}

	slices.SortStableFunc(out, func(a, b ExpiringCredential) int {
		return cmp.Or(a.EndDateTime.Compare(b.EndDateTime), cmp.Compare(a.ObjectID, b.ObjectID), cmp.Compare(a.KeyID, b.KeyID))
	})
	return out, nil
}

// credentialOwner is what applications and service principals share of
// the credentialProps.
type credentialOwner interface {
	GetId() *string
	GetAppId() *string
	GetDisplayName() *string
	GetPasswordCredentials() []models.PasswordCredentialable
	GetKeyCredentials() []models.KeyCredentialable
}

func each[T any](seq iter.Seq2[T, error], f func(T)) error {
	for v, err := range seq {
		if err != nil {
			return err
		}
		f(v)
	}
	return nil
}
