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
}

// Change is one entry of the change log: kind 'u' (user) or 'g' (group).
type Change struct {
	Seq  uint64
	Kind byte
	ID   string
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
	d.users, d.groups = newPersonas(d.domain, randomPassword)
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
	d.initManagedIdentities()
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
	return Tx{d}
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

// DeleteUser removes a user, from its groups too; delta reports it removed.
func (tx Tx) DeleteUser(id string) {
	d := tx.d
	if u := d.users[id]; u != nil {
		delete(d.upn, strings.ToLower(u.UserPrincipalName))
	}
	delete(d.users, id)
	for i, uid := range d.log.userOrder {
		if uid == id {
			d.log.userOrder[i] = "" // a tombstone keeps skip tokens valid
		}
	}
	for _, g := range d.groups {
		for i, m := range g.Members {
			if m == id {
				g.Members = append(g.Members[:i:i], g.Members[i+1:]...)
				tx.Changed('g', g.ID)
				break
			}
		}
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
	if tx.UserByUPN(u.UserPrincipalName) != nil {
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

// DeleteUser removes a user from the directory.
func (d *Directory) DeleteUser(id string) error {
	return d.withUser(id, func(tx Tx, _ *User) { tx.DeleteUser(strings.ToLower(id)) })
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
