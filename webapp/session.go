package webapp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
)

// Session is the server-side state of one browser. The browser holds only
// its opaque id, in the __Host- session cookie; everything else stays here,
// sealed.
type Session struct {
	ID       string    `json:"-"`
	CSRF     string    `json:"csrf"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	// User is nil until the browser signs in.
	User *SessionUser `json:"user,omitempty"`
	// Reauth remembers the last time a page sent the browser back through
	// sign-in, to stop a loop when a new token does not help either.
	Reauth *Reauth `json:"reauth,omitempty"`

	version uint64 // store version, for compare-and-set
	dirty   bool
}

// SessionUser is the signed-in user. Users are identified by TenantID +
// ObjectID; Issuer + Subject are what a refreshed ID token must repeat.
type SessionUser struct {
	ObjectID string               `json:"oid"`
	TenantID string               `json:"tid"`
	Issuer   string               `json:"iss"`
	Subject  string               `json:"sub"`
	Name     string               `json:"name"`
	Username string               `json:"username"`
	Roles    []string             `json:"roles,omitempty"`
	Account  confidential.Account `json:"account"`
	// Claims are the ID token's claims as issued, for /claims.
	Claims   json.RawMessage `json:"claims"`
	SignedIn time.Time       `json:"signed_in"`
	// Scopes consented so far (beyond the sign-in ones), for display.
	Scopes []string `json:"scopes,omitempty"`
}

// Reauth is one trip back through sign-in that a page started.
type Reauth struct {
	Path   string    `json:"path"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Handled is set when the page succeeded after the trip.
	Handled bool `json:"handled,omitempty"`
}

// pendingSignIn is a sign-in transaction with what the callback needs
// besides it.
type pendingSignIn struct {
	Txn *entra.Transaction `json:"txn"`
	// PriorSession is the session the browser had when it started: it is
	// deleted at the callback (whose form_post does not carry the Lax
	// session cookie), so a fixed id dies with the new sign-in.
	PriorSession string `json:"prior_session,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// sessions keeps sessions and sign-in transactions in a tokencache.Store
// (memory, or Redis shared by instances). Store keys are hashes of the
// cookie values, and every value is sealed with the key ring under its own
// key as additional data: a store dump reveals neither cookies nor tokens,
// and a value moved to another key does not open.
type sessions struct {
	store    tokencache.Store
	keys     *tokencache.KeyRing
	idle     time.Duration
	absolute time.Duration
	now      func() time.Time
	// decoded keeps recently opened sessions by store key, with the store
	// version they were read at: when the store still holds that version,
	// the blob is not opened and decoded again. The store is always read,
	// so a session ended or changed elsewhere is never served from here.
	decoded *lru.Cache[string, decodedSession]
	// signIns holds the tombstones of used sign-in transactions when set
	// (the default memory setup); otherwise they share store (Redis:
	// shared by instances, each expiring on its own). The transactions
	// themselves live in their cookies, sealed.
	signIns tokencache.Store
}

func (s *sessions) txnStore() tokencache.Store {
	if s.signIns != nil {
		return s.signIns
	}
	return s.store
}

type decodedSession struct {
	version uint64
	s       Session
}

var errNoSession = errors.New("webapp: no such session")

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func storeKey(kind, id string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + id))
	return kind + ":" + base64.RawURLEncoding.EncodeToString(h[:])
}

// validID: 32 random bytes in base64url, nothing else reaches the store.
func validID(id string) bool {
	if len(id) != 43 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// New starts an anonymous session (not stored until saved).
func (s *sessions) New() *Session {
	now := s.now()
	return &Session{ID: newID(), CSRF: newID(), Created: now, LastSeen: now, dirty: true}
}

// Load returns the session with id, or errNoSession if there is none, it
// does not open, or it timed out (idle or absolute). A session sealed with
// a key this instance lacks stays in the store, and the error wraps
// tokencache.ErrUnknownKey as well.
func (s *sessions) Load(ctx context.Context, id string) (*Session, error) {
	if !validID(id) {
		return nil, errNoSession
	}
	key := storeKey("session", id)
	blob, v, err := s.store.Get(ctx, key)
	if errors.Is(err, tokencache.ErrNotFound) {
		s.forget(key)
		return nil, errNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("webapp: session store: %w", err)
	}
	var sess *Session
	if d, ok := s.cached(key); ok && d.version == v {
		cp := d.s
		if cp.Reauth != nil {
			r := *cp.Reauth
			cp.Reauth = &r
		}
		sess = &cp
	} else {
		plain, kid, err := s.keys.Open(key, blob)
		if errors.Is(err, tokencache.ErrUnknownKey) {
			// Sealed with a key this replica lacks (a rolling key
			// rotation): a miss here, kept for the replicas that hold it.
			return nil, fmt.Errorf("%w: sealed with key %s: %w", errNoSession, kid, err)
		}
		if err != nil {
			// Fails authentication under a key held here (or is not an
			// envelope): no replica can open it.
			_ = s.store.Delete(ctx, key)
			return nil, errNoSession
		}
		sess = &Session{ID: id, version: v}
		if err := json.Unmarshal(plain, sess); err != nil {
			_ = s.store.Delete(ctx, key)
			return nil, errNoSession
		}
		s.remember(key, sess)
	}
	now := s.now()
	if now.Sub(sess.LastSeen) > s.idle || now.Sub(sess.Created) > s.absolute {
		_ = s.store.Delete(ctx, key)
		return nil, errNoSession
	}
	// LastSeen is written at most once a minute: a store write per request
	// would cost more than the idle timeout's precision is worth.
	if now.Sub(sess.LastSeen) > time.Minute {
		sess.LastSeen = now
		sess.dirty = true
	}
	return sess, nil
}

// Save writes the session if it changed, with compare-and-set; a
// concurrent save of the same session is merged, not overwritten.
func (s *sessions) Save(ctx context.Context, sess *Session) error {
	if !sess.dirty {
		return nil
	}
	key := storeKey("session", sess.ID)
	plain, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	ttl := min(s.idle, s.absolute-s.now().Sub(sess.Created))
	if ttl <= 0 {
		return errNoSession
	}
	v, err := s.store.Put(ctx, key, s.keys.Seal(key, plain), sess.version, ttl)
	if errors.Is(err, tokencache.ErrConflict) {
		// Another request of this browser saved first: merge, so neither
		// write is lost (the later LastSeen; the newer Reauth, or the
		// same one marked handled), and write the result over theirs.
		blob, cur, gerr := s.store.Get(ctx, key)
		if gerr != nil {
			return fmt.Errorf("webapp: session store: %w", gerr)
		}
		if open, _, oerr := s.keys.Open(key, blob); oerr == nil {
			var theirs Session
			if json.Unmarshal(open, &theirs) == nil {
				merged := *sess
				if theirs.LastSeen.After(merged.LastSeen) {
					merged.LastSeen = theirs.LastSeen
				}
				if r := theirs.Reauth; r != nil && (merged.Reauth == nil || r.At.After(merged.Reauth.At) ||
					r.At.Equal(merged.Reauth.At) && r.Handled) {
					merged.Reauth = r
				}
				if plain, err = json.Marshal(&merged); err != nil {
					return err
				}
				sess.LastSeen, sess.Reauth = merged.LastSeen, merged.Reauth
			}
		}
		v, err = s.store.Put(ctx, key, s.keys.Seal(key, plain), cur, ttl)
	}
	if err != nil {
		return fmt.Errorf("webapp: session store: %w", err)
	}
	sess.version, sess.dirty = v, false
	s.remember(key, sess)
	return nil
}

func (s *sessions) cached(key string) (decodedSession, bool) {
	if s.decoded == nil {
		return decodedSession{}, false
	}
	return s.decoded.Get(key)
}

func (s *sessions) remember(key string, sess *Session) {
	if s.decoded == nil {
		return
	}
	cp := *sess
	if cp.Reauth != nil {
		r := *cp.Reauth
		cp.Reauth = &r
	}
	cp.dirty = false
	s.decoded.Add(key, decodedSession{version: sess.version, s: cp})
}

func (s *sessions) forget(key string) {
	if s.decoded != nil {
		s.decoded.Remove(key)
	}
}

// Delete ends a session.
func (s *sessions) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return nil
	}
	s.forget(storeKey("session", id))
	return s.store.Delete(ctx, storeKey("session", id))
}

// maxSignInCookie bounds a sealed transaction cookie's value: browsers
// keep about 4096 bytes per cookie, name and attributes included.
const maxSignInCookie = 3800

var errSignInTooLarge = errors.New("webapp: sign-in transaction too large for a cookie")

// SealSignIn seals a transaction into the value of its own cookie, under
// the store key of its state as additional data (a value moved to another
// state's cookie does not open). /signin stores nothing: a flood of
// anonymous sign-ins fills no store and pushes out no one's sign-in.
func (s *sessions) SealSignIn(p *pendingSignIn) (string, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	v := base64.RawURLEncoding.EncodeToString(s.keys.Seal(storeKey("signin", p.Txn.State), plain))
	if len(v) > maxSignInCookie {
		return "", errSignInTooLarge
	}
	return v, nil
}

// TakeSignIn opens the transaction sealed in the cookie value of state and
// makes sure no other caller, on any instance, gets it too: a tombstone is
// created under its state with compare-and-set (create only, O(1)) before
// it is returned; one already there means it was used. A transaction
// sealed with a key this instance lacks is not consumed, and the error
// wraps tokencache.ErrUnknownKey.
func (s *sessions) TakeSignIn(ctx context.Context, state, sealed string) (*pendingSignIn, error) {
	if !validID(state) || len(sealed) > maxSignInCookie {
		return nil, errNoSession
	}
	blob, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return nil, errNoSession
	}
	key := storeKey("signin", state)
	// Opened before it is consumed: a replica without the key it was
	// sealed with (a rolling key rotation) leaves it to one that has it.
	plain, kid, err := s.keys.Open(key, blob)
	if errors.Is(err, tokencache.ErrUnknownKey) {
		return nil, fmt.Errorf("webapp: sign-in transaction sealed with key %s: %w", kid, err)
	}
	if err != nil {
		return nil, errNoSession
	}
	var p pendingSignIn
	if err := json.Unmarshal(plain, &p); err != nil || p.Txn == nil || p.Txn.State != state {
		return nil, errNoSession
	}
	// Kept until the transaction has expired on its own (then Complete
	// refuses it whatever the store says).
	ttl := max(p.Txn.Expires.Sub(s.now())+time.Minute, time.Minute)
	if _, err := s.txnStore().Put(ctx, key, nil, 0, ttl); err != nil {
		if errors.Is(err, tokencache.ErrConflict) {
			return nil, entra.ErrTransactionUsed
		}
		return nil, fmt.Errorf("webapp: session store: %w", err)
	}
	return &p, nil
}

// Ping checks the store is reachable (a read of a key never written).
func (s *sessions) Ping(ctx context.Context) error {
	_, _, err := s.store.Get(ctx, "readyz")
	if err == nil || errors.Is(err, tokencache.ErrNotFound) {
		return nil
	}
	return err
}

// RedisSessionStore opens the Redis at url (redis://host:port/db) as a
// session store shared by instances. Sessions are read from Redis on every
// request, with no memory layer: a sign-out on one instance ends the
// session on all of them at once.
func RedisSessionStore(url string) (tokencache.Store, func() error, error) {
	opts, err := tokencache.RedisOptions(url)
	if err != nil {
		return nil, nil, err
	}
	client := redis.NewClient(opts)
	return tokencache.NewRedisStore(client, "entrakit:web:"), client.Close, nil
}
