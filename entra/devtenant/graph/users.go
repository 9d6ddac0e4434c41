package graph

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
	"github.com/entrakit/entrakit/entra/devtenant/identity"
)

var userShape = func() resourceShape {
	r := shape("user", 100, 999,
		[]string{"id", "displayName", "givenName", "surname", "mail", "userPrincipalName", "jobTitle", "department",
			"officeLocation", "accountEnabled", "userType", "businessPhones", "mobilePhone", "preferredLanguage",
			"createdDateTime", "mailNickname", "companyName", "city"},
		[]string{"id", "displayName", "givenName", "surname", "mail", "userPrincipalName", "jobTitle", "department",
			"officeLocation", "accountEnabled", "userType", "mailNickname", "companyName", "city"},
		[]string{"displayName", "userPrincipalName"})
	// eq on these needs the advanced query parameters
	// (https://learn.microsoft.com/graph/aad-advanced-queries#support-for-filter-by-properties-of-microsoft-entra-id-directory-objects).
	r.advancedOnly = map[string]bool{"companyName": true, "officeLocation": true}
	r.expandManager = true
	return r
}()

// Graph's default properties for users (v1.0).
var userDefaultProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

var (
	readUsers = permission{
		delegated:   []string{"User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All"},
		application: []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All"},
	}
	writeUsers = permission{delegated: []string{"User.ReadWrite.All"}, application: []string{"User.ReadWrite.All"}}
)

func userObject(tx directory.Tx, u *directory.User) map[string]any {
	nick, _, _ := strings.Cut(u.UserPrincipalName, "@")
	o := map[string]any{
		"id": u.ID, "displayName": u.DisplayName, "givenName": nilIfEmpty(u.GivenName), "surname": nilIfEmpty(u.Surname),
		"mail": nilIfEmpty(u.Mail), "userPrincipalName": u.UserPrincipalName, "jobTitle": nilIfEmpty(u.JobTitle),
		"department": nilIfEmpty(u.Department), "officeLocation": nilIfEmpty(u.OfficeLocation), "accountEnabled": u.AccountEnabled,
		"userType": u.UserType, "businessPhones": []string{}, "mobilePhone": nil, "preferredLanguage": "en-US",
		"mailNickname": nick, "companyName": "Contoso", "city": nilIfEmpty(u.OfficeLocation),
	}
	if t, ok := tx.Created(u.ID); ok {
		o["createdDateTime"] = t.UTC().Format(time.RFC3339)
	}
	return o
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// project keeps the selected properties (or the defaults) of obj.
func project(obj map[string]any, sel, defaults []string) map[string]any {
	if len(sel) == 0 {
		sel = defaults
	}
	out := make(map[string]any, len(sel)+1)
	for _, p := range sel {
		out[p] = obj[p]
	}
	return out
}

func contextURL(entitySet string, sel []string) string {
	u := graphHost + "/v1.0/$metadata#" + entitySet
	if len(sel) > 0 {
		u += "(" + strings.Join(sel, ",") + ")"
	}
	return u
}

func (s *Server) graphMe(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	if c.userID == "" {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
		return
	}
	s.getUser(w, r, c, c.userID)
}

func (s *Server) graphGetUser(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	s.getUser(w, r, c, r.PathValue("id"))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *graphCaller, idOrUPN string) {
	q, ok := requestQuery(w, r, userShape)
	if !ok {
		return
	}
	tx := dirOf(r).Lock()
	u := tx.LookupUser(idOrUPN)
	var obj, out map[string]any
	self := false
	if u != nil {
		obj = userObject(tx, u)
		out = project(obj, q.selectProps, userDefaultProps)
		q.expand.expandInto(tx, u, out)
		self = u.ID == c.userID && c.can([]string{"User.Read"}, nil)
	}
	tx.Unlock()
	if !self && !c.can(append(readUsers.delegated, "User.Read"), readUsers.application) {
		forbidden(w, r)
		return
	}
	if (!self && c.userID != "" && !c.can(readUsers.delegated, nil)) || (q.expand != nil && !c.can(readManager.delegated, readManager.application)) {
		forbidden(w, r)
		return
	}
	if u == nil {
		resourceNotFound(w, r, idOrUPN)
		return
	}
	out["@odata.context"] = contextURL("users", q.selectProps) + "/$entity"
	graphJSON(w, http.StatusOK, out)
}

func (s *Server) graphListUsers(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	q, ok := requestQuery(w, r, userShape)
	if !ok {
		return
	}
	if q.expand != nil && !c.can(readManager.delegated, readManager.application) {
		forbidden(w, r)
		return
	}
	s.listDirectory(w, r, q, "users", userDefaultProps)
}

// listDirectory pages through users (creation order, or a sorted index) with
// the query's filter and search, emitting one page and an opaque nextLink.
// A page costs what it scans, not the size of the directory.
func (s *Server) listDirectory(w http.ResponseWriter, r *http.Request, q *odataQuery, set string, defaults []string) {
	kind := "u"
	if q.orderBy != "" {
		kind = "u." + q.orderBy
		if q.desc {
			kind += ".desc"
		}
	}
	start, ok := skipStart(w, r, q, kind)
	if !ok {
		return
	}
	tx := dirOf(r).Lock()
	order := tx.UserOrder()
	positions := []int(nil)
	if q.orderBy != "" {
		positions = tx.SortedUsers(q.orderBy, q.desc)
	}
	n := len(order)
	if positions != nil {
		n = len(positions)
	}
	at := func(i int) *directory.User {
		if positions != nil {
			i = positions[i]
		}
		return tx.User(order[i])
	}
	page := make([]map[string]any, 0, min(q.top, 128))
	next := -1
	i := start
	for ; i < n; i++ {
		u := at(i)
		if u == nil {
			continue
		}
		obj := userObject(tx, u)
		if !q.matches(obj) {
			continue
		}
		if len(page) == q.top {
			next = i
			break
		}
		p := project(obj, q.selectProps, defaults)
		q.expand.expandInto(tx, u, p)
		page = append(page, p)
	}
	count := -1
	if q.count && q.skipToken == "" {
		count = 0
		for j := 0; j < n; j++ {
			u := at(j)
			if u == nil {
				continue
			}
			if q.matches(userObject(tx, u)) {
				count++
			}
		}
	}
	base := s.baseURL()
	tx.Unlock()
	out := map[string]any{"@odata.context": contextURL(set, q.selectProps), "value": page}
	if count >= 0 {
		out["@odata.count"] = count
	}
	if next >= 0 {
		out["@odata.nextLink"] = nextLink(base, r, encodeSkipToken(kind, next, 0))
	}
	graphJSON(w, http.StatusOK, out)
}

// nextLink is the request's own URL on this host with $skiptoken replaced.
func nextLink(base string, r *http.Request, skip string) string {
	v, _ := url.ParseQuery(r.URL.RawQuery)
	for k := range v {
		if strings.EqualFold(k, "$skiptoken") {
			v.Del(k)
		}
	}
	v.Set("$skiptoken", skip)
	return base + r.URL.Path + "?" + strings.ReplaceAll(v.Encode(), "%24", "$")
}

func (s *Server) graphCountUsers(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	// https://learn.microsoft.com/graph/aad-advanced-queries#error-handling-for-advanced-queries-on-directory-objects
	if r.Header.Get("ConsistencyLevel") != "eventual" {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "$count is not currently supported.")
		return
	}
	q, qerr := parseQuery(r.URL.RawQuery, true, true, userShape)
	if qerr != nil {
		graphError(w, r, http.StatusBadRequest, qerr.code, qerr.msg)
		return
	}
	tx := dirOf(r).Lock()
	n := 0
	for u := range tx.Users() {
		if (q.filter == nil && q.search == nil) || q.matches(userObject(tx, u)) {
			n++
		}
	}
	tx.Unlock()
	w.Header().Set("Content-Type", "text/plain;charset=utf-8")
	w.Header().Set("OData-Version", "4.0")
	_, _ = io.WriteString(w, strconv.Itoa(n))
}

func (s *Server) graphCreateUser(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	var in struct {
		AccountEnabled    *bool  `json:"accountEnabled"`
		DisplayName       string `json:"displayName"`
		MailNickname      string `json:"mailNickname"`
		UserPrincipalName string `json:"userPrincipalName"`
		GivenName         string `json:"givenName"`
		Surname           string `json:"surname"`
		JobTitle          string `json:"jobTitle"`
		Department        string `json:"department"`
		PasswordProfile   *struct {
			Password string `json:"password"`
		} `json:"passwordProfile"`
	}
	if err := decodeGraphBody(r, &in); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload: "+err.Error())
		return
	}
	var missing []string
	if in.AccountEnabled == nil {
		missing = append(missing, "accountEnabled")
	}
	for name, v := range map[string]string{"displayName": in.DisplayName, "mailNickname": in.MailNickname, "userPrincipalName": in.UserPrincipalName} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if in.PasswordProfile == nil || in.PasswordProfile.Password == "" {
		missing = append(missing, "passwordProfile")
	}
	if len(missing) > 0 {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property '"+missing[0]+"' of resource 'User'.")
		return
	}
	_, domain, _ := strings.Cut(in.UserPrincipalName, "@")
	if !strings.EqualFold(domain, dirOf(r).Domain()) {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.")
		return
	}
	u, err := dirOf(r).AddUser(directory.User{UserPrincipalName: in.UserPrincipalName, DisplayName: in.DisplayName, GivenName: in.GivenName,
		Surname: in.Surname, JobTitle: in.JobTitle, Department: in.Department, AccountEnabled: *in.AccountEnabled,
		Mail: in.UserPrincipalName}, in.PasswordProfile.Password)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
		return
	}
	tx := dirOf(r).Lock()
	obj := userObject(tx, tx.User(u.ID))
	tx.Unlock()
	out := project(obj, nil, userDefaultProps)
	out["@odata.context"] = contextURL("users", nil) + "/$entity"
	w.Header().Set("Location", s.baseURL()+"/v1.0/users/"+u.ID)
	graphJSON(w, http.StatusCreated, out)
}

func (s *Server) graphUpdateUser(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	var in map[string]json.RawMessage
	if err := decodeGraphBody(r, &in); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload: "+err.Error())
		return
	}
	tx := dirOf(r).Lock()
	defer tx.Unlock()
	u := tx.LookupUser(r.PathValue("id"))
	if u == nil {
		resourceNotFound(w, r, r.PathValue("id"))
		return
	}
	nu := *u
	updatable := map[string]any{
		"displayName": &nu.DisplayName, "givenName": &nu.GivenName, "surname": &nu.Surname, "jobTitle": &nu.JobTitle,
		"department": &nu.Department, "officeLocation": &nu.OfficeLocation, "accountEnabled": &nu.AccountEnabled,
	}
	for k, raw := range in {
		field, ok := updatable[k]
		if !ok {
			graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Property '"+k+"' cannot be updated by the dev tenant.")
			return
		}
		if err := json.Unmarshal(raw, field); err != nil {
			graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property '"+k+"' of resource 'User'.")
			return
		}
	}
	*u = nu
	tx.Changed('u', u.ID)
	w.WriteHeader(http.StatusNoContent)
}

// graphDeleteUser soft-deletes a user, as Graph does: it moves to the
// deleted items (DELETE /directory/deletedItems/{id} removes it for good).
func (s *Server) graphDeleteUser(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	tx := dirOf(r).Lock()
	u := tx.LookupUser(r.PathValue("id"))
	if u == nil {
		tx.Unlock()
		resourceNotFound(w, r, r.PathValue("id"))
		return
	}
	id := u.ID
	tx.DeleteUser(id)
	tx.Unlock()
	s.idp.ForgetUser(id) // after Unlock: the identity lock comes first
	w.WriteHeader(http.StatusNoContent)
}

// decodeGraphBody reads a JSON body of at most 1 MiB; gzip was undone by
// the caller ($batch) or by graphBodyReader.
func decodeGraphBody(r *http.Request, v any) error {
	body, err := graphBody(r)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

func (s *Server) graphPhotoMeta(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	u, ok := s.photoOwner(w, r, c)
	if !ok {
		return
	}
	graphJSON(w, http.StatusOK, map[string]any{
		"@odata.context":          graphHost + "/v1.0/$metadata#users('" + u.ID + "')/photo/$entity",
		"@odata.mediaContentType": "image/png", "@odata.mediaEtag": `W/"` + sha1hex(u.Photo) + `"`,
		"id": "96X96", "height": 96, "width": 96,
	})
}

func (s *Server) graphPhotoValue(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	u, ok := s.photoOwner(w, r, c)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(u.Photo)))
	w.Header().Set("ETag", `W/"`+sha1hex(u.Photo)+`"`)
	_, _ = w.Write(u.Photo)
}

// photoOwner resolves /me or /users/{id} for a photo request and answers
// 404 ImageNotFound, as Graph does, for a user without one.
func (s *Server) photoOwner(w http.ResponseWriter, r *http.Request, c *graphCaller) (directory.User, bool) {
	u, ok := s.subject(w, r, c, readUsers, true)
	if !ok {
		return directory.User{}, false
	}
	cp := *u
	if len(cp.Photo) == 0 {
		graphError(w, r, http.StatusNotFound, "ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.")
		return directory.User{}, false
	}
	return cp, true
}

func (s *Server) graphUserInfo(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	if c.userID == "" || !c.scopes["openid"] {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", error_description="the openid scope is required"`)
		graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "The UserInfo endpoint needs a delegated token with the openid scope.")
		return
	}
	tx := dirOf(r).Lock()
	u := tx.User(c.userID)
	var out map[string]any
	if u != nil {
		out = map[string]any{"sub": identity.PairwiseSub(u.ID, c.appID)}
		if c.scopes["profile"] {
			out["name"], out["family_name"], out["given_name"] = u.DisplayName, u.Surname, u.GivenName
			out["picture"] = graphHost + "/v1.0/me/photo/$value"
		}
		if c.scopes["email"] && u.Mail != "" {
			out["email"] = u.Mail
		}
	}
	tx.Unlock()
	if u == nil {
		graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", "The user no longer exists.")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(out)
}

// resourceNotFound is Graph's 404 for a directory object id (or UPN).
func resourceNotFound(w http.ResponseWriter, r *http.Request, id string) {
	graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}
