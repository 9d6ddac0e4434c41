package graphapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoft/kiota-abstractions-go/store"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// DeltaPage is one page of a delta round, as plain values. Exactly one of
// NextLink (more pages in this round) and DeltaLink (the round is over;
// keep it for the next round) is set. Store the link in the same
// transaction as the page's changes: resuming from it after a crash neither
// loses nor repeats a change.
type DeltaPage struct {
	Changes   []DirectoryChange
	NextLink  string
	DeltaLink string
}

// DirectoryChange is one object of a delta page.
type DirectoryChange struct {
	ID string
	// Removed: the object left the collection ("@removed"); Reason is
	// "changed" (soft-deleted, restorable for 30 days) or "deleted".
	Removed bool
	Reason  string
	// Fields are the properties Graph sent, by their Graph names. On later
	// rounds Graph sends at least the changed ones; a property sent as null
	// is present with Null set. Absent properties did not change.
	Fields map[string]FieldValue
	// Members are a group's member changes (members@delta).
	Members []MemberChange
}

// FieldValue is a property value from Graph, as text ("true"/"false" for
// booleans), or Null.
type FieldValue struct {
	Text string
	Null bool
}

// MemberChange is one entry of members@delta.
type MemberChange struct {
	ID      string
	Type    string // "#microsoft.graph.user", "#microsoft.graph.group", ...
	Removed bool
}

// UsersDeltaPages runs one users delta round page by page: link is "" to
// start a new round (with the properties in sel), or the NextLink or
// DeltaLink stored from an earlier page. page is called once per page, in
// order; an error from it stops the round. Only one page is in memory.
func (c *Client) UsersDeltaPages(ctx context.Context, link string, sel []string, page func(DeltaPage) error) error {
	return deltaPages(ctx, c, tmplUsersDelta, sel, link, models.CreateUserFromDiscriminatorValue, func(u models.Userable) DirectoryChange {
		return directoryChange(u.GetId(), u.GetAdditionalData(), u.GetBackingStore())
	}, page)
}

// GroupsDeltaPages is UsersDeltaPages for groups; sel should include
// "members" to get members@delta.
func (c *Client) GroupsDeltaPages(ctx context.Context, link string, sel []string, page func(DeltaPage) error) error {
	return deltaPages(ctx, c, tmplGroupsDelta, sel, link, models.CreateGroupFromDiscriminatorValue, func(g models.Groupable) DirectoryChange {
		ch := directoryChange(g.GetId(), g.GetAdditionalData(), g.GetBackingStore())
		ch.Members = memberChanges(g.GetAdditionalData()["members@delta"])
		delete(ch.Fields, "members@delta")
		return ch
	}, page)
}

// maxPageSize asks for Graph's largest delta pages (999): fewer round
// trips; Graph may still send fewer. Sent on every page, as Graph expects.
func maxPageSize() *abs.RequestHeaders {
	h := abs.NewRequestHeaders()
	h.Add("Prefer", "odata.maxpagesize=999")
	return h
}

// deltaResponse is a delta function's response (the SDK's
// users.DeltaGetResponse, groups.DeltaGetResponse, ...): a page of Ts and
// the link to the next page or round. It is only parsed, never sent: its
// Serialize writes the links and not the value.
type deltaResponse[T any] struct {
	models.BaseDeltaFunctionResponse
	create absser.ParsableFactory // of a T
	value  []T
}

func newDeltaResponse[T any](create absser.ParsableFactory) absser.ParsableFactory {
	return func(absser.ParseNode) (absser.Parsable, error) {
		return &deltaResponse[T]{BaseDeltaFunctionResponse: *models.NewBaseDeltaFunctionResponse(), create: create}, nil
	}
}

func (r *deltaResponse[T]) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	res := r.BaseDeltaFunctionResponse.GetFieldDeserializers()
	res["value"] = func(n absser.ParseNode) error {
		vals, err := n.GetCollectionOfObjectValues(r.create)
		if err != nil {
			return err
		}
		r.value = make([]T, 0, len(vals))
		for _, v := range vals {
			if t, ok := v.(T); ok { // a null in the array is skipped
				r.value = append(r.value, t)
			}
		}
		return nil
	}
	return res
}

// deltaPages runs a delta round of template from link ("": a new round,
// selecting sel), parsing its objects with create. Every page is requested
// with the Prefer header; a stored link carries the query.
func deltaPages[T any](ctx context.Context, c *Client, template string, sel []string, link string,
	create absser.ParsableFactory, conv func(T) DirectoryChange, page func(DeltaPage) error) error {
	h := maxPageSize()
	for {
		var req *abs.RequestInformation
		var err error
		if link == "" {
			req = c.get(template, nil, &odataQuery{Select: sel}, h, "")
		} else if req, err = c.getLink(link, h); err != nil {
			return err
		}
		resp, err := send[*deltaResponse[T]](ctx, c, req, newDeltaResponse[T](create))
		if err != nil {
			return err
		}
		if resp == nil {
			return errors.New("graphapi: delta: empty page")
		}
		p := DeltaPage{NextLink: deref(resp.GetOdataNextLink()), DeltaLink: deref(resp.GetOdataDeltaLink())}
		if (p.NextLink == "") == (p.DeltaLink == "") {
			return errors.New("graphapi: delta: a page needs exactly one of @odata.nextLink and @odata.deltaLink")
		}
		p.Changes = make([]DirectoryChange, 0, len(resp.value))
		for _, v := range resp.value {
			p.Changes = append(p.Changes, conv(v))
		}
		if err := page(p); err != nil {
			return err
		}
		if p.DeltaLink != "" {
			return nil
		}
		link = p.NextLink
	}
}

// directoryChange reads what the page carried from the model's backing
// store (which, unlike the getters, tells an absent property from a null).
func directoryChange(id *string, extra map[string]any, bs store.BackingStore) DirectoryChange {
	ch := DirectoryChange{ID: deref(id), Fields: map[string]FieldValue{}}
	if removed, ok := extra["@removed"]; ok {
		ch.Removed = true
		if m, ok := removed.(map[string]any); ok {
			switch r := m["reason"].(type) {
			case *string:
				ch.Reason = deref(r)
			case string:
				ch.Reason = r
			}
		}
	}
	if bs == nil {
		return ch
	}
	for k, v := range bs.Enumerate() {
		switch k {
		case "id", "additionalData", "backingStore", "odataType", "@odata.type":
			continue
		}
		if fv, ok := fieldValue(v); ok {
			ch.Fields[k] = fv
		}
	}
	return ch
}

func fieldValue(v any) (FieldValue, bool) {
	switch x := v.(type) {
	case nil:
		return FieldValue{Null: true}, true
	case *string:
		if x == nil {
			return FieldValue{Null: true}, true
		}
		return FieldValue{Text: *x}, true
	case *bool:
		if x == nil {
			return FieldValue{Null: true}, true
		}
		return FieldValue{Text: strconv.FormatBool(*x)}, true
	case *int32:
		if x == nil {
			return FieldValue{Null: true}, true
		}
		return FieldValue{Text: strconv.Itoa(int(*x))}, true
	case string:
		return FieldValue{Text: x}, true
	case bool:
		return FieldValue{Text: strconv.FormatBool(x)}, true
	}
	return FieldValue{}, false // collections and objects: not mapped
}

// memberChanges reads members@delta, which the SDK leaves untyped.
func memberChanges(v any) []MemberChange {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]MemberChange, 0, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		mc := MemberChange{ID: untypedString(m["id"]), Type: untypedString(m["@odata.type"])}
		_, mc.Removed = m["@removed"]
		if mc.ID != "" {
			out = append(out, mc)
		}
	}
	return out
}

func untypedString(v any) string {
	switch s := v.(type) {
	case *string:
		return deref(s)
	case string:
		return s
	}
	return fmt.Sprint(v)
}
