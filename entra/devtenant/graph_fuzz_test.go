package devtenant_test

// Fuzz test of the Graph emulator's OData query parsing: arbitrary raw query
// strings against GET /v1.0/users and /v1.0/users/delta, in process through
// GraphHandler. The tenant and one app token are made once (never started:
// no listener to leak).

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
)

type graphFuzzBed struct {
	h     http.Handler
	auth  string // "Bearer " + a daemon token (User.Read.All)
	adele string
}

var graphFuzzOnce = sync.OnceValues(newGraphFuzzBed)

func newGraphFuzzBed() (*graphFuzzBed, error) {
	manifest := devtenanttest.Manifest()
	// A budget no fuzzing run exhausts: a 429 would hide the parser.
	srv, err := devtenant.New(devtenant.Options{Manifest: manifest, GraphBudget: 1 << 30})
	if err != nil {
		return nil, err
	}
	if err := srv.GenerateDirectory(300); err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {daemonAppID},
		"client_secret": {srv.ClientSecret(daemonAppID)}, "scope": {graphDefault}}
	req := httptest.NewRequest(http.MethodPost, "/"+srv.TenantID()+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		return nil, errors.New("no daemon token: " + rec.Body.String())
	}
	adele, _ := srv.Persona("AdeleV")
	return &graphFuzzBed{h: srv.GraphHandler(), auth: "Bearer " + tok.AccessToken, adele: adele.OID}, nil
}

// get serves GET path?rawQuery in process.
func (fb *graphFuzzBed) get(path, rawQuery string, eventual bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.URL.RawQuery = rawQuery // as is: no request line to survive
	req.RequestURI = ""
	req.Header.Set("Authorization", fb.auth)
	req.Header.Set("client-request-id", "fuzz-0000")
	if eventual {
		req.Header.Set("ConsistencyLevel", "eventual")
	}
	rec := httptest.NewRecorder()
	fb.h.ServeHTTP(rec, req)
	return rec
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func FuzzGraphQuery(f *testing.F) {
	fb, err := graphFuzzOnce()
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		// What msgraph-sdk-go sends (facts §5) and what entrakit uses.
		"$count=true&$filter=startswith%28displayName%2C%27A%27%29%20and%20accountEnabled%20eq%20true&$orderby=displayName&$select=id,displayName&$top=1",
		"",
		"$top=999",
		"%24top=5&%24select=id,mail",
		"$select=id,displayName,accountEnabled",
		"$filter=accountEnabled%20eq%20false",
		"$filter=id%20in%20('" + fb.adele + "','x')",
		"$filter=userPrincipalName%20eq%20'user000001@contoso.onmicrosoft.com'",
		"$filter=startswith(mail,'user00')&$top=10",
		"$filter=department%20eq%20'Sales'%20or%20(jobTitle%20eq%20'Manager'%20and%20not%20accountEnabled%20eq%20true)",
		"$filter=endswith(mail,'.com')&$count=true",
		"$search=%22displayName:Nora%22&$count=true",
		"$search=%22displayName:a%22%20AND%20%22mail:user%22",
		"$orderby=displayName%20desc&$top=3",
		"$orderby=userPrincipalName",
		"$skiptoken=" + b64("u:100:0"),
		"$skiptoken=" + b64("u.displayName:5:0") + "&$orderby=displayName",
		"$skiptoken=" + b64("u:99999999999:0"),
		"$skiptoken=" + b64("du:5:4611686018427387903:3"),
		"$deltatoken=" + b64("du:0:0:0"),
		"$deltatoken=" + b64("du:0:0:1") + "&$select=id",
		"$deltatoken=" + b64("du:0:5:3"),
		"$deltatoken=" + b64("du:-1:0:0"),
		"$deltatoken=latest",
		"$filter=id%20eq%20'" + fb.adele + "'",
		// Nasty ones.
		"%", "%zz", ";", "&&&", "=", "$", "$top", "$top=", "$top=-1", "$top=1e3", "$top=99999999999999999999",
		"$top=1&$top=2", "$TOP=1", "$SKIPTOKEN=" + b64("u:0:0"), "$select=,,,", "$select=id&$select=id", "$select=id,id",
		"$filter=", "$filter='", "$filter=''''", "$filter=displayName%20eq%20'x''", "$filter=((((((((((((((((((((((((((a",
		"$filter=" + strings.Repeat("not%20", 40) + "accountEnabled%20eq%20true",
		"$filter=" + strings.Repeat("displayName%20eq%20'a'%20or%20", 120) + "displayName%20eq%20'b'",
		"$filter=id%20in%20()", "$filter=id%20in%20('a',)", "$filter=id%20in%20('a'", "$filter=startswith(displayName,null)",
		"$filter=displayName%20eq%20null", "$filter=accountEnabled%20eq%20'true'", "$filter=displayName%20gt%20'A'",
		"$filter=displayName%20eq%20'%C3%A9'", "$filter=displayName%20eq%20'%00'", "$filter=%FF%FE",
		"$filter=manager/displayName%20eq%20'x'", "$filter=any(x:x%20eq%201)",
		"$search=%22", "$search=%22%22", "$search=displayName", "$search=%22:%22",
		"$orderby=", "$orderby=displayName%20sideways", "$orderby=displayName%20asc%20desc", "$orderby=jobTitle",
		"$count=maybe", "$count=TRUE", "$expand=manager", "$skip=1", "$format=json", "$apply=x", "$levels=max",
		"$skiptoken=", "$skiptoken=%00", "$skiptoken=" + b64("u:-5:0"), "$skiptoken=" + b64("g:0:0"),
		"$deltatoken=", "$deltatoken=" + b64("dg:0:0:0"), "$deltatoken=" + b64("du:0:18446744073709551615:1"),
		"foo=bar", "select=id", "$select=id#frag", "$select=id%0d%0aX-Evil:%201",
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, eventual bool) {
		for _, path := range []string{"/v1.0/users", "/v1.0/users/delta"} {
			rec := fb.get(path, raw, eventual)
			checkGraphFuzzAnswer(t, path+"?"+raw, rec)
			if rec.Code != http.StatusOK {
				continue
			}
			// The emulator's own links are always accepted, with the same
			// headers.
			var page map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &page)
			for _, k := range []string{"@odata.nextLink", "@odata.deltaLink"} {
				link, _ := page[k].(string)
				if link == "" {
					continue
				}
				u, err := url.Parse(link)
				if err != nil || u.Path != path {
					t.Fatalf("%s?%q: %s %q is not on %s", path, raw, k, link, path)
				}
				next := fb.get(u.Path, u.RawQuery, eventual)
				checkGraphFuzzAnswer(t, link, next)
				if next.Code != http.StatusOK {
					t.Errorf("%s?%q: following its %s %q: %d %s", path, raw, k, link, next.Code, next.Body)
				}
			}
		}
	})
}

// checkGraphFuzzAnswer: below 500, Graph's headers, a 400 in Graph's error
// shape, a 200 an OData collection.
func checkGraphFuzzAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%q: status %d: %s", what, rec.Code, rec.Body)
	}
	h := rec.Header()
	if ct := h.Get("Content-Type"); ct != graphJSONType {
		t.Errorf("%q: Content-Type %q", what, ct)
	}
	if h.Get("OData-Version") != "4.0" || h.Get("request-id") == "" || h.Get("client-request-id") != "fuzz-0000" {
		t.Errorf("%q: headers %v", what, h)
	}
	switch {
	case rec.Code == http.StatusOK:
		var page struct {
			Context string            `json:"@odata.context"`
			Value   []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || page.Value == nil ||
			!strings.HasPrefix(page.Context, graphMetadata+"users") {
			t.Errorf("%q: 200 with %v: %.300s", what, err, rec.Body)
		}
	case rec.Code >= 400:
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 200 or 400", what, rec.Code)
		}
		if err := graphErrorShape(h, rec.Body.Bytes()); err != nil {
			t.Errorf("%q: %v: %.300s", what, err, rec.Body)
		}
	default:
		t.Errorf("%q: status %d", what, rec.Code)
	}
}
