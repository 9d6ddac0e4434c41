package graphapi

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Me reads the signed-in user (a delegated token), with only the properties
// in sel when given.
func (c *Client) Me(ctx context.Context, sel ...string) (Profile, error) {
	return c.user(ctx, c.get(tmplMe, nil, &odataQuery{Select: sel}, nil, ""), "me")
}

// User reads a user by id or userPrincipalName, with only the properties
// in sel when given. An unknown user gives ErrNotFound.
func (c *Client) User(ctx context.Context, id string, sel ...string) (Profile, error) {
	if id == "" {
		return Profile{}, errors.New("graphapi: user: empty id")
	}
	return c.user(ctx, c.get(tmplUser, map[string]string{"user%2Did": id}, &odataQuery{Select: sel}, nil, ""), "user")
}

func (c *Client) user(ctx context.Context, req *abs.RequestInformation, what string) (Profile, error) {
	u, err := send[models.Userable](ctx, c, req, models.CreateUserFromDiscriminatorValue)
	if err != nil {
		return Profile{}, err
	}
	if u == nil {
		return Profile{}, fmt.Errorf("graphapi: %s: empty response", what)
	}
	return profileOf(u), nil
}

// Photo returns the profile photo of a user (id or userPrincipalName; "" or
// "me" for the signed-in user) and its content type. A user without a photo
// gives ErrNotFound.
func (c *Client) Photo(ctx context.Context, userID string) (data []byte, contentType string, err error) {
	inspect := khttp.NewHeadersInspectionOptions()
	inspect.InspectResponseHeaders = true
	const accept = "application/octet-stream, application/json"
	req := c.get(tmplMePhoto, nil, nil, nil, accept, inspect)
	if userID != "" && !strings.EqualFold(userID, "me") {
		req = c.get(tmplUserPhoto, map[string]string{"user%2Did": userID}, nil, nil, accept, inspect)
	}
	res, err := c.adapter.SendPrimitive(ctx, req, "[]byte", odataErrors())
	if err != nil {
		return nil, "", c.MapError(err)
	}
	data, _ = res.([]byte)
	if len(data) == 0 {
		// kiota answers an empty 200 with (nil, nil).
		return nil, "", errors.New("graphapi: photo: empty response")
	}
	if ct := inspect.GetResponseHeaders().Get("Content-Type"); len(ct) > 0 {
		contentType = ct[0]
	}
	return data, contentType, nil
}

// ListOptions are the OData query options of a collection. Search, Count,
// endswith(...) and Filter with OrderBy are Graph's "advanced queries": the
// client then sends ConsistencyLevel: eventual and $count=true, as Graph
// requires for directory objects.
type ListOptions struct {
	Filter  string   // e.g. startswith(displayName,'A') and accountEnabled eq true
	Select  []string // properties to return
	Top     int32    // page size: Graph's default when 0 (100 for users), at most 999
	OrderBy []string // e.g. displayName desc
	Search  string   // e.g. "displayName:adele" (with the double quotes)
	Count   bool     // ask for @odata.count
}

func (o ListOptions) advanced() bool {
	return o.Search != "" || o.Count || strings.Contains(o.Filter, "endswith(") ||
		(o.Filter != "" && len(o.OrderBy) > 0)
}

func (o ListOptions) headers() *abs.RequestHeaders {
	h := abs.NewRequestHeaders()
	if o.advanced() {
		h.Add("ConsistencyLevel", "eventual")
	}
	return h
}

func optional[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// Users lists the users matching o, page after page as the loop asks for
// them: one page is held in memory at a time. Breaking out of the loop stops
// the paging. An error ends the sequence.
//
// It yields the SDK's users, for the package example and
// BenchmarkEnumerateUsers (a whole directory in flat memory); the apps page
// with UsersPage, which returns Profiles and a token a browser may hold.
func (c *Client) Users(ctx context.Context, o ListOptions) iter.Seq2[models.Userable, error] {
	q := &odataQuery{
		Filter: optional(o.Filter), Select: o.Select, Top: optional(o.Top),
		Orderby: o.OrderBy, Search: optional(o.Search),
	}
	if o.advanced() {
		q.Count = optional(true)
	}
	h := o.headers()
	first := func() *abs.RequestInformation { return c.get(tmplUsers, nil, q, h, "") }
	return pages[models.Userable, models.UserCollectionResponseable](ctx, c, first, h,
		models.CreateUserCollectionResponseFromDiscriminatorValue)
}

// GroupMembers lists a group's direct members, or with transitive its
// members through nested groups too: users, groups, devices, service
// principals or contacts, told apart by Member.Type.
func (c *Client) GroupMembers(ctx context.Context, groupID string, transitive bool) iter.Seq2[Member, error] {
	tmpl := tmplMembers
	if transitive {
		tmpl = tmplTransitiveMembers
	}
	first := func() *abs.RequestInformation {
		return c.get(tmpl, map[string]string{"group%2Did": groupID}, nil, nil, "")
	}
	objects := pages[models.DirectoryObjectable, models.DirectoryObjectCollectionResponseable](ctx, c, first, nil,
		models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue)
	return func(yield func(Member, error) bool) {
		for o, err := range objects {
			if err != nil {
				yield(Member{}, err)
				return
			}
			if !yield(Member{ID: deref(o.GetId()), Type: deref(o.GetOdataType())}, nil) {
				return
			}
		}
	}
}

// page is a collection response of the SDK's models.
type page[T any] interface {
	GetValue() []T
	GetOdataNextLink() *string
}

// pages follows @odata.nextLink from the first page (first builds its
// request) to the last, yielding each item; create parses a page into a P.
// Each range over the sequence starts again from the first page. Every
// later page is requested with the nextLink (which carries the query) and
// h again (Graph wants ConsistencyLevel on every page; the SDK's
// PageIterator does not resend headers).
func pages[T any, P page[T]](ctx context.Context, c *Client, first func() *abs.RequestInformation, h *abs.RequestHeaders,
	create absser.ParsableFactory) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		req := first()
		for {
			p, err := send[P](ctx, c, req, create)
			if err != nil {
				yield(zero, err)
				return
			}
			if any(p) == nil {
				yield(zero, errors.New("graphapi: empty page"))
				return
			}
			for _, v := range p.GetValue() {
				if !yield(v, nil) {
					return
				}
			}
			link := deref(p.GetOdataNextLink())
			if link == "" {
				return
			}
			if req, err = c.getLink(link, h); err != nil {
				yield(zero, err)
				return
			}
		}
	}
}

// UsersPage reads one page of users: the first when skipToken is "", else
// the page that an earlier page's Next names. Next is Graph's opaque
// $skiptoken: give a browser this token, never the whole nextLink (a URL
// from a browser is not something to fetch with a token).
func (c *Client) UsersPage(ctx context.Context, o ListOptions, skipToken string) (UserPage, error) {
	if len(skipToken) > 4096 {
		return UserPage{}, errors.New("graphapi: users page: skip token too long")
	}
	q := url.Values{}
	if o.Top > 0 {
		q.Set("$top", strconv.Itoa(int(o.Top)))
	}
	if len(o.Select) > 0 {
		q.Set("$select", strings.Join(o.Select, ","))
	}
	if o.Filter != "" {
		q.Set("$filter", o.Filter)
	}
	if len(o.OrderBy) > 0 {
		q.Set("$orderby", strings.Join(o.OrderBy, ","))
	}
	if o.Search != "" {
		q.Set("$search", o.Search)
	}
	if o.advanced() {
		q.Set("$count", "true")
	}
	if skipToken != "" {
		q.Set("$skiptoken", skipToken)
	}
	u := c.base.JoinPath("v1.0", "users")
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	req, err := c.getLink(u.String(), o.headers())
	if err != nil {
		return UserPage{}, err
	}
	p, err := send[models.UserCollectionResponseable](ctx, c, req, models.CreateUserCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return UserPage{}, err
	}
	if p == nil {
		return UserPage{}, errors.New("graphapi: users page: empty response")
	}
	var page UserPage
	if link := deref(p.GetOdataNextLink()); link != "" {
		if err := c.sameHost(link); err != nil {
			return UserPage{}, err
		}
		nu, err := url.Parse(link)
		if err != nil {
			return UserPage{}, fmt.Errorf("graphapi: users page: next link: %w", err)
		}
		if page.Next = nu.Query().Get("$skiptoken"); page.Next == "" {
			return UserPage{}, errors.New("graphapi: users page: next link without $skiptoken")
		}
	}
	list := p.GetValue()
	page.Users = make([]Profile, len(list))
	for i, u := range list {
		page.Users[i] = profileOf(u)
	}
	return page, nil
}
