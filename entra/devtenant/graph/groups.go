package graph

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

var groupShape = shape("group", 100, 999,
	[]string{"id", "displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes", "createdDateTime"},
	[]string{"id", "displayName", "mail", "mailEnabled", "mailNickname", "securityEnabled"},
	[]string{"displayName"})

var groupDefaultProps = []string{"id", "displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes", "createdDateTime"}

var readGroups = permission{
	delegated:   []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"},
	application: []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"},
}

func groupObject(tx directory.Tx, g *directory.Group) map[string]any {
	nick := strings.ReplaceAll(g.DisplayName, " ", "")
	o := map[string]any{"id": g.ID, "displayName": g.DisplayName, "description": nilIfEmpty(g.Description), "mail": nil,
		"mailEnabled": false, "mailNickname": nick, "securityEnabled": true, "groupTypes": []string{}}
	if t, ok := tx.Created(g.ID); ok {
		o["createdDateTime"] = t.UTC().Format(time.RFC3339)
	}
	return o
}

func (s *Server) graphListGroups(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	q, start, ok := pagedQuery(w, r, groupShape, "g")
	if !ok {
		return
	}
	tx := dirOf(r).Lock()
	var objs []map[string]any
	for _, id := range tx.GroupOrder() {
		if g := tx.Group(id); g != nil {
			objs = append(objs, groupObject(tx, g))
		}
	}
	base := s.baseURL()
	tx.Unlock()
	s.writePage(w, r, q, objs, start, "g", "groups", fixed(groupDefaultProps), base)
}

// fixed is a default property set for every object of a collection.
func fixed(props []string) func(map[string]any) []string {
	return func(map[string]any) []string { return props }
}

// writePage pages a small collection already in memory (groups, members,
// applications): filter, search, order, count, $top and an opaque nextLink;
// defaults gives each object's default properties.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, q *odataQuery, objs []map[string]any, start int, kind, set string,
	defaults func(map[string]any) []string, base string) {
	var matched []map[string]any
	for _, o := range objs {
		if q.matches(o) {
			matched = append(matched, o)
		}
	}
	if q.orderBy != "" {
		sort.SliceStable(matched, func(i, j int) bool {
			a, _ := matched[i][q.orderBy].(string)
			b, _ := matched[j][q.orderBy].(string)
			if q.desc {
				return strings.ToLower(a) > strings.ToLower(b)
			}
			return strings.ToLower(a) < strings.ToLower(b)
		})
	}
	page := []map[string]any{}
	for i := start; i < len(matched) && len(page) < q.top; i++ {
		p := project(matched[i], q.selectProps, defaults(matched[i]))
		if t, ok := matched[i]["@odata.type"]; ok {
			p["@odata.type"] = t
		}
		page = append(page, p)
	}
	out := map[string]any{"@odata.context": contextURL(set, q.selectProps), "value": page}
	if q.count && q.skipToken == "" {
		out["@odata.count"] = len(matched)
	}
	if start+q.top < len(matched) {
		out["@odata.nextLink"] = nextLink(base, r, encodeSkipToken(kind, start+q.top, 0))
	}
	graphJSON(w, http.StatusOK, out)
}

func (s *Server) graphGetGroup(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	q, qerr := parseODataQuery(r.URL.RawQuery, false, groupShape)
	if qerr != nil {
		graphError(w, r, http.StatusBadRequest, qerr.code, qerr.msg)
		return
	}
	tx := dirOf(r).Lock()
	g := tx.Group(strings.ToLower(r.PathValue("id")))
	var obj map[string]any
	if g != nil {
		obj = groupObject(tx, g)
	}
	tx.Unlock()
	if g == nil {
		resourceNotFound(w, r, r.PathValue("id"))
		return
	}
	writeEntity(w, http.StatusOK, "groups", obj, q.selectProps, groupDefaultProps)
}

// graphMembers lists a group's members, or its transitive members: members
// of member groups too (each once).
func (s *Server) graphMembers(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	q, start, ok := pagedQuery(w, r, userShape, "m")
	if !ok || !noExpand(w, r, q) {
		return
	}
	transitive := strings.HasSuffix(r.URL.Path, "/transitiveMembers")
	tx := dirOf(r).Lock()
	g := tx.Group(strings.ToLower(r.PathValue("id")))
	var objs []map[string]any
	if g != nil {
		seen := map[string]bool{}
		var visit func(g *directory.Group)
		visit = func(g *directory.Group) {
			for _, m := range g.Members {
				if seen[m] {
					continue
				}
				seen[m] = true
				if u := tx.User(m); u != nil {
					o := userObject(tx, u)
					o["@odata.type"] = "#microsoft.graph.user"
					objs = append(objs, o)
				} else if sub := tx.Group(m); sub != nil {
					o := groupObject(tx, sub)
					o["@odata.type"] = "#microsoft.graph.group"
					objs = append(objs, o)
					if transitive {
						visit(sub)
					}
				}
			}
		}
		visit(g)
	}
	base := s.baseURL()
	tx.Unlock()
	if g == nil {
		resourceNotFound(w, r, r.PathValue("id"))
		return
	}
	s.writePage(w, r, q, objs, start, "m", "directoryObjects", defaultsByType, base)
}

var appShape = shape("application", 100, 999,
	[]string{"id", "appId", "displayName", "signInAudience", "passwordCredentials", "keyCredentials", "createdDateTime", "appOwnerOrganizationId", "servicePrincipalType"},
	[]string{"id", "appId", "displayName", "servicePrincipalType"}, []string{"displayName"})

var readApps = permission{
	delegated:   []string{"Application.Read.All", "Directory.Read.All"},
	application: []string{"Application.Read.All", "Directory.Read.All"},
}

func appCredentials(a *directory.App) (pw, keys []map[string]any) {
	pw, keys = []map[string]any{}, []map[string]any{}
	for i, p := range a.PasswordCredentials {
		pw = append(pw, map[string]any{"displayName": p.DisplayName, "endDateTime": p.EndDateTime,
			"keyId": directory.DeterministicID("secret:" + a.AppID + ":" + string(rune('0'+i))), "hint": "Dev", "startDateTime": "2025-11-25T00:00:00Z"})
	}
	for i, k := range a.KeyCredentials {
		keys = append(keys, map[string]any{"displayName": k.DisplayName, "endDateTime": k.EndDateTime, "type": k.Type, "usage": k.Usage,
			"keyId": directory.DeterministicID("cert:" + a.AppID + ":" + string(rune('0'+i))), "startDateTime": "2025-11-25T00:00:00Z"})
	}
	return pw, keys
}

func (s *Server) graphApplications(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	s.listApps(w, r, c, false)
}

func (s *Server) graphServicePrincipals(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	s.listApps(w, r, c, true)
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request, c *graphCaller, sps bool) {
	kind, set := "a", "applications"
	if sps {
		kind, set = "sp", "servicePrincipals"
	}
	q, start, ok := pagedQuery(w, r, appShape, kind)
	if !ok {
		return
	}
	tx := dirOf(r).Lock()
	var objs []map[string]any
	for _, a := range tx.Apps() {
		if !sps && a.Registration() != a {
			continue // a multi-tenant app's service principal here: registered elsewhere
		}
		pw, keys := appCredentials(a)
		o := map[string]any{"id": directory.DeterministicID("app:" + strings.ToLower(a.AppID)), "appId": a.AppID, "displayName": a.DisplayName,
			"signInAudience": a.SignInAudience, "passwordCredentials": pw, "keyCredentials": keys, "createdDateTime": "2025-11-25T00:00:00Z"}
		if sps {
			// A service principal's own credentials are separate from its
			// application's, and usually empty.
			o["id"], o["appOwnerOrganizationId"], o["servicePrincipalType"] = a.SPID, a.OwnerTenantID(), "Application"
			o["passwordCredentials"], o["keyCredentials"] = []map[string]any{}, []map[string]any{}
			delete(o, "signInAudience")
		}
		objs = append(objs, o)
	}
	defaults := []string{"id", "appId", "displayName", "passwordCredentials", "keyCredentials", "createdDateTime"}
	if sps {
		// Managed identities have a service principal and no application.
		objs = append(objs, managedIdentitySPs(tx)...)
		defaults = append(defaults, "servicePrincipalType")
	}
	base := s.baseURL()
	tx.Unlock()
	s.writePage(w, r, q, objs, start, kind, set, fixed(defaults), base)
}

var readOrganization = permission{
	delegated:   []string{"User.Read", "Organization.Read.All", "Directory.Read.All"},
	application: []string{"Organization.Read.All", "Directory.Read.All", "User.Read.All"},
}

func (s *Server) graphOrganization(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	graphJSON(w, http.StatusOK, map[string]any{
		"@odata.context": graphHost + "/v1.0/$metadata#organization",
		"value": []map[string]any{{
			"id": dirOf(r).TenantID(), "displayName": orgName(dirOf(r).Domain()) + " (entrakit dev tenant)", "tenantType": "AAD",
			"verifiedDomains": []map[string]any{{"name": dirOf(r).Domain(), "isDefault": true, "isInitial": true, "type": "Managed"}},
		}},
	})
}

func sha1hex(b []byte) string {
	h := sha1.Sum(b) // an ETag, not a security use
	return hex.EncodeToString(h[:8])
}

const maxGraphBody = 4 << 20

// graphBody reads a request body (at most 4 MiB), undoing gzip as Graph
// does: the SDK compresses POST bodies.
func graphBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, errors.New("empty body")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxGraphBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxGraphBody {
		return nil, errors.New("body too large")
	}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		body, err = io.ReadAll(io.LimitReader(zr, maxGraphBody+1))
		if err != nil {
			return nil, err
		}
		if len(body) > maxGraphBody {
			return nil, errors.New("body too large")
		}
	}
	return body, nil
}

// managedIdentitySPs are the managed identities' service principals as Graph
// lists them.
func managedIdentitySPs(tx directory.Tx) []map[string]any {
	var out []map[string]any
	for _, mi := range tx.ManagedIdentities() {
		explicit := "isExplicit=False"
		if !mi.System {
			explicit = "isExplicit=True"
		}
		out = append(out, map[string]any{"id": mi.App.SPID, "appId": mi.App.AppID, "displayName": mi.App.DisplayName,
			"servicePrincipalType": "ManagedIdentity", "alternativeNames": []string{explicit, mi.ResourceID},
			"passwordCredentials": []map[string]any{}, "keyCredentials": []map[string]any{}, "createdDateTime": "2025-11-25T00:00:00Z"})
	}
	return out
}

// orgName names a tenant after its initial domain: contoso.onmicrosoft.com
// is Contoso.
func orgName(domain string) string {
	name, _, _ := strings.Cut(domain, ".")
	if name == "" {
		return domain
	}
	return strings.ToUpper(name[:1]) + name[1:]
}
