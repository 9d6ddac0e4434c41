package directory

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fixed identities of the dev tenant: the same on every start, so a test or a
// bookmarked URL keeps working. They are not secrets.
const (
	DefaultTenantID = "6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f"
	DefaultDomain   = "contoso.onmicrosoft.com"
	// GuestHomeTenantID is the home tenant of the guest persona (Fabrikam).
	GuestHomeTenantID = "2b7d9f1e-3c5a-4e8b-9d0f-1a2c3e4f5a6b"
	// GlobalAdminRoleID is the Global Administrator directory role template
	// id, sent in the wids claim.
	GlobalAdminRoleID = "62e90394-69f5-4237-9190-012177145e10"
)

// Config is what a directory is built from.
type Config struct {
	Manifest *Manifest
	TenantID string // lower case GUID
	Domain   string // lower case
	// Now is the tenant's clock (creation times of objects).
	Now func() time.Time
	// GuestHome builds the guest's home tenant (Fabrikam: its own people,
	// no managed identity) instead of Contoso.
	GuestHome bool
}

// Directory is the tenant model: users, groups, applications and their
// service principals, managed identities, consent grants and the change log
// Graph's delta queries read. It has its own lock and no HTTP: the identity
// and Graph endpoints read and change it through a [Tx].
type Directory struct {
	tenantID, domain string
	now              func() time.Time

	mu            sync.Mutex
	users         map[string]*User
	upn           map[string]string // lower-case UPN -> user id
	groups        map[string]*Group
	apps          map[string]*App // by lower-case appId
	grants        map[grantKey]map[string]bool
	appRoleGrants map[[2]string]map[string]bool // {client, resource} -> role values
	secrets       map[string]string             // appId -> the secret generated at start
	managed       []*ManagedIdentity            // [0] is the system-assigned identity
	// roleApp is the app whose user roles User.AppRoles holds: the first in
	// the manifest that defines roles for users (entrakit's web app).
	roleApp string
	log     changeLog
}

// changeLog is the directory as Graph pages through it: creation order (for
// stable paging), the changes (for delta) and revocations (for CAE).
type changeLog struct {
	userOrder  []string // user ids in creation order; "" marks a deleted user
	groupOrder []string
	changes    []Change // append-only, Seq increasing
	seq        uint64
	created    map[string]time.Time
	revokedAt  map[string]time.Time
	sorted     map[string][]int // property -> userOrder positions sorted by it; nil when stale
	// deleted is the deleted items container of users: soft-deleted, kept
	// DeletedItemsRetention, then permanently deleted (purgeAt is the
	// earliest such time).
	deleted map[string]*DeletedUser
	purgeAt time.Time
}

// Change is one entry of the change log: kind 'u' (user) or 'g' (group).
// A membership change of group ID names the Member who joined it, or left
// it when Left is set (groups delta reports these in members@delta).
type Change struct {
	Seq    uint64
	Kind   byte
	ID     string
	Member string
	Left   bool
}

// New builds the directory: the personas and their groups, the manifest's
// apps with a fresh client secret each, the admin consent the manifest asks
// for, and the system-assigned managed identity.
func New(cfg Config) (*Directory, error) {
	if cfg.Manifest == nil {
		return nil, errors.New("devtenant: directory: a manifest is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Directory{
		tenantID:      cfg.TenantID,
		domain:        cfg.Domain,
		now:           cfg.Now,
		apps:          map[string]*App{},
		grants:        map[grantKey]map[string]bool{},
		appRoleGrants: map[[2]string]map[string]bool{},
		secrets:       map[string]string{},
		log:           changeLog{created: map[string]time.Time{}, revokedAt: map[string]time.Time{}},
	}
	d.users, d.groups = newCast(cfg.GuestHome, d.domain, randomPassword)
	d.upn = map[string]string{}
	for id, u := range d.users {
		d.upn[strings.ToLower(u.UserPrincipalName)] = id
	}
	for _, a := range cfg.Manifest.Applications {
		d.addApp(a)
		for _, r := range a.AppRoles {
			if d.roleApp == "" && slices.Contains(r.AllowedMemberTypes, "User") {
				d.roleApp = strings.ToLower(a.AppID)
			}
		}
	}
	d.grantManifestConsent(cfg.Manifest)
	if !cfg.GuestHome {
		d.initManagedIdentities()
	}
	now := cfg.Now()
	for _, u := range sortedBy(d.users, userUPN) {
		d.log.userOrder = append(d.log.userOrder, u.ID)
		d.log.created[u.ID] = now
	}
	for _, g := range sortedBy(d.groups, groupName) {
		d.log.groupOrder = append(d.log.groupOrder, g.ID)
		d.log.created[g.ID] = now
	}
	return d, nil
}

func userUPN(u *User) string    { return u.UserPrincipalName }
func groupName(g *Group) string { return g.DisplayName }

// copies are the values ps point to.
func copies[T any](ps []*T) []T {
	out := make([]T, 0, len(ps))
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

func sortedBy[T any](m map[string]*T, key func(*T) string) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

// TenantID is the tenant's id (lower case).
func (d *Directory) TenantID() string { return d.tenantID }

// Domain is the tenant's verified domain (lower case).
func (d *Directory) Domain() string { return d.domain }

// Lock takes the directory's lock and returns the Tx through which the model
// is read and changed until tx.Unlock. Callers holding a lock of their own
// take it before this one, never after.
func (d *Directory) Lock() Tx {
	d.mu.Lock()
	tx := Tx{d}
	if len(d.log.deleted) > 0 {
		tx.purgeDeleted()
	}
	return tx
}

// Tx is the directory while its lock is held.
type Tx struct{ d *Directory }

// Unlock releases the directory's lock; tx must not be used afterwards.
func (tx Tx) Unlock() { tx.d.mu.Unlock() }

// User finds a user by object id (any case); nil if there is none.
func (tx Tx) User(id string) *User {
	if u := tx.d.users[id]; u != nil {
		return u
	}
	return tx.d.users[strings.ToLower(id)]
}

// UserByUPN finds a user by user principal name, case-insensitively.
func (tx Tx) UserByUPN(upn string) *User { return tx.d.users[tx.d.upn[strings.ToLower(upn)]] }

// LookupUser finds a user by object id or UPN, as Graph's /users/{id} does.
func (tx Tx) LookupUser(idOrUPN string) *User {
	if u := tx.User(idOrUPN); u != nil {
		return u
	}
	if strings.Contains(idOrUPN, "@") {
		return tx.UserByUPN(idOrUPN)
	}
	return nil
}

// Users iterates over every user, in no particular order.
func (tx Tx) Users() iter.Seq[*User] {
	return func(yield func(*User) bool) {
		for _, u := range tx.d.users {
			if !yield(u) {
				return
			}
		}
	}
}

// Group finds a group by object id (any case).
func (tx Tx) Group(id string) *Group { return tx.d.groups[strings.ToLower(id)] }

// Groups iterates over every group, in no particular order.
func (tx Tx) Groups() iter.Seq[*Group] {
	return func(yield func(*Group) bool) {
		for _, g := range tx.d.groups {
			if !yield(g) {
				return
			}
		}
	}
}

// UserOrder is the user ids in creation order, "" for a deleted user (a
// tombstone keeps positions, and so skip tokens, stable). Read only.
func (tx Tx) UserOrder() []string { return tx.d.log.userOrder }

// GroupOrder is the group ids in creation order. Read only.
func (tx Tx) GroupOrder() []string { return tx.d.log.groupOrder }

// Created is when an object was created, if the log knows.
func (tx Tx) Created(id string) (time.Time, bool) {
	t, ok := tx.d.log.created[id]
	return t, ok
}

// Seq is the sequence number of the last change.
func (tx Tx) Seq() uint64 { return tx.d.log.seq }

// Changes is the change log, Seq increasing. Read only.
func (tx Tx) Changes() []Change { return tx.d.log.changes }

// RevokedAt is when the user's sessions were last revoked (RevokeSessions).
func (tx Tx) RevokedAt(userID string) (time.Time, bool) {
	t, ok := tx.d.log.revokedAt[userID]
	return t, ok
}

// Changed records a change of a user ('u') or a group ('g') for delta.
func (tx Tx) Changed(kind byte, id string) {
	l := &tx.d.log
	l.seq++
	l.changes = append(l.changes, Change{Seq: l.seq, Kind: kind, ID: id})
	if kind == 'u' {
		l.sorted = nil
	}
}

// SortedUsers returns UserOrder positions sorted by prop (displayName or
// userPrincipalName), cached until the next change.
func (tx Tx) SortedUsers(prop string, desc bool) []int {
	l := &tx.d.log
	key := prop
	if desc {
		key += " desc"
	}
	if l.sorted == nil {
		l.sorted = map[string][]int{}
	}
	if p, ok := l.sorted[key]; ok {
		return p
	}
	var pos []int
	for i, id := range l.userOrder {
		if id != "" {
			pos = append(pos, i)
		}
	}
	val := func(i int) string {
		u := tx.d.users[l.userOrder[i]]
		if prop == "userPrincipalName" {
			return u.UserPrincipalName
		}
		return u.DisplayName
	}
	sortPositions(pos, val, desc)
	l.sorted[key] = pos
	return pos
}

// sortPositions sorts positions by key, stable, case-insensitively as Graph
// orders strings.
func sortPositions(pos []int, key func(int) string, desc bool) {
	sort.SliceStable(pos, func(a, b int) bool {
		ka, kb := strings.ToLower(key(pos[a])), strings.ToLower(key(pos[b]))
		if desc {
			return ka > kb
		}
		return ka < kb
	})
}

// addUser adds u (complete, with its password set) and logs it.
func (tx Tx) addUser(u *User) {
	d := tx.d
	d.users[u.ID] = u
	d.upn[strings.ToLower(u.UserPrincipalName)] = u.ID
	d.log.userOrder = append(d.log.userOrder, u.ID)
	d.log.created[u.ID] = d.now()
	tx.Changed('u', u.ID)
}

// DeleteUser soft-deletes a user, as Entra does: the user moves to the
// deleted items (DeletedUser) for DeletedItemsRetention, leaves its groups,
// and is gone from /users; delta reports it removed with reason "changed".
// Its UPN stays taken until it is permanently deleted.
func (tx Tx) DeleteUser(id string) {
	d := tx.d
	u := d.users[id]
	if u == nil {
		return
	}
	delete(d.upn, strings.ToLower(u.UserPrincipalName))
	delete(d.users, id)
	for i, uid := range d.log.userOrder {
		if uid == id {
			d.log.userOrder[i] = "" // a tombstone keeps skip tokens valid
		}
	}
	for _, gid := range d.log.groupOrder {
		if g := d.groups[gid]; g != nil {
			leave(tx.d, g, id)
		}
	}
	if d.log.deleted == nil {
		d.log.deleted = map[string]*DeletedUser{}
	}
	at := d.now()
	d.log.deleted[id] = &DeletedUser{User: *u, DeletedDateTime: at}
	if d.log.purgeAt.IsZero() || at.Add(DeletedItemsRetention).Before(d.log.purgeAt) {
		d.log.purgeAt = at.Add(DeletedItemsRetention)
	}
	tx.Changed('u', id)
}

// AddUser adds a member user who signs in with password. A zero ID gets a
// deterministic one from the UPN.
func (d *Directory) AddUser(u User, password string) (User, error) {
	if !strings.Contains(u.UserPrincipalName, "@") {
		return User{}, fmt.Errorf("devtenant: AddUser: userPrincipalName %q has no @domain", u.UserPrincipalName)
	}
	if password == "" {
		return User{}, errors.New("devtenant: AddUser: a password is required")
	}
	tx := d.Lock()
	defer tx.Unlock()
	if tx.UserByUPN(u.UserPrincipalName) != nil || tx.deletedUPN(u.UserPrincipalName) {
		return User{}, fmt.Errorf("devtenant: AddUser: %s already exists", u.UserPrincipalName)
	}
	if u.ID == "" {
		u.ID = DeterministicID("user:" + strings.ToLower(u.UserPrincipalName))
	}
	if u.UserType == "" {
		u.UserType = "Member"
	}
	u.password = password
	nu := u
	tx.addUser(&nu)
	return u, nil
}

// withUser runs f on user id under the lock; an unknown id is an error.
func (d *Directory) withUser(id string, f func(tx Tx, u *User)) error {
	tx := d.Lock()
	defer tx.Unlock()
	u := tx.User(id)
	if u == nil {
		return fmt.Errorf("devtenant: no user %s", id)
	}
	f(tx, u)
	return nil
}

// withApp runs f on app appID under the lock; an unknown app is an error.
func (d *Directory) withApp(appID string, f func(a *App) error) error {
	tx := d.Lock()
	defer tx.Unlock()
	a := tx.App(appID)
	if a == nil {
		return fmt.Errorf("devtenant: no app %s", appID)
	}
	return f(a)
}

// SetUserEnabled enables or disables a user.
func (d *Directory) SetUserEnabled(id string, enabled bool) error {
	return d.withUser(id, func(tx Tx, u *User) {
		u.AccountEnabled = enabled
		tx.Changed('u', u.ID)
	})
}

// DeleteUser soft-deletes a user (see [Tx.DeleteUser]); it is permanently
// deleted by PermanentlyDeleteUser or DeletedItemsRetention later.
func (d *Directory) DeleteUser(id string) error {
	return d.withUser(id, func(tx Tx, u *User) { tx.DeleteUser(u.ID) })
}

// RevokeSessions records that the user's sessions were revoked now, as
// revokeSignInSessions does (Graph then challenges CAE clients' tokens
// issued before).
func (d *Directory) RevokeSessions(id string) error {
	now := d.now()
	return d.withUser(id, func(Tx, *User) { d.log.revokedAt[strings.ToLower(id)] = now })
}

// Users returns a copy of every directory user, by UPN.
func (d *Directory) Users() []User {
	tx := d.Lock()
	defer tx.Unlock()
	return copies(sortedBy(d.users, userUPN))
}

// Groups returns a copy of every group, by display name.
func (d *Directory) Groups() []Group {
	tx := d.Lock()
	defer tx.Unlock()
	return copies(sortedBy(d.groups, groupName))
}

// Personas lists the users who can sign in, with the passwords set at start.
func (d *Directory) Personas() []Persona {
	tx := d.Lock()
	defer tx.Unlock()
	var out []Persona
	for _, u := range d.users {
		if u.password == "" {
			continue
		}
		out = append(out, Persona{Username: u.UserPrincipalName, Password: u.password, OID: u.ID, DisplayName: u.DisplayName,
			Department: u.Department, Roles: append([]string{}, u.AppRoles...), Enabled: u.AccountEnabled,
			Admin: u.Admin, Guest: u.UserType == "Guest"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

// TenantID is the tenant's id (lower case).
func (tx Tx) TenantID() string { return tx.d.tenantID }

// DeletedItemsRetention is how long a deleted user stays in the deleted
// items, restorable, before Entra deletes it permanently.
// https://learn.microsoft.com/graph/api/resources/directory
const DeletedItemsRetention = 30 * 24 * time.Hour

// DeletedUser is a soft-deleted user in the directory's deleted items.
type DeletedUser struct {
	User
	DeletedDateTime time.Time
}

// DeletedUser finds a soft-deleted user by object id (any case); nil if the
// deleted items hold none.
func (tx Tx) DeletedUser(id string) *DeletedUser { return tx.d.log.deleted[strings.ToLower(id)] }

// DeletedUsers lists the deleted items' users, oldest deletion first.
func (tx Tx) DeletedUsers() []*DeletedUser {
	out := make([]*DeletedUser, 0, len(tx.d.log.deleted))
	for _, du := range tx.d.log.deleted {
		out = append(out, du)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].DeletedDateTime.Equal(out[j].DeletedDateTime) {
			return out[i].DeletedDateTime.Before(out[j].DeletedDateTime)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// deletedUPN reports whether a user in the deleted items holds upn: Entra
// keeps it taken until the user is permanently deleted.
func (tx Tx) deletedUPN(upn string) bool {
	for _, du := range tx.d.log.deleted {
		if strings.EqualFold(du.UserPrincipalName, upn) {
			return true
		}
	}
	return false
}

// PermanentlyDeleteUser removes a soft-deleted user from the deleted items
// for good (Graph's DELETE /directory/deletedItems/{id}); delta then reports
// it removed with reason "deleted". false if the deleted items hold no such
// user.
func (tx Tx) PermanentlyDeleteUser(id string) bool {
	id = strings.ToLower(id)
	if tx.d.log.deleted[id] == nil {
		return false
	}
	delete(tx.d.log.deleted, id)
	delete(tx.d.log.created, id)
	tx.Changed('u', id)
	return true
}

// purgeDeleted permanently deletes the users deleted DeletedItemsRetention
// ago or more, by the tenant's clock.
func (tx Tx) purgeDeleted() {
	l := &tx.d.log
	now := tx.d.now()
	if now.Before(l.purgeAt) {
		return
	}
	l.purgeAt = time.Time{}
	for _, du := range tx.DeletedUsers() {
		switch expiry := du.DeletedDateTime.Add(DeletedItemsRetention); {
		case !now.Before(expiry):
			tx.PermanentlyDeleteUser(du.ID)
		case l.purgeAt.IsZero() || expiry.Before(l.purgeAt):
			l.purgeAt = expiry
		}
	}
}

// addMember appends member to g and logs the change for members@delta. The
// caller holds d's lock and knows member is not one yet.
func addMember(d *Directory, g *Group, member string) {
	g.Members = append(g.Members, member)
	logMember(d, g.ID, member, false)
}

// join makes member (a user or group id) a member of g; false if it was.
func join(d *Directory, g *Group, member string) bool {
	if slices.Contains(g.Members, member) {
		return false
	}
	addMember(d, g, member)
	if u := d.users[member]; u != nil && !slices.Contains(u.Groups, g.ID) {
		u.Groups = append(u.Groups, g.ID)
	}
	return true
}

// leave removes member from g; false if it was not one. Slices are copied,
// never changed in place: Groups() and Users() hand out copies sharing them.
func leave(d *Directory, g *Group, member string) bool {
	i := slices.Index(g.Members, member)
	if i < 0 {
		return false
	}
	g.Members = append(g.Members[:i:i], g.Members[i+1:]...)
	if u := d.users[member]; u != nil {
		if j := slices.Index(u.Groups, g.ID); j >= 0 {
			u.Groups = append(u.Groups[:j:j], u.Groups[j+1:]...)
		}
	}
	logMember(d, g.ID, member, true)
	return true
}

func logMember(d *Directory, group, member string, left bool) {
	l := &d.log
	l.seq++
	l.changes = append(l.changes, Change{Seq: l.seq, Kind: 'g', ID: group, Member: member, Left: left})
}

// AddGroupMember makes user or group memberID a member of group groupID, as
// Graph's POST /groups/{id}/members/$ref does; groups delta reports it in
// members@delta.
func (d *Directory) AddGroupMember(groupID, memberID string) error {
	return d.withMembership(groupID, memberID, func(tx Tx, g *Group, m string) error {
		if !join(tx.d, g, m) {
			return fmt.Errorf("devtenant: %s is already a member of group %s", memberID, groupID)
		}
		return nil
	})
}

// RemoveGroupMember removes memberID from group groupID; groups delta reports
// it in members@delta with @removed.
func (d *Directory) RemoveGroupMember(groupID, memberID string) error {
	return d.withMembership(groupID, memberID, func(tx Tx, g *Group, m string) error {
		if !leave(tx.d, g, m) {
			return fmt.Errorf("devtenant: %s is not a member of group %s", memberID, groupID)
		}
		return nil
	})
}

func (d *Directory) withMembership(groupID, memberID string, f func(tx Tx, g *Group, member string) error) error {
	tx := d.Lock()
	defer tx.Unlock()
	g := tx.Group(groupID)
	if g == nil {
		return fmt.Errorf("devtenant: no group %s", groupID)
	}
	member := strings.ToLower(memberID)
	if tx.User(member) == nil && tx.Group(member) == nil {
		return fmt.Errorf("devtenant: no user or group %s", memberID)
	}
	return f(tx, g, member)
}

// PermanentlyDeleteUser deletes a soft-deleted user for good (see
// [Tx.PermanentlyDeleteUser]); a user not in the deleted items is an error,
// as on Graph.
func (d *Directory) PermanentlyDeleteUser(id string) error {
	tx := d.Lock()
	defer tx.Unlock()
	if !tx.PermanentlyDeleteUser(id) {
		return fmt.Errorf("devtenant: no deleted user %s", id)
	}
	return nil
}

// DeletedUsers returns a copy of the users in the deleted items.
func (d *Directory) DeletedUsers() []DeletedUser {
	tx := d.Lock()
	defer tx.Unlock()
	return copies(tx.DeletedUsers())
}
