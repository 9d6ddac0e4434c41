package devtenant_test

// Graph fidelity (issue 15, items 10-12): advanced queries and $search as
// Graph answers them, soft deletion and delta, members@delta, $batch
// throttling and Content-Type, and a user's relationships. Each test names
// the Graph documentation it holds the emulator to.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
)

// Graph's messages for advanced queries
// (https://learn.microsoft.com/graph/aad-advanced-queries#error-handling-for-advanced-queries-on-directory-objects
// and captures in microsoftgraph/microsoft-graph-docs-contrib issues).
const (
	msgSearchNeedsEventual = "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'"
	msgNotEquals           = "Filter operator 'NotEqualsMatch' is not supported."
	msgSorting             = "Sorting not supported for current query."
	msgCountSegment        = "$count is not currently supported."
)

func msgOperator(op string) string {
	return "Operator '" + op + "' is not supported because the required parameters might be missing. " +
		"Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
}

func msgClause(prop, entity string) string {
	return "Unsupported or invalid query filter clause specified for property '" + prop + "' of resource '" + entity + "'."
}

// TestGraphAdvancedQueries: ne, not, endsWith, null values, properties
// indexed for advanced queries only and $filter with $orderby need both
// ConsistencyLevel: eventual and $count=true; $search needs the header
// only; $count=true without the header is ignored, /$count refused.
func TestGraphAdvancedQueries(t *testing.T) {
	srv, g, tok := startGraph(t, 0)
	var disabled []string
	for _, u := range srv.Users() {
		if !u.AccountEnabled {
			disabled = append(disabled, u.ID)
		}
	}
	const none, eventual, both = 0, 1, 2 // the advanced query parameters sent
	tests := []struct {
		name   string
		query  string // under /users, $count=true added for both
		params int
		code   string // "" for 200
		msg    string
	}{
		{"ne without parameters", "$filter=accountEnabled ne true", none, "Request_UnsupportedQuery", msgNotEquals},
		{"ne with ConsistencyLevel only", "$filter=accountEnabled ne true", eventual, "Request_UnsupportedQuery", msgNotEquals},
		{"ne with both", "$filter=accountEnabled ne true", both, "", ""},
		{"not without parameters", "$filter=not(accountEnabled eq true)", none, "Request_UnsupportedQuery", msgOperator("not")},
		{"not with both", "$filter=not(accountEnabled eq true)", both, "", ""},
		{"endsWith without parameters", "$filter=endswith(mail,'.com')", none, "Request_UnsupportedQuery", msgOperator("endsWith")},
		{"endsWith with ConsistencyLevel only", "$filter=endswith(mail,'.com')", eventual, "Request_UnsupportedQuery", msgOperator("endsWith")},
		{"endsWith with both", "$filter=endswith(mail,'.com')", both, "", ""},
		{"endsWith on displayName", "$filter=endswith(displayName,'a')", both, "Request_UnsupportedQuery", msgClause("displayName", "User")},
		{"eq null without parameters", "$filter=jobTitle eq null", none, "Request_UnsupportedQuery", msgClause("jobTitle", "User")},
		{"eq null with both", "$filter=jobTitle eq null", both, "", ""},
		{"companyName without parameters", "$filter=companyName eq 'Contoso'", none, "Request_UnsupportedQuery", msgClause("companyName", "User")},
		{"companyName with both", "$filter=companyName eq 'Contoso'", both, "", ""},
		{"$filter and $orderby without parameters", "$filter=accountEnabled eq true&$orderby=displayName", none, "Request_UnsupportedQuery", msgSorting},
		{"$filter and $orderby with ConsistencyLevel only", "$filter=accountEnabled eq true&$orderby=displayName", eventual, "Request_UnsupportedQuery", msgSorting},
		{"$filter and $orderby with both", "$filter=accountEnabled eq true&$orderby=displayName", both, "", ""},
		{"$orderby alone", "$orderby=displayName", none, "", ""},
		{"$orderby on an unsortable property", "$orderby=jobTitle", none, "Request_UnsupportedQuery", "Unsupported sort property 'jobTitle' for 'User'."},
		{"eq by default", "$filter=accountEnabled eq false", none, "", ""},
		{"$search without ConsistencyLevel", `$search="displayName:adele"`, none, "Request_UnsupportedQuery", msgSearchNeedsEventual},
		{"$search with ConsistencyLevel, no $count", `$search="displayName:adele"`, eventual, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := "/users?" + encodeQuery(tc.query)
			var header []string
			if tc.params >= eventual {
				header = []string{"ConsistencyLevel", "eventual"}
			}
			if tc.params == both {
				target += "&$count=true"
			}
			r := g.get(t, tok, target, header...)
			if tc.code != "" {
				r.wantError(t, http.StatusBadRequest, tc.code, tc.msg)
				return
			}
			page := r.ok(t)
			if _, counted := page["@odata.count"]; counted != (tc.params == both) {
				t.Errorf("@odata.count present = %v with params %d", counted, tc.params)
			}
		})
	}

	t.Run("ne answers the right users", func(t *testing.T) {
		got, _ := g.listAll(t, tok, "/users?$count=true&$filter="+odataQuery("accountEnabled ne true"), "ConsistencyLevel", "eventual")
		sameIDs(t, "accountEnabled ne true", got, disabled)
	})
	t.Run("$count=true without ConsistencyLevel is ignored", func(t *testing.T) {
		if c, ok := g.get(t, tok, "/users?$count=true").ok(t)["@odata.count"]; ok {
			t.Errorf("@odata.count = %v", c)
		}
	})
	t.Run("/users/$count", func(t *testing.T) {
		g.do(t, gReq{target: "/users/$count", token: tok, raw: true}).wantError(t, http.StatusBadRequest, "Request_BadRequest", msgCountSegment)
		r := g.do(t, gReq{target: "/users/$count?$filter=" + odataQuery("accountEnabled ne true"), token: tok, raw: true,
			header: map[string]string{"ConsistencyLevel": "eventual"}})
		if r.status != http.StatusOK || string(r.body) != strconv.Itoa(len(disabled)) {
			t.Errorf("/users/$count with ne: %d %q, want %d", r.status, r.body, len(disabled))
		}
	})
	t.Run("groups follow the same rules", func(t *testing.T) {
		g.get(t, tok, "/groups?$search="+odataQuery(`"displayName:all"`)).wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", msgSearchNeedsEventual)
		g.get(t, tok, "/groups?$filter="+odataQuery("displayName ne 'Retail'")).wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", msgNotEquals)
		g.get(t, tok, "/groups?$filter="+odataQuery("securityEnabled eq true")+"&$orderby=displayName").
			wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", msgSorting)
	})
}

// encodeQuery percent-encodes the values of a raw a=b&c=d query as
// msgraph-sdk-go does.
func encodeQuery(raw string) string {
	var parts []string
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		parts = append(parts, k+"="+odataQuery(v))
	}
	return strings.Join(parts, "&")
}

// TestGraphSearchTokens: $search on directory objects is tokenized, not a
// substring match (https://learn.microsoft.com/graph/search-query-parameter#using-search-on-directory-object-collections):
// words split on spaces, lower-to-upper case changes, digits and symbols;
// every word of the text starts a word of the value; AND, OR and
// parentheses combine quoted "property:text" clauses; other properties
// match by startsWith; an unquoted clause is OData's syntax error.
func TestGraphSearchTokens(t *testing.T) {
	srv, g, tok := startGraph(t, 0)
	people := map[string]string{} // display name -> id
	for i, name := range []string{"HelloWorld Smith", "HELLOworld Jones", "hello.world Lee", "hello123world Kim", "李四(David Li)", "Orla Dunne"} {
		u, err := srv.AddUser(devtenant.User{UserPrincipalName: fmt.Sprintf("search.%d@%s", i, srv.Domain()), DisplayName: name,
			Department: "SearchLab", AccountEnabled: true}, "Search-Passw0rd!")
		if err != nil {
			t.Fatal(err)
		}
		people[name] = u.ID
	}
	named := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, people[n])
		}
		return out
	}
	tests := []struct {
		search string
		want   []string
	}{
		{`"displayName:hello"`, named("HelloWorld Smith", "HELLOworld Jones", "hello.world Lee", "hello123world Kim")},
		{`"displayName:world"`, named("HelloWorld Smith", "hello.world Lee", "hello123world Kim")}, // HELLOworld is one word
		{`"displayName:helloworld"`, named("HELLOworld Jones", "hello.world Lee")},                 // words joined by a symbol
		{`"displayName:orld"`, nil},                                                                         // no substring match
		{`"displayName:123"`, named("hello123world Kim")},                                                   // digits split words
		{`"displayName:SMITH hello"`, named("HelloWorld Smith")},                                            // any order, any case
		{`"displayName:David)"`, named("李四(David Li)")},                                                     // symbols are words
		{`"displayName:Li 李"`, named("李四(David Li)")},                                                       // Graph's own example
		{`"displayName:hello" AND "displayName:kim"`, named("hello123world Kim")},                           // AND
		{`"displayName:hello" "displayName:lee"`, named("hello.world Lee")},                                 // side by side: AND
		{`"displayName:kim" OR "displayName:lee"`, named("hello123world Kim", "hello.world Lee")},           // OR
		{`("displayName:kim" OR "displayName:lee") AND "displayName:hello123"`, named("hello123world Kim")}, // parentheses
		{`"userPrincipalName:search.4"`, named("李四(David Li)")},                                             // startsWith on other properties
		{`"userPrincipalName:arch"`, nil},                                                                   // not a substring
		{`"displayName:or"`, named("Orla Dunne")},                                                           // a word's prefix only
	}
	for _, tc := range tests {
		t.Run(tc.search, func(t *testing.T) {
			q := "/users?$filter=" + odataQuery("department eq 'SearchLab'") + "&$search=" + odataQuery(tc.search)
			got, _ := g.listAll(t, tok, q, "ConsistencyLevel", "eventual")
			sameIDs(t, tc.search, got, tc.want)
		})
	}

	errs := []struct{ search, code, msg string }{
		{`displayName:hello`, "BadRequest", "Syntax error: character ':' is not valid at position 11 in 'displayName:hello'."},
		{`"displayName:hello" and "displayName:kim"`, "Request_UnsupportedQuery", ""}, // operators are upper case
		{`hello`, "Request_UnsupportedQuery", ""},                                     // no property
		{`"shoeSize:42"`, "Request_BadRequest", "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'."},
		{`"displayName:hello`, "Request_BadRequest", ""},
		{`("displayName:hello"`, "BadRequest", ""},
	}
	for _, tc := range errs {
		t.Run("error "+tc.search, func(t *testing.T) {
			g.get(t, tok, "/users?$search="+odataQuery(tc.search), "ConsistencyLevel", "eventual").wantError(t, http.StatusBadRequest, tc.code, tc.msg)
		})
	}
}

// removedReason is an object's @removed reason in a delta page, "" when it
// is not removed.
func removedReason(o map[string]any) string {
	r, _ := o["@removed"].(map[string]any)
	return str(r["reason"])
}

// TestGraphSoftDelete: deleting a user is a soft delete
// (https://learn.microsoft.com/graph/api/user-delete): the user leaves
// /users and its groups, keeps its UPN taken, waits in the deleted items
// (https://learn.microsoft.com/graph/api/resources/directory), and users
// delta reports it {"id","@removed":{"reason":"changed"}}
// (https://learn.microsoft.com/graph/api/user-delta); groups delta reports
// the memberships it lost.
func TestGraphSoftDelete(t *testing.T) {
	srv, g, tok := startGraph(t, 0)
	writer := userWriterToken(t, srv)
	alex, joni := persona(t, srv, "AlexW"), persona(t, srv, "JoniS")
	_, usersLink, _ := g.deltaRound(t, tok, "/users/delta?$select=id,displayName", 100)
	_, groupsLink, _ := g.deltaRound(t, tok, "/groups/delta?$select=id,displayName,members", 100)
	memberships := membershipsOf(srv, alex.OID, joni.OID)
	if len(memberships) < 2 {
		t.Fatalf("Alex and Joni are members of %q", memberships)
	}

	// Alex through Graph, Joni through the Go API.
	g.do(t, gReq{method: http.MethodDelete, target: "/users/" + alex.OID, token: writer, raw: true}).wantStatus(t, http.StatusNoContent)
	if err := srv.DeleteUser(joni.OID); err != nil {
		t.Fatal(err)
	}
	g.get(t, tok, "/users/"+alex.OID).wantError(t, http.StatusNotFound, "Request_ResourceNotFound", "")
	g.get(t, tok, "/users/"+alex.Username).wantError(t, http.StatusNotFound, "Request_ResourceNotFound", "")
	all, _ := g.listAll(t, tok, "/users?$top=999&$select=id")
	for _, o := range all {
		if o["id"] == alex.OID || o["id"] == joni.OID {
			t.Errorf("/users lists deleted %v", o["id"])
		}
	}
	if left := membershipsOf(srv, alex.OID, joni.OID); len(left) != 0 {
		t.Errorf("deleted users still members: %q", left)
	}
	if _, err := srv.AddUser(devtenant.User{UserPrincipalName: alex.Username, DisplayName: "Alex Again", AccountEnabled: true}, "Xx-12345678"); err == nil {
		t.Error("the UPN of a user in the deleted items was given again")
	}

	o := g.get(t, tok, "/directory/deletedItems/"+alex.OID).ok(t)
	if o["id"] != alex.OID || o["@odata.type"] != "#microsoft.graph.user" || !graphTimeRE.MatchString(str(o["deletedDateTime"])) {
		t.Errorf("deleted item = %v", o)
	}
	deleted, _ := g.listAll(t, tok, "/directory/deletedItems/microsoft.graph.user")
	sameIDs(t, "deleted users", deleted, []string{alex.OID, joni.OID})

	got, _, _ := g.deltaRound(t, tok, usersLink, 100)
	sameIDs(t, "users delta after soft deletion", got, []string{alex.OID, joni.OID})
	for _, o := range got {
		if removedReason(o) != "changed" || len(o) != 2 {
			t.Errorf("soft-deleted user in delta = %v, want only id and @removed changed", o)
		}
	}
	// The deltaLink of a round that selected members carries on with them.
	groups, _, _ := g.deltaRound(t, tok, groupsLink, 100)
	var removed []string
	for _, o := range groups {
		for _, m := range memberDeltas(t, o) {
			if removedReason(m) != "deleted" {
				t.Errorf("group %v: members@delta entry %v", o["displayName"], m)
			}
			removed = append(removed, str(o["id"])+" "+str(m["id"]))
		}
	}
	if slices.Sort(removed); !slices.Equal(removed, memberships) {
		t.Errorf("members@delta removals %q, want %q", removed, memberships)
	}
}

// TestGraphPermanentDelete: a soft-deleted user is deleted for good by
// DELETE /directory/deletedItems/{id}
// (https://learn.microsoft.com/graph/api/directory-deleteditems-delete),
// by PermanentlyDeleteUser, or 30 days after its deletion; only then does
// users delta report {"@removed":{"reason":"deleted"}}, and its UPN is free.
func TestGraphPermanentDelete(t *testing.T) {
	srv, g, tok := startGraph(t, 0)
	writer := userWriterToken(t, srv)
	alex, joni, nestor := persona(t, srv, "AlexW"), persona(t, srv, "JoniS"), persona(t, srv, "NestorW")
	for _, p := range []devtenant.Persona{alex, joni, nestor} {
		if err := srv.DeleteUser(p.OID); err != nil {
			t.Fatal(err)
		}
	}
	_, usersLink, _ := g.deltaRound(t, tok, "/users/delta?$select=id", 100)

	purge := func(token, id string) graphResp {
		return g.do(t, gReq{method: http.MethodDelete, target: "/directory/deletedItems/" + id, token: token, raw: true})
	}
	purge(tok, alex.OID).wantError(t, http.StatusForbidden, "Authorization_RequestDenied", forbiddenMsg) // User.Read.All
	purge(writer, alex.OID).wantStatus(t, http.StatusNoContent)
	purge(writer, alex.OID).wantError(t, http.StatusNotFound, "Request_ResourceNotFound", "")
	purge(writer, persona(t, srv, "AdeleV").OID).wantError(t, http.StatusNotFound, "Request_ResourceNotFound", "") // not deleted
	if err := srv.PermanentlyDeleteUser(joni.OID); err != nil {
		t.Fatal(err)
	}
	if err := srv.PermanentlyDeleteUser(joni.OID); err == nil {
		t.Error("a second permanent deletion succeeded")
	}
	g.get(t, tok, "/directory/deletedItems/"+alex.OID).wantError(t, http.StatusNotFound, "Request_ResourceNotFound", "")
	got, usersLink, _ := g.deltaRound(t, tok, usersLink, 100)
	sameIDs(t, "users delta after permanent deletion", got, []string{alex.OID, joni.OID})
	for _, o := range got {
		if removedReason(o) != "deleted" {
			t.Errorf("permanently deleted user in delta = %v", o)
		}
	}

	// Nestor waits 30 days by the tenant's clock.
	srv.AdvanceClock(directoryRetention - time.Minute)
	if n := len(srv.DeletedUsers()); n != 1 {
		t.Fatalf("%d users in the deleted items after 30 days less a minute, want 1", n)
	}
	srv.AdvanceClock(2 * time.Minute)
	tok = graphAppToken(t, srv, daemonAppID, graphDefault) // the old one expired
	got, _, _ = g.deltaRound(t, tok, usersLink, 100)
	if len(got) != 1 || got[0]["id"] != nestor.OID || removedReason(got[0]) != "deleted" {
		t.Errorf("round after 30 days = %v, want Nestor deleted", got)
	}
	if n := len(srv.DeletedUsers()); n != 0 {
		t.Errorf("%d users left in the deleted items", n)
	}
	if _, err := srv.AddUser(devtenant.User{UserPrincipalName: nestor.Username, DisplayName: "Nestor Again", AccountEnabled: true}, "Xx-12345678"); err != nil {
		t.Errorf("the UPN of a permanently deleted user: %v", err)
	}
}

// userWriterToken is a daemon app token with User.ReadWrite.All granted.
func userWriterToken(t *testing.T, srv *devtenant.Server) string {
	t.Helper()
	if err := srv.GrantAppRole(daemonAppID, devtenant.GraphAppID, "User.ReadWrite.All"); err != nil {
		t.Fatal(err)
	}
	return graphAppToken(t, srv, daemonAppID, graphDefault)
}

// membershipsOf lists "group member" for each group the users are in, sorted.
func membershipsOf(srv *devtenant.Server, users ...string) []string {
	var out []string
	for _, grp := range srv.Groups() {
		for _, m := range grp.Members {
			if slices.Contains(users, m) {
				out = append(out, grp.ID+" "+m)
			}
		}
	}
	slices.Sort(out)
	return out
}

// directoryRetention is how long the deleted items keep a user.
const directoryRetention = 30 * 24 * time.Hour

var graphTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// wantStatus checks a success status without a body to decode.
func (r graphResp) wantStatus(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d: %.300s", r.target, r.status, status, r.body)
	}
}

// memberDeltas is a group's members@delta (nil when absent).
func memberDeltas(t *testing.T, o map[string]any) []map[string]any {
	t.Helper()
	arr, _ := o["members@delta"].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, m := range arr {
		mm, ok := m.(map[string]any)
		if !ok {
			t.Fatalf("members@delta holds %T", m)
		}
		out = append(out, mm)
	}
	return out
}

// TestGraphMembersDelta: members@delta lists every member in a first round
// and, later, only the members that joined ({"@odata.type","id"}) or left
// (with "@removed":{"reason":"deleted"}); a group without members, or
// without member changes, has none
// (https://learn.microsoft.com/graph/delta-query-groups). $deltatoken=latest
// answers no objects and a deltaLink for now
// (https://learn.microsoft.com/graph/delta-query-overview).
func TestGraphMembersDelta(t *testing.T) {
	srv, g, tok := startGraph(t, 0)
	group := map[string]devtenant.Group{}
	for _, grp := range srv.Groups() {
		group[grp.DisplayName] = grp
	}
	retail, eng := group["Retail"], group["Engineering"]
	adele, diego := persona(t, srv, "AdeleV"), persona(t, srv, "DiegoS")

	first, link, _ := g.deltaRound(t, tok, "/groups/delta", 100)
	for _, o := range first {
		got := memberDeltas(t, o)
		want := group[str(o["displayName"])].Members
		sameIDs(t, str(o["displayName"])+" first round", got, want)
		for _, m := range got {
			if m["@odata.type"] != "#microsoft.graph.user" || len(m) != 2 {
				t.Errorf("first-round member %v, want only @odata.type and id", m)
			}
		}
	}
	// $expand=members asks for members@delta as $select=members does.
	expanded, _, _ := g.deltaRound(t, tok, "/groups/delta?$select=id,displayName&$expand=members", 100)
	for _, o := range expanded {
		if len(memberDeltas(t, o)) != len(group[str(o["displayName"])].Members) {
			t.Errorf("$expand=members: group %v members@delta %v", o["displayName"], o["members@delta"])
		}
	}
	_, latest, pages := g.deltaRound(t, tok, "/groups/delta?$deltatoken=latest", 100)
	if pages != 1 {
		t.Errorf("$deltatoken=latest took %d pages", pages)
	}
	if page := g.get(t, tok, "/users/delta?$deltatoken=latest").ok(t); len(values(t, page)) != 0 || page["@odata.deltaLink"] == nil {
		t.Errorf("users $deltatoken=latest = %v", page)
	}

	rounds := []struct {
		name   string
		change func() error
		want   map[string][][2]string // group -> {member, "joined"|"left"}
	}{
		{"Diego joins Retail, Adele leaves it", func() error {
			return errors.Join(srv.AddGroupMember(retail.ID, diego.OID), srv.RemoveGroupMember(retail.ID, adele.OID))
		}, map[string][][2]string{retail.ID: {{diego.OID, "joined"}, {adele.OID, "left"}}}},
		{"Engineering joins Retail, Diego leaves and comes back", func() error {
			return errors.Join(srv.AddGroupMember(retail.ID, eng.ID), srv.RemoveGroupMember(retail.ID, diego.OID), srv.AddGroupMember(retail.ID, diego.OID))
		}, map[string][][2]string{retail.ID: {{eng.ID, "joined"}, {diego.OID, "joined"}}}},
		{"Retail emptied", func() error {
			var errs []error
			for _, m := range srv.Groups() {
				if m.ID == retail.ID {
					for _, id := range m.Members {
						errs = append(errs, srv.RemoveGroupMember(retail.ID, id))
					}
				}
			}
			return errors.Join(errs...)
		}, nil},
		{"nothing", func() error { return nil }, map[string][][2]string{}},
	}
	for i, rd := range rounds {
		if err := rd.change(); err != nil {
			t.Fatalf("%s: %v", rd.name, err)
		}
		got, next, _ := g.deltaRound(t, tok, link, 100)
		if i == 0 {
			// The latest deltaLink from before the change sees it too.
			fromLatest, _, _ := g.deltaRound(t, tok, latest, 100)
			sameIDs(t, "from $deltatoken=latest", fromLatest, ids(got))
		}
		link = next
		if rd.want == nil { // Retail emptied: its three members left
			if len(got) != 1 || len(memberDeltas(t, got[0])) != 3 {
				t.Errorf("%s: %v", rd.name, got)
			}
			for _, m := range memberDeltas(t, got[0]) {
				if removedReason(m) != "deleted" {
					t.Errorf("%s: member %v not removed", rd.name, m)
				}
			}
			continue
		}
		checkMemberChanges(t, rd.name, got, rd.want, eng.ID)
	}
	// A group without members carries no members@delta in a first round.
	again, _, _ := g.deltaRound(t, tok, "/groups/delta", 100)
	for _, o := range again {
		if _, has := o["members@delta"]; has && o["id"] == retail.ID {
			t.Errorf("empty group with members@delta %v", o["members@delta"])
		}
	}
}

// checkMemberChanges checks a groups delta round: exactly the groups of
// want, each with members@delta holding want's {member, "joined"|"left"}
// in order, with the member's @odata.type (group for groupID).
func checkMemberChanges(t *testing.T, round string, got []map[string]any, want map[string][][2]string, groupID string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: groups %v, want %d", round, ids(got), len(want))
	}
	for _, o := range got {
		var changes [][2]string
		for _, m := range memberDeltas(t, o) {
			state, wantType := "joined", "#microsoft.graph.user"
			if removedReason(m) == "deleted" {
				state = "left"
			}
			if m["id"] == groupID {
				wantType = "#microsoft.graph.group"
			}
			if m["@odata.type"] != wantType {
				t.Errorf("%s: member %v, want @odata.type %s", round, m, wantType)
			}
			changes = append(changes, [2]string{str(m["id"]), state})
		}
		if !slices.Equal(changes, want[str(o["id"])]) {
			t.Errorf("%s: group %v members@delta %v, want %v", round, o["displayName"], changes, want[str(o["id"])])
		}
	}
}

// batchOf posts requests as one $batch and returns the answer.
func (g graphAPI) batchOf(t *testing.T, token string, requests ...string) graphResp {
	t.Helper()
	return g.do(t, gReq{method: http.MethodPost, target: "/$batch", token: token, body: []byte(`{"requests":[` + strings.Join(requests, ",") + `]}`)})
}

// batchResponses decodes a 200 $batch answer by request id.
func batchResponses(t *testing.T, r graphResp) map[string]batchResp {
	t.Helper()
	var out struct {
		Responses []batchResp `json:"responses"`
	}
	if r.status != http.StatusOK {
		t.Fatalf("$batch: status %d: %.500s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]batchResp{}
	for _, br := range out.Responses {
		m[br.ID] = br
	}
	return m
}

// TestGraphBatchThrottling: each request of a $batch counts against the
// app's budget on its own; a throttled one answers 429 with its Retry-After
// inside a 200 batch, the others run
// (https://learn.microsoft.com/graph/throttling#throttling-and-batching).
func TestGraphBatchThrottling(t *testing.T) {
	srv := startTenant(t, func(o *devtenant.Options) {
		o.GraphBudget = 6
		o.GraphBudgetWindow = time.Hour
	})
	g := newGraphAPI(srv)
	tok := graphAppToken(t, srv, daemonAppID, graphDefault)
	g.get(t, tok, "/organization").ok(t) // 1 of 6
	req := func(id int) string { return fmt.Sprintf(`{"id":"%d","method":"GET","url":"/organization"}`, id) }

	// Five requests: the budget's last five; the batch itself is not counted.
	m := batchResponses(t, g.batchOf(t, tok, req(1), req(2), req(3), req(4), req(5)))
	for id := 1; id <= 5; id++ {
		if r := m[strconv.Itoa(id)]; r.Status != http.StatusOK {
			t.Errorf("request %d of the first batch: %d %s", id, r.Status, r.Body)
		}
	}
	// Three more: each throttled, with its own Retry-After and Graph's error.
	m = batchResponses(t, g.batchOf(t, tok, req(6), req(7), req(8)))
	for id := 6; id <= 8; id++ {
		r := m[strconv.Itoa(id)]
		ra, err := strconv.Atoi(r.Headers["Retry-After"])
		if r.Status != http.StatusTooManyRequests || err != nil || ra < 3500 || ra > 3600 {
			t.Errorf("request %d: status %d, Retry-After %q", id, r.Status, r.Headers["Retry-After"])
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(r.Body, &e) != nil || e.Error.Code != "TooManyRequests" || e.Error.Message == "" {
			t.Errorf("request %d: body %s", id, r.Body)
		}
	}
	g.get(t, tok, "/organization").wantError(t, http.StatusTooManyRequests, "TooManyRequests", "")
}

// TestGraphBatchContentType: a write request (POST, PUT, PATCH) in a
// $batch needs a body and a Content-Type header for it (any case), else
// Graph refuses the whole batch with 400 and runs none of it
// (https://learn.microsoft.com/graph/json-batching; the messages as
// captured in Softeria/ms-365-mcp-server#677 and
// microsoftgraph/msgraph-sdk-dotnet#2628).
func TestGraphBatchContentType(t *testing.T) {
	srv := startTenant(t)
	if err := srv.GrantAppRole(daemonAppID, devtenant.GraphAppID, "User.ReadWrite.All"); err != nil {
		t.Fatal(err)
	}
	g := newGraphAPI(srv)
	tok := graphAppToken(t, srv, daemonAppID, graphDefault)
	adele := persona(t, srv, "AdeleV")
	patch := func(id, title, headers string) string {
		return `{"id":"` + id + `","method":"PATCH","url":"/users/` + adele.OID + `",` + headers + `"body":{"jobTitle":"` + title + `"}}`
	}
	tests := []struct {
		name     string
		requests []string
		msg      string // the batch's 400 message; "" for a 200 batch
	}{
		{"lower-case content-type", []string{patch("1", "Head of Retail", `"headers":{"content-type":"application/json"},`)}, ""},
		{"GET needs no headers", []string{`{"id":"1","method":"GET","url":"/organization"}`}, ""},
		{"PATCH without Content-Type", []string{patch("1", "Lost", "")},
			"Write request with id '1' does not contain a Content-Type header."},
		{"POST without Content-Type, after a good PATCH", []string{patch("a", "Lost too", `"headers":{"Content-Type":"application/json"},`),
			`{"id":"b","method":"POST","url":"/users/` + adele.OID + `/getMemberObjects","body":{"securityEnabledOnly":true}}`},
			"Write request with id 'b' does not contain a Content-Type header."},
		{"POST without a body", []string{`{"id":"7","method":"POST","url":"/users/` + adele.OID + `/getMemberObjects","headers":{"Content-Type":"application/json"}}`},
			"Write request id : 7 does not contain Content-Type header or body."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := g.batchOf(t, tok, tc.requests...)
			if tc.msg != "" {
				r.wantError(t, http.StatusBadRequest, "BadRequest", tc.msg)
				return
			}
			for id, br := range batchResponses(t, r) {
				if br.Status >= 300 {
					t.Errorf("request %s: %d %s", id, br.Status, br.Body)
				}
			}
		})
	}
	// None of the refused batches ran: the title is the good one's.
	if u := userByID(srv, adele.OID); u.JobTitle != "Head of Retail" {
		t.Errorf("jobTitle = %q: a refused batch ran", u.JobTitle)
	}
}

func userByID(srv *devtenant.Server, id string) devtenant.User {
	for _, u := range srv.Users() {
		if u.ID == id {
			return u
		}
	}
	return devtenant.User{}
}

// relationsTenant is a tenant for the relationship tests: its users and
// groups as they started, a user nested (in Engineering, itself in
// Retail), and tokens: the daemon app's (User.Read.All,
// GroupMember.Read.All), the web app's (no Graph role) and Adele's
// (delegated User.Read).
type relationsTenant struct {
	srv                 *devtenant.Server
	g                   graphAPI
	app, web, self      string
	users               map[string]devtenant.User
	reports             map[string][]string // manager -> direct reports
	adele, patti        devtenant.Persona
	nested              devtenant.User
	engineering, retail devtenant.Group
}

func startRelations(t *testing.T) relationsTenant {
	t.Helper()
	srv, g, app := startGraph(t, 0)
	rt := relationsTenant{srv: srv, g: g, app: app, users: map[string]devtenant.User{}, reports: map[string][]string{},
		adele: persona(t, srv, "AdeleV"), patti: persona(t, srv, "PattiF")}
	for _, u := range srv.Users() {
		rt.users[u.ID] = u
		if u.ManagerID != "" {
			rt.reports[u.ManagerID] = append(rt.reports[u.ManagerID], u.ID)
		}
	}
	for _, grp := range srv.Groups() {
		switch grp.DisplayName {
		case "Engineering":
			rt.engineering = grp
		case "Retail":
			rt.retail = grp
		}
	}
	var err error
	rt.nested, err = srv.AddUser(devtenant.User{UserPrincipalName: "nested@" + srv.Domain(), DisplayName: "Nested User", AccountEnabled: true}, "Nested-Passw0rd!")
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(srv.AddGroupMember(rt.engineering.ID, rt.nested.ID), srv.AddGroupMember(rt.retail.ID, rt.engineering.ID)); err != nil {
		t.Fatal(err)
	}
	rt.self, _ = graphUserToken(t, srv, "AdeleV")
	rt.web = graphAppToken(t, srv, webAppID, graphDefault)
	return rt
}

// TestGraphManager: /users/{id}/manager is the manager as a directoryObject,
// 404 Request_ResourceNotFound without one; $expand=manager embeds it (every
// property, or its own $select), on one user and on a list
// (https://learn.microsoft.com/graph/api/user-list-manager).
func TestGraphManager(t *testing.T) {
	rt := startRelations(t)
	g, app := rt.g, rt.app
	manager := rt.users[rt.adele.OID].ManagerID

	o := g.get(t, app, "/users/"+rt.adele.OID+"/manager").ok(t)
	if o["id"] != manager || o["@odata.type"] != "#microsoft.graph.user" || o["@odata.context"] != graphMetadata+"directoryObjects/$entity" {
		t.Errorf("manager = %v", o)
	}
	if k := keys(o); !slices.Equal(k, defaultUserKeys("@odata.context", "@odata.type")) {
		t.Errorf("manager properties %v", k)
	}
	g.get(t, app, "/users/"+rt.patti.OID+"/manager").wantError(t, http.StatusNotFound, "Request_ResourceNotFound",
		"Resource 'manager' does not exist or one of its queried reference-property objects are not present.")
	g.get(t, app, "/users/"+unknownID+"/manager").wantError(t, http.StatusNotFound, "Request_ResourceNotFound", "")

	o = g.get(t, app, "/users/"+rt.adele.OID+"?$expand=manager").ok(t)
	if m, _ := o["manager"].(map[string]any); m["id"] != manager || m["@odata.type"] != "#microsoft.graph.user" || m["accountEnabled"] != true {
		t.Errorf("expanded manager = %v", m)
	}
	o = g.get(t, app, "/users/"+rt.adele.OID+"?$select=id&$expand="+odataQuery("manager($select=id,displayName)")).ok(t)
	m, _ := o["manager"].(map[string]any)
	if !slices.Equal(keys(m), []string{"@odata.type", "displayName", "id"}) || !slices.Equal(keys(o), []string{"@odata.context", "id", "manager"}) {
		t.Errorf("$select inside $expand: %v", o)
	}
	if _, has := g.get(t, app, "/users/"+rt.patti.OID+"?$expand=manager").ok(t)["manager"]; has {
		t.Error("a user without a manager has one expanded")
	}
	all, _ := g.listAll(t, app, "/users?$select=id&$expand=manager&$top=999")
	for _, u := range all {
		m, _ := u["manager"].(map[string]any)
		if want := rt.users[str(u["id"])].ManagerID; str(m["id"]) != want {
			t.Errorf("user %v: expanded manager %v, want %q", u["id"], m["id"], want)
		}
	}
	g.get(t, app, "/users/"+rt.adele.OID+"?$expand=directReports").wantError(t, http.StatusBadRequest, "Request_BadRequest", "")
	g.get(t, app, "/users/"+rt.adele.OID+"?$expand="+odataQuery("manager($levels=max)")).wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", "")
	// Only /users and /users/{id} expand here: elsewhere it is refused, not ignored.
	for _, path := range []string{"/users/" + rt.patti.OID + "/directReports", "/groups/" + rt.retail.ID + "/members", "/users/" + rt.adele.OID + "/manager"} {
		g.get(t, app, path+"?$expand=manager").wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", "")
	}
}

// TestGraphUserMemberships: /directReports, /memberOf, /transitiveMemberOf
// and getMemberObjects (transitive, for users, /me and groups), and
// /members with the default user properties:
// https://learn.microsoft.com/graph/api/user-list-directreports,
// https://learn.microsoft.com/graph/api/user-list-transitivememberof,
// https://learn.microsoft.com/graph/api/directoryobject-getmemberobjects,
// https://learn.microsoft.com/graph/api/group-list-members.
func TestGraphUserMemberships(t *testing.T) {
	rt := startRelations(t)
	g, app, eng, retail := rt.g, rt.app, rt.engineering, rt.retail

	reports, _ := g.listAll(t, app, "/users/"+rt.patti.OID+"/directReports")
	sameIDs(t, "Patti's reports", reports, rt.reports[rt.patti.OID])
	for _, o := range reports {
		if k := keys(o); o["@odata.type"] != "#microsoft.graph.user" || !slices.Equal(k, defaultUserKeys("@odata.type")) {
			t.Errorf("report %v", o)
		}
	}
	direct, _ := g.listAll(t, app, "/users/"+rt.nested.ID+"/memberOf")
	sameIDs(t, "memberOf", direct, []string{eng.ID})
	all, _ := g.listAll(t, app, "/users/"+rt.nested.ID+"/transitiveMemberOf")
	sameIDs(t, "transitiveMemberOf", all, []string{eng.ID, retail.ID})
	for _, o := range all {
		if o["@odata.type"] != "#microsoft.graph.group" {
			t.Errorf("transitiveMemberOf entry %v", o)
		}
	}

	for _, tc := range []struct {
		token, path string
		want        []string
	}{
		{app, "/users/" + rt.nested.ID, []string{eng.ID, retail.ID}},
		{app, "/groups/" + eng.ID, []string{retail.ID}},
		{rt.self, "/me", rt.users[rt.adele.OID].Groups},
	} {
		for _, sec := range []string{"true", "false"} {
			o := g.do(t, gReq{method: http.MethodPost, target: tc.path + "/getMemberObjects", token: tc.token, body: []byte(`{"securityEnabledOnly":` + sec + `}`)}).ok(t)
			var got []string
			for _, v := range o["value"].([]any) {
				got = append(got, v.(string))
			}
			if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want))) || o["@odata.context"] != graphMetadata+"Collection(Edm.String)" {
				t.Errorf("%s getMemberObjects(%s) = %v, want %v", tc.path, sec, o, tc.want)
			}
		}
	}
	g.do(t, gReq{method: http.MethodPost, target: "/users/" + rt.nested.ID + "/getMemberObjects", token: app, body: []byte(`{}`)}).
		wantError(t, http.StatusBadRequest, "Request_BadRequest", "")

	members, _ := g.listAll(t, app, "/groups/"+retail.ID+"/members")
	for _, o := range members {
		if o["@odata.type"] == "#microsoft.graph.user" && !slices.Equal(keys(o), defaultUserKeys("@odata.type")) {
			t.Errorf("member properties %v, want /users' defaults", keys(o))
		}
	}
}

// TestGraphRelationPermissions: each relationship asks for the permissions
// Graph documents (see TestGraphManager and TestGraphUserMemberships):
// manager wants User.Read.All (User.Read is not enough, even for /me);
// directReports, transitiveMemberOf and getMemberObjects let a user with
// User.Read read their own; an app needs User.Read.All (groups:
// GroupMember.Read.All); /me needs a user.
func TestGraphRelationPermissions(t *testing.T) {
	rt := startRelations(t)
	other := "/users/" + rt.patti.OID
	for _, tc := range []struct {
		name, token, method, path string
		status                    int
	}{
		{"app: manager", rt.app, "GET", other + "/manager", 404},
		{"app without roles: manager", rt.web, "GET", "/users/" + rt.adele.OID + "/manager", 403},
		{"app without roles: directReports", rt.web, "GET", other + "/directReports", 403},
		{"app without roles: transitiveMemberOf", rt.web, "GET", other + "/transitiveMemberOf", 403},
		{"app without roles: getMemberObjects", rt.web, "POST", other + "/getMemberObjects", 403},
		{"app without roles: group getMemberObjects", rt.web, "POST", "/groups/" + rt.engineering.ID + "/getMemberObjects", 403},
		{"app without roles: $expand=manager", rt.web, "GET", "/users/" + rt.adele.OID + "?$expand=manager", 403},
		{"app: /me/manager", rt.app, "GET", "/me/manager", 400},
		{"User.Read: /me/manager", rt.self, "GET", "/me/manager", 403},
		{"User.Read: /me?$expand=manager", rt.self, "GET", "/me?$expand=manager", 403},
		{"User.Read: /me/directReports", rt.self, "GET", "/me/directReports", 200},
		{"User.Read: /me/transitiveMemberOf", rt.self, "GET", "/me/transitiveMemberOf", 200},
		{"User.Read: /me/getMemberObjects", rt.self, "POST", "/me/getMemberObjects", 200},
		{"User.Read: another's directReports", rt.self, "GET", other + "/directReports", 403},
		{"User.Read: another's transitiveMemberOf", rt.self, "GET", other + "/transitiveMemberOf", 403},
		{"User.Read: another's getMemberObjects", rt.self, "POST", other + "/getMemberObjects", 403},
		{"User.Read: a group's getMemberObjects", rt.self, "POST", "/groups/" + rt.engineering.ID + "/getMemberObjects", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := gReq{method: tc.method, target: tc.path, token: tc.token}
			if tc.method == "POST" {
				req.body = []byte(`{"securityEnabledOnly":false}`)
			}
			r := rt.g.do(t, req)
			switch {
			case tc.status == 403:
				r.wantError(t, 403, "Authorization_RequestDenied", forbiddenMsg)
			case r.status != tc.status:
				t.Errorf("status %d, want %d: %.300s", r.status, tc.status, r.body)
			}
		})
	}
}

// defaultUserKeys is Graph's default user properties plus extra, sorted.
func defaultUserKeys(extra ...string) []string {
	return slices.Sorted(slices.Values(append([]string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
		"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}, extra...)))
}

// TestGraphCAEDeletedUser: deleting an account is one of CAE's critical
// events, as disabling it is
// (https://learn.microsoft.com/entra/identity/conditional-access/concept-continuous-access-evaluation):
// a CAE-capable token of a soft-deleted user is challenged at once.
func TestGraphCAEDeletedUser(t *testing.T) {
	srv := startTenant(t)
	g := newGraphAPI(srv)
	diego := persona(t, srv, "DiegoS")
	tok, _ := graphUserToken(t, srv, "DiegoS", "cp1")
	g.get(t, tok, "/me").ok(t)
	if err := srv.DeleteUser(diego.OID); err != nil {
		t.Fatal(err)
	}
	r := g.get(t, tok, "/me")
	r.wantError(t, http.StatusUnauthorized, "InvalidAuthenticationToken", "")
	checkClaimsChallenge(t, r.header.Get("WWW-Authenticate"), claimsOf(t, tok))
}
