package graphapi

import (
	"context"
	"errors"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// UserChange is one entry of a users delta round.
type UserChange struct {
	// User holds the properties that changed (all selected ones on the
	// first round); for a removed user, only its id.
	User models.Userable
	// Removed is set when Graph sent "@removed": the user left the
	// collection.
	Removed bool
	// Reason comes with Removed: "changed" (soft-deleted, restorable for 30
	// days) or "deleted" (permanently deleted).
	Reason string
}

// UsersDelta runs one round of a users delta query. With deltaLink empty it
// starts one (the first round lists every user, with the properties in sel);
// otherwise deltaLink is the one the previous round returned, and the round
// returns what changed since. It follows every @odata.nextLink and returns
// the changes with the @odata.deltaLink for the next round: store it with
// the changes, in the same transaction.
//
// The changes of a round are held in memory; a first round over a large
// directory holds every user.
func (c *Client) UsersDelta(ctx context.Context, deltaLink string, sel ...string) (changes []UserChange, next string, err error) {
	d := c.graph.Users().Delta()
	var resp users.DeltaGetResponseable
	if deltaLink == "" {
		cfg := &users.DeltaRequestBuilderGetRequestConfiguration{}
		if len(sel) > 0 {
			cfg.QueryParameters = &users.DeltaRequestBuilderGetQueryParameters{Select: sel}
		}
		resp, err = d.GetAsDeltaGetResponse(ctx, cfg)
	} else {
		if err := c.sameHost(deltaLink); err != nil {
			return nil, "", err
		}
		resp, err = d.WithUrl(deltaLink).GetAsDeltaGetResponse(ctx, nil)
	}
	for {
		if err != nil {
			return nil, "", c.MapError(err)
		}
		if resp == nil {
			return nil, "", errors.New("graphapi: users delta: empty page")
		}
		for _, u := range resp.GetValue() {
			changes = append(changes, userChange(u))
		}
		if dl := deref(resp.GetOdataDeltaLink()); dl != "" {
			return changes, dl, nil
		}
		nl := deref(resp.GetOdataNextLink())
		if nl == "" {
			return nil, "", errors.New("graphapi: users delta: a page with neither @odata.nextLink nor @odata.deltaLink")
		}
		if err := c.sameHost(nl); err != nil {
			return nil, "", err
		}
		resp, err = d.WithUrl(nl).GetAsDeltaGetResponse(ctx, nil)
	}
}

func userChange(u models.Userable) UserChange {
	ch := UserChange{User: u}
	removed, ok := u.GetAdditionalData()["@removed"]
	if !ok {
		return ch
	}
	ch.Removed = true
	if m, ok := removed.(map[string]any); ok {
		switch r := m["reason"].(type) {
		case *string:
			ch.Reason = deref(r)
		case string:
			ch.Reason = r
		}
	}
	return ch
}
