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
	khttp "github.com/microsoft/kiota-http-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// Me reads the signed-in user (a delegated token), with only the properties
// in sel when given.
func (c *Client) Me(ctx context.Context, sel ...string) (Profile, error) {
	cfg := &users.UserItemRequestBuilderGetRequestConfiguration{Options: c.options()}
	if len(sel) > 0 {
		cfg.QueryParameters = &users.UserItemRequestBuilderGetQueryParameters{Select: sel}
	}
	u, err := c.graph.Me().Get(ctx, cfg)
	if err != nil {
		return Profile{}, c.MapError(err)
	}
	if u == nil {
		return Profile{}, errors.New("graphapi: me: empty response")
	}
	return profileOf(u), nil
}

// Photo returns the profile photo of a user (id or userPrincipalName; "" or
// "me" for the signed-in user) and its content type. A user without a photo
// gives ErrNotFound.
func (c *Client) Photo(ctx context.Context, userID string) (data []byte, contentType string, err error) {
	inspect := khttp.NewHeadersInspectionOptions()
	inspect.InspectResponseHeaders = true
	user := c.graph.Me()
	if userID != "" && !strings.EqualFold(userID, "me") {
		user = c.graph.Users().ByUserId(userID)
	}
	data, err = user.Photo().Content().Get(ctx, &users.ItemPhotoValueContentRequestBuilderGetRequestConfiguration{
		Options: c.options(inspect),
	})
	if err != nil {
		return nil, "", c.MapError(err)
	}
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
	q := &users.UsersRequestBuilderGetQueryParameters{
		Filter: optional(o.Filter), Select: o.Select, Top: optional(o.Top),
		Orderby: o.OrderBy, Search: optional(o.Search),
	}
	if o.advanced() {
		q.Count = optional(true)
	}
	return pages(ctx, c, c.graph.Users(),
		&users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: q, Headers: o.headers(), Options: c.options()})
}

// GroupMembers lists a group's direct members, or with transitive its
// members through nested groups too: users, groups, devices, service
// principals or contacts, told apart by Member.Type.
func (c *Client) GroupMembers(ctx context.Context, groupID string, transitive bool) iter.Seq2[Member, error] {
	g := c.graph.Groups().ByGroupId(groupID)
	var objects iter.Seq2[models.DirectoryObjectable, error]
	if transitive {
		objects = pages(ctx, c, g.TransitiveMembers(),
			&groups.ItemTransitiveMembersRequestBuilderGetRequestConfiguration{Options: c.options()})
	} else {
		objects = pages(ctx, c, g.Members(), &groups.ItemMembersRequestBuilderGetRequestConfiguration{Options: c.options()})
	}
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

// page is a collection response of the SDK.
type page[T any] interface {
	GetValue() []T
	GetOdataNextLink() *string
}

// collection is the SDK's request builder of a collection: Get reads a page,
// WithUrl addresses a later one.
type collection[B any, C any, P any] interface {
	Get(context.Context, *C) (P, error)
	WithUrl(string) B
}

// pages follows @odata.nextLink from the first page of b to the last,
// yielding each item. Each range over the sequence starts again from the
// first page. Every page is requested with cfg: the nextLink carries the
// query (kiota ignores cfg's query parameters for a WithUrl request), and
// the headers must be sent again (the SDK's PageIterator does not).
func pages[T any, P page[T], C any, B collection[B, C, P]](ctx context.Context, c *Client, b B, cfg *C) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		p, err := b.Get(ctx, cfg)
		for {
			if err != nil {
				yield(zero, c.MapError(err))
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
			if err := c.sameHost(link); err != nil {
				yield(zero, err)
				return
			}
			p, err = b.WithUrl(link).Get(ctx, cfg)
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
	p, err := c.graph.Users().WithUrl(u.String()).Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{Headers: o.headers(), Options: c.options()})
	if err != nil {
		return UserPage{}, c.MapError(err)
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
