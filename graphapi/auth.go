package graphapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abs "github.com/microsoft/kiota-abstractions-go"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
)

// WithCredential returns a view of c whose requests carry tokens from cred
// instead of the credential given to New. The view shares c's adapter,
// connections, middleware and retry policy; making one costs two small
// allocations, so make one per call site: the web app makes one per request
// for the session's signed-in user, which names the token source where the
// session is known. Send's requests carry the view's tokens too.
func (c *Client) WithCredential(cred azcore.TokenCredential) *Client {
	v := *c
	v.call = &callCredential{cred}
	return &v
}

// options are the kiota request options of one of c's requests: extra, and the
// view's credential.
func (c *Client) options(extra ...abs.RequestOption) []abs.RequestOption {
	if c.call == nil {
		return extra
	}
	return append(extra, c.call)
}

// callCredential is the request option by which a view names the credential
// of its requests; bearer reads it.
type callCredential struct{ cred azcore.TokenCredential }

var callCredentialKey = abs.RequestOptionKey{Key: "entrakit.graphapi.callCredential"}

func (*callCredential) GetKey() abs.RequestOptionKey { return callCredentialKey }

// bearer is the client's kiota AuthenticationProvider: the Authorization
// header of a request to the Graph host, with a token from the request's
// credential (WithCredential) or else the client's. It does what
// kiota-authentication-azure-go's provider does, which holds one credential
// for the adapter's life: no token for another host (the allowed-hosts
// rule), none over plain http except on loopback, and a CAE claims
// challenge (kiota resends a 401 once with its claims) passed to the
// credential, which must then skip its cached token.
type bearer struct {
	cred   azcore.TokenCredential
	scopes []string
	host   string // the Graph host name, without the port
}

var _ absauth.AuthenticationProvider = (*bearer)(nil)

// claimsKey is where kiota puts a challenge's claims (base64) for the resend.
const claimsKey = "claims"

func (b *bearer) AuthenticateRequest(ctx context.Context, req *abs.RequestInformation, extra map[string]any) error {
	if req == nil {
		return errors.New("graphapi: nil request")
	}
	if req.Headers == nil {
		req.Headers = abs.NewRequestHeaders()
	}
	claims, _ := extra[claimsKey].(string)
	if claims != "" {
		req.Headers.Remove("Authorization")
	} else if req.Headers.ContainsKey("Authorization") {
		return nil
	}
	u, err := req.GetUri()
	if err != nil {
		return err
	}
	if !strings.EqualFold(u.Hostname(), b.host) {
		return nil // never a token for another host
	}
	if !strings.EqualFold(u.Scheme, "https") && !isLoopback(u.Hostname()) {
		return errors.New("graphapi: a token is only sent over https")
	}
	cred := b.cred
	for _, o := range req.GetRequestOptions() {
		if cc, ok := o.(*callCredential); ok {
			cred = cc.cred
		}
	}
	if cred == nil {
		return errors.New("graphapi: no credential for this request")
	}
	opts := policy.TokenRequestOptions{Scopes: b.scopes, EnableCAE: true}
	if claims != "" {
		dec, err := base64.StdEncoding.DecodeString(claims)
		if err != nil {
			return fmt.Errorf("graphapi: claims challenge: %w", err)
		}
		opts.Claims = string(dec)
	}
	tok, err := cred.GetToken(ctx, opts)
	if err != nil {
		return err
	}
	req.Headers.Add("Authorization", "Bearer "+tok.Token)
	return nil
}
