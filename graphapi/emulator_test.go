package graphapi_test

// graphapi through kiota and msgraph-sdk-go's models against the dev
// tenant's Graph emulator, with tokens from the dev tenant (azidentity app-only, MSAL
// interactive for delegated).

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	msauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/graphapi"
)

// TestAllowedHostsTrap shows the SDK's default host list sending the dev
// tenant's Graph no Authorization header (and failing only at the server),
// and graphapi's client sending one.
func TestAllowedHostsTrap(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	cred := daemonCredential(t, srv)
	const adele = "AdeleV"
	p, _ := srv.Persona(adele)

	t.Run("SDK default hosts: no header, no client error", func(t *testing.T) {
		rec := &recorder{next: tenantClient(srv).Transport}
		// What NewGraphServiceClientWithCredentials builds (its
		// authentication provider with the default hosts, msgraph-sdk-go-core's
		// adapter and middleware), on a transport that trusts the dev
		// tenant's CA, and the request of Users().ByUserId(id).Get.
		auth, err := msauth.NewAzureIdentityAuthenticationProviderWithScopes(cred, []string{graphDefault})
		if err != nil {
			t.Fatal(err)
		}
		var opts msgraphcore.GraphClientOptions
		hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(rec, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...)}
		parse := absser.NewParseNodeFactoryRegistry()
		parse.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonParseNodeFactory()
		adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, opts, parse, nil, hc)
		if err != nil {
			t.Fatal(err)
		}
		adapter.SetBaseUrl(srv.GraphURL() + "/v1.0")
		req := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.GET,
			"{+baseurl}/users/{user%2Did}{?%24expand,%24select}", map[string]string{"user%2Did": p.OID})
		req.Headers.TryAdd("Accept", "application/json")
		_, err = adapter.Send(t.Context(), req, models.CreateUserFromDiscriminatorValue,
			abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
		hdrs, _ := rec.seen()
		if len(hdrs) != 1 || hdrs[0].Get("Authorization") != "" {
			t.Fatalf("requests %v: want one without Authorization", hdrs)
		}
		c, _ := graphapi.New(cred, devOptions(srv))
		var ge *graphapi.Error
		if !errors.As(c.MapError(err), &ge) || ge.Status != 401 || ge.Code != "InvalidAuthenticationToken" {
			t.Errorf("err = %v; want the emulator's 401 for a missing token", err)
		}
	})

	t.Run("graphapi: header sent to the emulator host", func(t *testing.T) {
		rec := &recorder{next: tenantClient(srv).Transport}
		c := appClient(t, srv, func(o *graphapi.Options) { o.HTTPClient = &http.Client{Transport: rec} })
		u, err := c.User(t.Context(), p.OID)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.UserPrincipalName; got != p.Username {
			t.Errorf("upn = %q", got)
		}
		hdrs, urls := rec.seen()
		if len(hdrs) != 1 || !strings.HasPrefix(hdrs[0].Get("Authorization"), "Bearer ey") {
			t.Fatalf("requests %v: want one with a bearer token", hdrs)
		}
		if want := srv.GraphURL() + "/v1.0/users/" + p.OID; urls[0] != want {
			t.Errorf("url = %s, want %s", urls[0], want)
		}
		ua := hdrs[0].Get("User-Agent")
		if !strings.HasPrefix(ua, graphapi.DefaultUserAgent+" ") || !strings.Contains(ua, "kiota-go/") {
			t.Errorf("User-Agent = %q", ua)
		}
		if !strings.Contains(hdrs[0].Get("SdkVersion"), "graph-go/1.89.0") || hdrs[0].Get("client-request-id") == "" {
			t.Errorf("telemetry headers = %v", hdrs[0])
		}
	})
}

func TestMeAndPhoto(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	adele, _ := srv.Persona("AdeleV")
	c := userClient(t, srv, "AdeleV")
	ctx := t.Context()

	me, err := c.Me(ctx, "id", "displayName", "mail")
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != adele.OID || me.DisplayName != "Adele Vance" || me.Mail == "" {
		t.Errorf("me = %+v", me)
	}
	if me.JobTitle != "" {
		t.Errorf("jobTitle %q returned though not selected", me.JobTitle)
	}
	full, err := c.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if full.JobTitle != "Retail Manager" {
		t.Errorf("default properties: jobTitle = %q", full.JobTitle)
	}

	data, ct, err := c.Photo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if ct != "image/png" || !strings.HasPrefix(string(data), "\x89PNG") {
		t.Errorf("photo: %d bytes of %q", len(data), ct)
	}

	// User.Read does not reach other users: 403 mapped.
	for _, err := range c.Users(ctx, graphapi.ListOptions{}) {
		var ge *graphapi.Error
		if !errors.Is(err, graphapi.ErrForbidden) || !errors.As(err, &ge) || ge.Code != "Authorization_RequestDenied" || ge.RequestID == "" {
			t.Errorf("users with User.Read: err = %v", err)
		}
		break
	}
}

func TestPhotoNotFound(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	c := appClient(t, srv)
	var without, with devtenant.Persona
	for _, u := range srv.Users() {
		p, ok := srv.Persona(strings.Split(u.UserPrincipalName, "@")[0])
		if !ok {
			continue
		}
		if u.Photo == nil && without.OID == "" {
			without = p
		}
		if u.Photo != nil && with.OID == "" {
			with = p
		}
	}
	if without.OID == "" || with.OID == "" {
		t.Fatal("the directory has no persona without (or with) a photo")
	}
	if _, _, err := c.Photo(t.Context(), with.Username); err != nil {
		t.Errorf("photo by UPN: %v", err)
	}
	_, _, err := c.Photo(t.Context(), without.OID)
	var ge *graphapi.Error
	if !errors.Is(err, graphapi.ErrNotFound) || !errors.As(err, &ge) || ge.Code == "" || ge.Message == "" {
		t.Errorf("photo of %s: err = %v", without.Username, err)
	}
	_, err = c.User(t.Context(), "00000000-0000-0000-0000-000000000001")
	if !errors.Is(err, graphapi.ErrNotFound) {
		t.Errorf("unknown user: err = %v", err)
	}
}

func TestUsersPaging(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("generates 10,000 users")
	}
	srv := startTenant(t)
	const n = 10_000
	if err := srv.GenerateDirectory(n); err != nil {
		t.Fatal(err)
	}
	want := len(srv.Users())
	rec := &recorder{next: tenantClient(srv).Transport}
	c := appClient(t, srv, func(o *graphapi.Options) { o.HTTPClient = &http.Client{Transport: rec} })
	ctx := t.Context()

	seen := make(map[string]bool, want)
	for u, err := range c.Users(ctx, graphapi.ListOptions{Select: []string{"id", "displayName"}, Top: 999}) {
		if err != nil {
			t.Fatal(err)
		}
		id := deref(u.GetId())
		if seen[id] {
			t.Fatalf("user %s listed twice", id)
		}
		seen[id] = true
		if u.GetMail() != nil {
			t.Fatal("mail returned though not selected")
		}
	}
	if len(seen) != want {
		t.Errorf("listed %d users, the directory has %d", len(seen), want)
	}
	_, urls := rec.seen()
	if pages := (want + 998) / 999; len(urls) != pages+1 { // +1: the token request goes elsewhere
		t.Logf("requests: %d for %d pages", len(urls), pages)
	}

	t.Run("advanced query sends ConsistencyLevel on every page", func(t *testing.T) {
		rec := &recorder{next: tenantClient(srv).Transport}
		c := appClient(t, srv, func(o *graphapi.Options) { o.HTTPClient = &http.Client{Transport: rec} })
		var names []string
		for u, err := range c.Users(ctx, graphapi.ListOptions{
			Filter: "startswith(displayName,'Ada')", OrderBy: []string{"displayName"}, Select: []string{"id", "displayName"}, Top: 100,
		}) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, deref(u.GetDisplayName()))
		}
		if len(names) < 200 || !slices.IsSorted(names) {
			t.Errorf("%d names, sorted %v", len(names), slices.IsSorted(names))
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "Ada") {
				t.Fatalf("%q does not match the filter", n)
			}
		}
		hdrs, urls := rec.seen()
		graphReqs := 0
		for i, h := range hdrs {
			if !strings.HasPrefix(urls[i], srv.GraphURL()) {
				continue
			}
			graphReqs++
			if h.Get("ConsistencyLevel") != "eventual" {
				t.Errorf("request %s without ConsistencyLevel", urls[i])
			}
		}
		if graphReqs < 3 {
			t.Errorf("only %d Graph requests: paging not exercised", graphReqs)
		}
	})

	t.Run("breaking out stops paging", func(t *testing.T) {
		rec := &recorder{next: tenantClient(srv).Transport}
		c := appClient(t, srv, func(o *graphapi.Options) { o.HTTPClient = &http.Client{Transport: rec} })
		i := 0
		for _, err := range c.Users(ctx, graphapi.ListOptions{Top: 10}) {
			if err != nil {
				t.Fatal(err)
			}
			if i++; i == 15 {
				break
			}
		}
		_, urls := rec.seen()
		graphReqs := 0
		for _, u := range urls {
			if strings.HasPrefix(u, srv.GraphURL()) {
				graphReqs++
			}
		}
		if graphReqs != 2 {
			t.Errorf("%d Graph requests for 15 users at 10 a page, want 2", graphReqs)
		}
	})
}

func TestGroupMembers(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	c := appClient(t, srv)
	for _, g := range srv.Groups() {
		if len(g.Members) == 0 {
			continue
		}
		for _, transitive := range []bool{false, true} {
			var ids []string
			for m, err := range c.GroupMembers(t.Context(), g.ID, transitive) {
				if err != nil {
					t.Fatal(err)
				}
				if m.Type != "#microsoft.graph.user" {
					t.Errorf("member %s is a %q, want a user (@odata.type)", m.ID, m.Type)
				}
				ids = append(ids, m.ID)
			}
			if !transitive && !sameSet(ids, g.Members) {
				t.Errorf("group %s members = %v, want %v", g.DisplayName, ids, g.Members)
			}
			if transitive && len(ids) < len(g.Members) {
				t.Errorf("group %s: %d transitive members < %d direct", g.DisplayName, len(ids), len(g.Members))
			}
		}
	}
	for _, err := range c.GroupMembers(t.Context(), "00000000-0000-0000-0000-0000000000aa", false) {
		if !errors.Is(err, graphapi.ErrNotFound) {
			t.Errorf("members of an unknown group: err = %v", err)
		}
	}
}

func TestUsersDelta(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	c := appClient(t, srv)

	first, link := usersDeltaRound(t, c, "", "id", "displayName", "accountEnabled")
	if len(first) != len(srv.Users()) || link == "" {
		t.Fatalf("first round: %d changes for %d users, link %q", len(first), len(srv.Users()), link)
	}
	if u, _ := url.Parse(link); !strings.Contains(u.RawQuery, "deltatoken") {
		t.Errorf("delta link %q has no $deltatoken", link)
	}

	nothing, link2 := usersDeltaRound(t, c, link)
	if len(nothing) != 0 || link2 == "" {
		t.Errorf("no change: %d changes", len(nothing))
	}

	added, err := srv.AddUser(devtenant.User{UserPrincipalName: "newhire@" + strings.Split(srv.Users()[0].UserPrincipalName, "@")[1], DisplayName: "New Hire", AccountEnabled: true}, "P@ssw0rd-long-enough")
	if err != nil {
		t.Fatal(err)
	}
	adele, _ := srv.Persona("AdeleV")
	if err := srv.SetUserEnabled(adele.OID, false); err != nil {
		t.Fatal(err)
	}
	alex, _ := srv.Persona("AlexW")
	deleteUser(t, srv, alex.OID)

	changes, link3 := usersDeltaRound(t, c, link2)
	got := map[string]graphapi.DirectoryChange{}
	for _, ch := range changes {
		got[ch.ID] = ch
	}
	if len(changes) != 3 {
		t.Errorf("%d changes, want 3: %v", len(changes), got)
	}
	if ch, ok := got[added.ID]; !ok || ch.Removed || ch.Fields["displayName"].Text != "New Hire" {
		t.Errorf("added user: %+v", ch)
	}
	if ch, ok := got[adele.OID]; !ok || ch.Removed || ch.Fields["accountEnabled"] != (graphapi.FieldValue{Text: "false"}) {
		t.Errorf("disabled user: %+v", ch)
	}
	if ch, ok := got[alex.OID]; !ok || !ch.Removed || (ch.Reason != "changed" && ch.Reason != "deleted") {
		t.Errorf("deleted user: %+v", ch)
	}
	if link3 == "" || link3 == link2 {
		t.Errorf("next link %q", link3)
	}
}

// usersDeltaRound runs one users delta round from link ("" for a new one)
// and returns its changes and the delta link of the next round.
func usersDeltaRound(t *testing.T, c *graphapi.Client, link string, sel ...string) (changes []graphapi.DirectoryChange, deltaLink string) {
	t.Helper()
	err := c.UsersDeltaPages(t.Context(), link, sel, func(p graphapi.DeltaPage) error {
		changes = append(changes, p.Changes...)
		deltaLink = p.DeltaLink
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return changes, deltaLink
}

// deleteUser deletes a user through Graph as an administrator would: the
// daemon only reads, so entractl gets User.ReadWrite.All with admin consent.
func deleteUser(t *testing.T, srv *devtenant.Server, id string) {
	t.Helper()
	if err := srv.GrantConsent(cliAppID, devtenant.GraphAppID, "", "User.ReadWrite.All"); err != nil {
		t.Fatal(err)
	}
	tok := userToken(t, srv, "MeganB", []string{"User.ReadWrite.All"})
	admin, err := graphapi.New(staticToken(tok), devOptions(srv, "User.ReadWrite.All"))
	if err != nil {
		t.Fatal(err)
	}
	req := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.DELETE,
		"{+baseurl}/users/{user%2Did}", map[string]string{"user%2Did": id})
	req.Headers.TryAdd("Accept", "application/json")
	if _, err := admin.Send(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
}

func TestExpiringCredentials(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	tests := []struct {
		name   string
		now    time.Time
		within time.Duration
		want   []string // "<kind> <name>" of the application objects' credentials, soonest first (ties by object id)
	}{
		{"none soon", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 30 * 24 * time.Hour, nil},
		{"daemon secret within 30 days", time.Date(2027, 5, 1, 0, 0, 0, 0, time.UTC), 30 * 24 * time.Hour, []string{"password daemon secret"}},
		{"all past", time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC), 0, []string{"password daemon secret", "key CN=entrakit-daemon", "password webapp secret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := appClient(t, srv, func(o *graphapi.Options) { o.Now = func() time.Time { return tc.now } })
			got, err := c.ExpiringCredentials(t.Context(), tc.within)
			if err != nil {
				t.Fatal(err)
			}
			var apps []string
			for i, ec := range got {
				if i > 0 && ec.EndDateTime.Before(got[i-1].EndDateTime) {
					t.Errorf("not soonest first: %v before %v", got[i-1].EndDateTime, ec.EndDateTime)
				}
				if ec.EndDateTime.After(tc.now.Add(tc.within)) {
					t.Errorf("%+v is outside the window", ec)
				}
				if ec.Expired != !ec.EndDateTime.After(tc.now) {
					t.Errorf("%+v: Expired wrong", ec)
				}
				if ec.ObjectType == "application" {
					apps = append(apps, ec.Kind+" "+ec.Name)
				}
			}
			if !slices.Equal(apps, tc.want) {
				t.Errorf("application credentials = %q, want %q", apps, tc.want)
			}
		})
	}
	// Delegated User.Read cannot read applications.
	uc := userClient(t, srv, "AdeleV")
	if _, err := uc.ExpiringCredentials(t.Context(), time.Hour); !errors.Is(err, graphapi.ErrForbidden) {
		t.Errorf("with User.Read: err = %v", err)
	}
}

func TestThrottlingRetried(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	adele, _ := srv.Persona("AdeleV")
	c := appClient(t, srv)
	ctx := t.Context()
	// Warm the token so the faults hit Graph requests only.
	if _, err := c.User(ctx, adele.OID); err != nil {
		t.Fatal(err)
	}

	srv.InjectFault(devtenant.Fault{Endpoint: "graph", Status: 429, RetryAfter: time.Second, Count: 1})
	if _, err := c.User(ctx, adele.OID); err != nil {
		t.Fatalf("one 429 then success: %v", err)
	}

	srv.InjectFault(devtenant.Fault{Endpoint: "graph", Status: 429, RetryAfter: time.Second, Count: 2})
	noRetry := appClient(t, srv, func(o *graphapi.Options) { o.MaxRetries = -1 })
	_, err := noRetry.User(ctx, adele.OID)
	var te *graphapi.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != time.Second || te.Err.Code != "TooManyRequests" {
		t.Errorf("429 without retries: %v", err)
	}
	srv.ClearFaults()
}

func TestClaimsChallenge(t *testing.T) {
	t.Parallel()
	srv := startTenant(t)
	grady, _ := srv.Persona("GradyA")
	c := userClient(t, srv, "GradyA", "cp1")
	if _, err := c.Me(t.Context(), "id"); err != nil {
		t.Fatal(err)
	}
	if err := srv.RevokeUser(grady.OID); err != nil {
		t.Fatal(err)
	}
	_, err := c.Me(t.Context(), "id")
	var ce *graphapi.ClaimsChallengeError
	if !errors.As(err, &ce) || !strings.Contains(ce.Claims, `"nbf"`) || ce.Err.Status != 401 {
		t.Fatalf("after revocation: %v", err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
