package graph

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// A user's relationships: manager ($expand=manager and /manager),
// directReports, transitiveMemberOf and getMemberObjects, with the
// permissions Graph documents for each.

var (
	// readManager: https://learn.microsoft.com/graph/api/user-list-manager
	// (delegated: User.Read.All is the least privileged, User.Read is not
	// enough, even for /me/manager).
	readManager = permission{
		delegated:   []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
		application: []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	}
	// readReports: https://learn.microsoft.com/graph/api/user-list-directreports
	// (User.Read for the signed-in user's own reports).
	readReports = readManager
	// userMemberObjects and groupMemberObjects:
	// https://learn.microsoft.com/graph/api/directoryobject-getmemberobjects
	userMemberObjects = permission{
		delegated:   []string{"User.Read.All", "Directory.Read.All", "User.ReadWrite.All", "Directory.ReadWrite.All"},
		application: []string{"User.Read.All", "Directory.Read.All", "User.ReadWrite.All", "Directory.ReadWrite.All"},
	}
	groupMemberObjects = permission{
		delegated:   []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"},
		application: []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"},
	}
	// readMemberOf: memberOf and transitiveMemberOf
	// (https://learn.microsoft.com/graph/api/user-list-transitivememberof;
	// User.Read for the signed-in user's own).
	readMemberOf = permission{
		delegated:   append(append([]string{}, readGroups.delegated...), "User.Read.All", "Directory.ReadWrite.All"),
		application: append(append([]string{}, readGroups.application...), "User.Read.All", "Directory.ReadWrite.All"),
	}
)

// expandManager is $expand=manager, with the manager's own $select.
type expandManager struct{ sel []string }

// parseExpandManager reads manager or manager($select=a,b); $levels (the
// management chain) is not emulated.
func parseExpandManager(v string) (*expandManager, *queryError) {
	name, opts, hasOpts := strings.Cut(strings.TrimSpace(v), "(")
	if !strings.EqualFold(strings.TrimSpace(name), "manager") {
		return nil, badQuery("Could not find a navigation property named '%s' on type 'microsoft.graph.user' the dev tenant can expand (manager only).", name)
	}
	e := &expandManager{}
	if !hasOpts {
		return e, nil
	}
	opts, ok := strings.CutSuffix(opts, ")")
	if !ok {
		return nil, badQuery("Syntax error in $expand '%s'.", v)
	}
	for _, opt := range strings.Split(opts, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(opt), "=")
		if !strings.EqualFold(k, "$select") {
			return nil, &queryError{"Request_UnsupportedQuery", "Query option '" + k + "' inside $expand=manager is not supported by the dev tenant."}
		}
		for _, p := range strings.Split(val, ",") {
			canon, ok := userShape.props[strings.ToLower(strings.TrimSpace(p))]
			if !ok {
				return nil, badQuery("Could not find a property named '%s' on type 'microsoft.graph.user'.", strings.TrimSpace(p))
			}
			e.sel = append(e.sel, canon)
		}
	}
	return e, nil
}

// managerOf is u's manager, nil if none (or deleted). Caller holds tx.
func managerOf(tx directory.Tx, u *directory.User) *directory.User {
	if u.ManagerID == "" {
		return nil
	}
	return tx.User(u.ManagerID)
}

// expandInto sets out["manager"] to u's manager, as $expand=manager does:
// every property (or the expansion's $select), with its @odata.type; no
// manager property when u has none.
func (e *expandManager) expandInto(tx directory.Tx, u *directory.User, out map[string]any) {
	m := managerOf(tx, u)
	if e == nil || m == nil {
		return
	}
	var obj map[string]any
	if len(e.sel) > 0 {
		obj = project(userObject(tx, m), e.sel, nil)
	} else {
		obj = userObject(tx, m)
	}
	obj["@odata.type"] = "#microsoft.graph.user"
	out["manager"] = obj
}

// noExpand answers Graph's 400 (ok false) to $expand on a route that does
// not expand: only /users and /users/{id} (and /me) expand manager here.
func noExpand(w http.ResponseWriter, r *http.Request, q *odataQuery) bool {
	if q.expand != nil {
		graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Query option '$expand' is not supported by the dev tenant for this resource.")
		return false
	}
	return true
}

// subject resolves /me or /users/{id} to a user, answering Graph's errors
// itself (ok false): /me needs a user, self is whether the caller is that
// user, may is the permission that opens the route for anyone, selfOK
// whether the signed-in user may call it on themselves with User.Read.
func (s *Server) subject(w http.ResponseWriter, r *http.Request, c *graphCaller, may permission, selfOK bool) (*directory.User, bool) {
	id := r.PathValue("id")
	if id == "" {
		if c.userID == "" {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
			return nil, false
		}
		id = c.userID
	}
	tx := dirOf(r).Lock()
	u := tx.LookupUser(id)
	var cp directory.User
	if u != nil {
		cp = *u
	}
	tx.Unlock()
	self := u != nil && u.ID == c.userID && selfOK && c.can([]string{"User.Read"}, nil)
	if !self && !c.can(may.delegated, may.application) {
		forbidden(w, r)
		return nil, false
	}
	if u == nil {
		resourceNotFound(w, r, id)
		return nil, false
	}
	return &cp, true
}

// graphManager is GET /users/{id}/manager (and /me/manager): the manager as
// a directoryObject, 404 when there is none.
func (s *Server) graphManager(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	q, ok := requestQuery(w, r, userShape)
	if !ok || !noExpand(w, r, q) {
		return
	}
	u, ok := s.subject(w, r, c, readManager, false)
	if !ok {
		return
	}
	tx := dirOf(r).Lock()
	var obj map[string]any
	if m := tx.User(u.ManagerID); u.ManagerID != "" && m != nil {
		obj = userObject(tx, m)
	}
	tx.Unlock()
	if obj == nil {
		graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
			"Resource 'manager' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	out := project(obj, q.selectProps, userDefaultProps)
	out["@odata.type"] = "#microsoft.graph.user"
	out["@odata.context"] = contextURL("directoryObjects", q.selectProps) + "/$entity"
	graphJSON(w, http.StatusOK, out)
}

// graphDirectReports is GET /users/{id}/directReports (and /me/…): the
// users whose manager the user is, as directoryObjects.
func (s *Server) graphDirectReports(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	q, start, ok := pagedQuery(w, r, userShape, "dr")
	if !ok || !noExpand(w, r, q) {
		return
	}
	u, ok := s.subject(w, r, c, readReports, true)
	if !ok {
		return
	}
	tx := dirOf(r).Lock()
	var objs []map[string]any
	for _, id := range tx.UserOrder() {
		if ru := tx.User(id); ru != nil && ru.ManagerID == u.ID {
			o := userObject(tx, ru)
			o["@odata.type"] = "#microsoft.graph.user"
			objs = append(objs, o)
		}
	}
	base := s.baseURL()
	tx.Unlock()
	s.writePage(w, r, q, objs, start, "dr", "directoryObjects", defaultsByType, base)
}

// groupsOf is the groups id is a member of, directly or (transitive)
// through groups that are members of others too, in creation order.
func groupsOf(tx directory.Tx, id string, transitive bool) []*directory.Group {
	in := map[string]bool{}
	frontier := map[string]bool{id: true}
	for len(frontier) > 0 {
		next := map[string]bool{}
		for _, gid := range tx.GroupOrder() {
			g := tx.Group(gid)
			if g == nil || in[g.ID] {
				continue
			}
			if slices.ContainsFunc(g.Members, func(m string) bool { return frontier[m] }) {
				in[g.ID], next[g.ID] = true, true
			}
		}
		if !transitive {
			break
		}
		frontier = next
	}
	var out []*directory.Group
	for _, gid := range tx.GroupOrder() {
		if g := tx.Group(gid); g != nil && in[g.ID] && g.ID != id {
			out = append(out, g)
		}
	}
	return out
}

// graphMemberOfList is GET /users/{id}/memberOf and transitiveMemberOf
// (and /me/…): the groups as directoryObjects.
func (s *Server) graphMemberOfList(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	u, ok := s.subject(w, r, c, readMemberOf, true)
	if !ok {
		return
	}
	q, ok := requestQuery(w, r, groupShape)
	if !ok {
		return
	}
	transitive := strings.HasSuffix(r.URL.Path, "/transitiveMemberOf")
	tx := dirOf(r).Lock()
	var objs []map[string]any
	for _, g := range groupsOf(tx, u.ID, transitive) {
		o := groupObject(tx, g)
		o["@odata.type"] = "#microsoft.graph.group"
		objs = append(objs, o)
	}
	base := s.baseURL()
	tx.Unlock()
	s.writePage(w, r, q, objs, 0, "mo", "directoryObjects", defaultsByType, base)
}

// graphGetMemberObjects is POST /users/{id}/getMemberObjects (and /me/…,
// /groups/{id}/…): the ids of every group the object is a member of,
// transitively; securityEnabledOnly keeps security groups (all of the dev
// tenant's are).
func (s *Server) graphGetMemberObjects(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	var in struct {
		SecurityEnabledOnly *bool `json:"securityEnabledOnly"`
	}
	if err := decodeGraphBody(r, &in); err != nil || in.SecurityEnabledOnly == nil {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "The request body must be {\"securityEnabledOnly\": true|false}.")
		return
	}
	var id string
	if strings.HasPrefix(r.URL.Path, "/v1.0/groups/") {
		if !c.can(groupMemberObjects.delegated, groupMemberObjects.application) {
			forbidden(w, r)
			return
		}
		tx := dirOf(r).Lock()
		if g := tx.Group(r.PathValue("id")); g != nil {
			id = g.ID
		}
		tx.Unlock()
		if id == "" {
			resourceNotFound(w, r, r.PathValue("id"))
			return
		}
	} else {
		u, ok := s.subject(w, r, c, userMemberObjects, true)
		if !ok {
			return
		}
		id = u.ID
	}
	tx := dirOf(r).Lock()
	ids := []string{}
	for _, g := range groupsOf(tx, id, true) {
		ids = append(ids, g.ID)
	}
	tx.Unlock()
	graphJSON(w, http.StatusOK, map[string]any{"@odata.context": graphHost + "/v1.0/$metadata#Collection(Edm.String)", "value": ids})
}

// defaultsByType is the default property set of a directoryObject in a
// collection, by its @odata.type: a user's as /users gives it, a group's as
// /groups does.
func defaultsByType(o map[string]any) []string {
	if o["@odata.type"] == "#microsoft.graph.group" {
		return groupDefaultProps
	}
	return userDefaultProps
}

var (
	// purgeUsers: DELETE /directory/deletedItems/{id} for a user
	// (https://learn.microsoft.com/graph/api/directory-deleteditems-delete).
	purgeUsers = permission{
		delegated:   []string{"User.DeleteRestore.All", "User.ReadWrite.All"},
		application: []string{"User.DeleteRestore.All", "User.ReadWrite.All"},
	}
	// readDeletedUsers: GET /directory/deletedItems/… for users
	// (https://learn.microsoft.com/graph/api/directory-deleteditems-get).
	readDeletedUsers = permission{
		delegated:   []string{"User.Read.All", "User.ReadWrite.All", "User.DeleteRestore.All", "Directory.Read.All"},
		application: []string{"User.Read.All", "User.ReadWrite.All", "User.DeleteRestore.All", "Directory.Read.All"},
	}
)

// deletedUserObject is a user in the deleted items as Graph shows it: the
// user with its deletedDateTime.
func deletedUserObject(tx directory.Tx, du *directory.DeletedUser) map[string]any {
	o := userObject(tx, &du.User)
	o["deletedDateTime"] = du.DeletedDateTime.UTC().Format(time.RFC3339)
	o["@odata.type"] = "#microsoft.graph.user"
	return o
}

// graphDeletedUsers is GET /directory/deletedItems/microsoft.graph.user.
func (s *Server) graphDeletedUsers(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	q, start, ok := pagedQuery(w, r, userShape, "du")
	if !ok || !noExpand(w, r, q) {
		return
	}
	tx := dirOf(r).Lock()
	var objs []map[string]any
	for _, du := range tx.DeletedUsers() {
		objs = append(objs, deletedUserObject(tx, du))
	}
	base := s.baseURL()
	tx.Unlock()
	s.writePage(w, r, q, objs, start, "du", "directory/deletedItems/microsoft.graph.user", fixed(append([]string{"deletedDateTime"}, userDefaultProps...)), base)
}

// graphDeletedItem is GET /directory/deletedItems/{id} (users only).
func (s *Server) graphDeletedItem(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	q, ok := requestQuery(w, r, userShape)
	if !ok || !noExpand(w, r, q) {
		return
	}
	tx := dirOf(r).Lock()
	var obj map[string]any
	if du := tx.DeletedUser(r.PathValue("id")); du != nil {
		obj = deletedUserObject(tx, du)
	}
	tx.Unlock()
	if obj == nil {
		resourceNotFound(w, r, r.PathValue("id"))
		return
	}
	out := project(obj, q.selectProps, append([]string{"deletedDateTime"}, userDefaultProps...))
	out["@odata.type"] = "#microsoft.graph.user"
	out["@odata.context"] = contextURL("directory/deletedItems", q.selectProps) + "/$entity"
	graphJSON(w, http.StatusOK, out)
}

// graphPurgeDeletedItem is DELETE /directory/deletedItems/{id}: the user is
// deleted permanently (delta then reports reason "deleted").
func (s *Server) graphPurgeDeletedItem(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	tx := dirOf(r).Lock()
	purged := tx.PermanentlyDeleteUser(r.PathValue("id"))
	tx.Unlock()
	if !purged {
		resourceNotFound(w, r, r.PathValue("id"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
