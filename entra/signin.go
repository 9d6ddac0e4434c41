package entra

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"golang.org/x/oauth2"
)

// SignIn runs the OIDC authorization code flow with PKCE for a confidential
// client (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1) — the half MSAL Go leaves
// to the application: state, nonce and PKCE in the authorize request; state
// checked, code redeemed with the verifier, and the ID token validated
// (signature, iss, aud, exp, nonce, tid) before anyone is signed in.
type SignIn struct {
	// Client is the MSAL confidential client (NewConfidentialClient).
	Client confidential.Client
	// Config is the app; its ClientID, RedirectURI and authority are used.
	Config Config
	// Validator checks the ID token (NewValidator).
	Validator *Validator
	// Lifetime of a transaction; default 10 minutes (Entra's code lifetime).
	Lifetime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu        sync.Mutex
	completed map[string]time.Time // states already completed, until they expire
	// expiries are the completed states in completion order: the sweep pops
	// expired ones from the front, so a callback costs O(1) amortized
	// instead of a scan of every completed state.
	expiries []completedState
}

type completedState struct {
	state   string
	expires time.Time
}

// BeginOptions are the optional parts of an authorize request.
type BeginOptions struct {
	// Scopes to consent to and get a token for; openid, profile and
	// offline_access are always requested too.
	Scopes []string
	// ReturnTo is where to send the user afterwards; only a local path is
	// accepted (SafeReturnPath), anything else becomes "/".
	ReturnTo string
	// Prompt: "", "login", "none", "consent" or "select_account".
	Prompt     string
	LoginHint  string
	DomainHint string
	// Claims is a claims request, e.g. from a claims challenge (CAE).
	Claims string
	// FormPost asks for response_mode=form_post (the code never appears in
	// a URL); the callback must accept POST, and the transaction cookie
	// needs SameSite=None.
	FormPost bool
}

// Transaction is one sign-in in progress. The caller stores it server-side
// (bound to the browser, e.g. by a short-lived cookie holding State) and
// hands it back to Complete. It serializes to JSON for shared stores.
type Transaction struct {
	State        string    `json:"state"`
	Nonce        string    `json:"nonce"`
	CodeVerifier string    `json:"code_verifier"`
	RedirectURI  string    `json:"redirect_uri"`
	Scopes       []string  `json:"scopes"`
	ReturnTo     string    `json:"return_to"`
	Claims       string    `json:"claims,omitempty"`
	Issuer       string    `json:"issuer"` // expected issuer (mix-up defence)
	Expires      time.Time `json:"expires"`
}

// Identity is the signed-in user, from a validated ID token. Identify users
// by TenantID + ObjectID, never by Username or Email.
type Identity struct {
	ObjectID      string
	TenantID      string
	Name          string
	Username      string
	Email         string
	Roles         []string
	Groups        []string
	GroupsOverage bool // too many groups for the token: read them from Graph
	Claims        *Claims
}

// SignInResult is what Complete returns.
type SignInResult struct {
	Identity Identity
	Account  confidential.Account
	// IDToken is the raw ID token, for id_token_hint at sign-out. Keep it
	// server-side.
	IDToken string
	// ReturnTo is the transaction's safe local return path.
	ReturnTo string
}

// Errors of a sign-in transaction.
var (
	ErrStateMismatch      = errors.New("entra: sign-in: state mismatch")
	ErrTransactionExpired = errors.New("entra: sign-in: transaction expired")
	ErrTransactionUsed    = errors.New("entra: sign-in: transaction already completed")
	ErrNoCode             = errors.New("entra: sign-in: no authorization code in the callback")
)

// Begin starts a sign-in: it returns the URL to send the browser to, and
// the transaction to keep server-side until the callback.
func (s *SignIn) Begin(ctx context.Context, o BeginOptions) (string, *Transaction, error) {
	if s.Config.RedirectURI == "" {
		return "", nil, errors.New("entra: sign-in: Config.RedirectURI is required")
	}
	switch o.Prompt {
	case "", "login", "none", "consent", "select_account":
	default:
		return "", nil, fmt.Errorf("entra: sign-in: unknown prompt %q", o.Prompt)
	}
	now := s.now()
	lifetime := s.Lifetime
	if lifetime == 0 {
		lifetime = 10 * time.Minute
	}
	txn := &Transaction{
		State:        randomToken(),
		Nonce:        randomToken(),
		CodeVerifier: oauth2.GenerateVerifier(), // 32 random bytes, RFC 7636 §4.1
		RedirectURI:  s.Config.RedirectURI,
		Scopes:       append([]string(nil), o.Scopes...),
		ReturnTo:     SafeReturnPath(o.ReturnTo),
		Claims:       o.Claims,
		Issuer:       s.Validator.Issuer,
		Expires:      now.Add(lifetime),
	}
	var opts []confidential.AuthCodeURLOption
	if o.LoginHint != "" {
		opts = append(opts, confidential.WithLoginHint(o.LoginHint))
	}
	if o.DomainHint != "" {
		opts = append(opts, confidential.WithDomainHint(o.DomainHint))
	}
	if o.Claims != "" {
		opts = append(opts, confidential.WithClaims(o.Claims))
	}
	// MSAL's AuthCodeURL does not add the OIDC scopes (only the code
	// redemption does): without openid this would not be an OpenID Connect
	// request, and the nonce would bind nothing.
	scopes := append(append([]string(nil), txn.Scopes...), "openid", "profile", "offline_access")
	authURL, err := s.Client.AuthCodeURL(ctx, s.Config.ClientID, s.Config.RedirectURI, scopes, opts...)
	if err != nil {
		return "", nil, fmt.Errorf("entra: sign-in: %w", err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return "", nil, fmt.Errorf("entra: sign-in: %w", err)
	}
	q := u.Query()
	q.Set("state", txn.State)
	q.Set("nonce", txn.Nonce)
	q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(txn.CodeVerifier))
	q.Set("code_challenge_method", "S256")
	if o.Prompt != "" {
		q.Set("prompt", o.Prompt)
	}
	if o.FormPost {
		q.Set("response_mode", "form_post")
	}
	u.RawQuery = q.Encode()
	return u.String(), txn, nil
}

// Complete finishes a sign-in with the callback's parameters (the query, or
// the form_post body). The transaction is consumed whatever the outcome.
func (s *SignIn) Complete(ctx context.Context, txn *Transaction, callback url.Values) (*SignInResult, error) {
	if txn == nil {
		return nil, ErrStateMismatch
	}
	now := s.now()
	if err := s.consume(txn, now); err != nil {
		return nil, err
	}
	got := callback.Get("state")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(txn.State)) != 1 {
		return nil, ErrStateMismatch
	}
	if callback.Get("error") != "" {
		return nil, AuthorizeError(callback)
	}
	code := callback.Get("code")
	if code == "" {
		return nil, ErrNoCode
	}
	opts := []confidential.AcquireByAuthCodeOption{confidential.WithChallenge(txn.CodeVerifier)}
	if txn.Claims != "" {
		opts = append(opts, confidential.WithClaims(txn.Claims))
	}
	res, err := s.Client.AcquireTokenByAuthCode(ctx, code, txn.RedirectURI, txn.Scopes, opts...)
	if err != nil {
		return nil, fmt.Errorf("entra: sign-in: redeeming the code: %w", FromMSAL(err))
	}
	v := *s.Validator
	v.Issuer = txn.Issuer
	claims, err := v.ValidateIDToken(ctx, res.IDToken.RawToken, txn.Nonce)
	if err != nil {
		return nil, fmt.Errorf("entra: sign-in: id token: %w", err)
	}
	// MSAL's realm is the authority's tenant as configured: compare it
	// only when that is a tenant id (not common, organizations or a domain).
	if !strings.EqualFold(claims.ObjectID, res.Account.LocalAccountID) ||
		(IsGUID(res.Account.Realm) && !strings.EqualFold(claims.TenantID, res.Account.Realm)) {
		return nil, refuse(ErrInvalidToken, "the ID token's oid/tid do not match the account MSAL cached")
	}
	return &SignInResult{Identity: identityOf(claims), Account: res.Account, IDToken: res.IDToken.RawToken, ReturnTo: txn.ReturnTo}, nil
}

// consume enforces single use and expiry. Completed states are remembered
// until they expire, so a replayed callback fails even if the caller's store
// handed the transaction out twice.
func (s *SignIn) consume(txn *Transaction, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.completed == nil {
		s.completed = map[string]time.Time{}
	}
	// Lifetimes are equal, so completion order is (near enough) expiry
	// order; a state that outlives the front waits one more sweep.
	for len(s.expiries) > 0 && now.After(s.expiries[0].expires) {
		if exp, ok := s.completed[s.expiries[0].state]; ok && !now.Before(exp) {
			delete(s.completed, s.expiries[0].state)
		}
		s.expiries = s.expiries[1:]
	}
	if _, done := s.completed[txn.State]; done {
		return ErrTransactionUsed
	}
	s.completed[txn.State] = txn.Expires
	s.expiries = append(s.expiries, completedState{txn.State, txn.Expires})
	if now.After(txn.Expires) {
		return ErrTransactionExpired
	}
	return nil
}

func (s *SignIn) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func identityOf(c *Claims) Identity {
	username := c.PreferredUsername
	if username == "" {
		username = c.UPN
	}
	return Identity{
		ObjectID: c.ObjectID, TenantID: c.TenantID, Name: c.Name, Username: username, Email: c.Email,
		Roles: c.Roles, Groups: c.Groups, GroupsOverage: c.GroupsOverage, Claims: c,
	}
}

// SafeReturnPath returns p if it is a local absolute path that cannot leave
// the site, else "/". It refuses scheme-relative (//evil), backslash
// (/\evil), encoded or raw control characters, and anything with a scheme
// or host.
func SafeReturnPath(p string) string {
	if p == "" || p[0] != '/' || len(p) > 2048 {
		return "/"
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return "/"
	}
	lower := strings.ToLower(p)
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	// Encoded slashes, backslashes and controls decode to the forms above.
	for _, bad := range []string{"%2f", "%5c", "%09", "%0a", "%0b", "%0d", "%00"} {
		if strings.Contains(lower, bad) {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

// NewPublicClient builds an MSAL public client for cfg (CLIs: interactive
// and device code flows).
func NewPublicClient(cfg Config, o ClientOptions) (public.Client, error) {
	opts := append([]public.Option{public.WithAuthority(cfg.Authority()), public.WithInstanceDiscovery(cfg.Cloud.IsMicrosoftHost())},
		msalOptions(o, public.WithHTTPClient, public.WithCache, public.WithClientCapabilities)...)
	return public.New(cfg.ClientID, opts...)
}
