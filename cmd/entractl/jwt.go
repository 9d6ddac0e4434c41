package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/entrakit/entrakit/entra"
)

// maxJWT bounds a token read from an argument or stdin.
const maxJWT = 64 << 10

// decodedJWT is a JWT's header and claims, not verified.
type decodedJWT struct {
	Header map[string]any
	Claims map[string]any
	keys   []string // claim names in the token's order
}

// decodeJWT splits and decodes a compact JWS without verifying it.
func decodeJWT(raw string) (*decodedJWT, error) {
	raw = strings.TrimSpace(raw)
	raw = strings.TrimPrefix(raw, "Bearer ")
	parts := strings.Split(raw, ".")
	switch {
	case len(raw) > maxJWT:
		return nil, usagef("the token is %d bytes; a JWT from Entra is a few KB", len(raw))
	case len(parts) == 5:
		return nil, usagef("five parts: an encrypted JWT (JWE), which only its recipient can read")
	case len(parts) != 3:
		return nil, usagef("not a JWT: want three base64url parts separated by dots, got %d part(s)", len(parts))
	}
	d := &decodedJWT{}
	if err := decodePart(parts[0], &d.Header); err != nil {
		return nil, usagef("header: %v", err)
	}
	if err := decodePart(parts[1], &d.Claims); err != nil {
		return nil, usagef("payload: %v", err)
	}
	d.keys = orderedKeys(parts[1])
	return d, nil
}

func decodePart(part string, v *map[string]any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(part, "="))
	if err != nil {
		return errors.New("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil || *v == nil {
		return errors.New("not a JSON object")
	}
	return nil
}

// orderedKeys lists the top-level member names of an encoded JSON object in
// their order (the claims read best as the issuer wrote them).
func orderedKeys(part string) []string {
	b, _ := base64.RawURLEncoding.DecodeString(strings.TrimRight(part, "="))
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		if k, ok := t.(string); ok {
			keys = append(keys, k)
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

// readToken is the token argument, or stdin when it is "-" or absent.
func (c *cli) readToken(pos []string) (string, error) {
	if len(pos) > 1 {
		return "", usagef("one token at a time")
	}
	if len(pos) == 1 && pos[0] != "-" {
		return pos[0], nil
	}
	b, err := io.ReadAll(io.LimitReader(c.stdin, maxJWT+1))
	if err != nil {
		return "", err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "", usagef("no token: pass it as an argument or on stdin (entractl token | entractl jwt decode)")
	}
	return string(b), nil
}

func runJWT(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || (args[0] != "decode" && args[0] != "verify") {
		return usagef("want decode or verify")
	}
	fs := c.flags("jwt " + args[0])
	audience := fs.String("audience", "", "verify: the `aud` the token must carry (your API's client id or App ID URI); default: not checked")
	issuer := fs.String("issuer", "", "verify: the `issuer` to trust; default the token's own, when its discovery document names it")
	pos, err := c.parse(fs, args[1:])
	if err != nil {
		return err
	}
	raw, err := c.readToken(pos)
	if err != nil {
		return err
	}
	if args[0] == "decode" {
		return c.printDecoded(raw)
	}
	return c.verify(ctx, raw, *issuer, *audience)
}

// claimJSON is one claim in -o json.
type claimJSON struct {
	Name    string `json:"name"`
	Value   any    `json:"value"`
	Meaning string `json:"meaning"`
	Time    string `json:"time,omitempty"`
}

func (c *cli) printDecoded(raw string) error {
	d, err := decodeJWT(raw)
	if err != nil {
		return err
	}
	claims := make([]claimJSON, 0, len(d.keys))
	for _, k := range d.keys {
		cl := claimJSON{Name: k, Value: d.Claims[k], Meaning: entra.ClaimMeaning(k)}
		if k == "exp" || k == "nbf" || k == "iat" || k == "auth_time" {
			if n, ok := d.Claims[k].(json.Number); ok {
				if sec, err := n.Int64(); err == nil {
					cl.Time = time.Unix(sec, 0).UTC().Format(time.RFC3339)
				}
			}
		}
		claims = append(claims, cl)
	}
	if c.output == "json" {
		return c.printJSON(map[string]any{"header": d.Header, "claims": claims, "note": tokenNote(d)})
	}
	fmt.Fprintln(c.stdout, "Header (not verified):")
	for _, k := range sortedKeys(d.Header) {
		fmt.Fprintf(c.stdout, "  %-5s %s\n", printable(k), printable(fmt.Sprint(d.Header[k])))
	}
	fmt.Fprintln(c.stdout, "Claims (not verified: entractl jwt verify checks the signature):")
	for _, cl := range claims {
		v := fmt.Sprint(cl.Value)
		if b, err := json.Marshal(cl.Value); err == nil && !strings.HasPrefix(string(b), `"`) {
			v = string(b)
		}
		v = printable(v)
		if cl.Time != "" {
			v += " (" + cl.Time + ")"
		}
		fmt.Fprintf(c.stdout, "  %-18s %s\n  %18s   %s\n", printable(cl.Name), v, "", cl.Meaning)
	}
	if n := tokenNote(d); n != "" {
		fmt.Fprintln(c.stdout, n)
	}
	return nil
}

// printable quotes s when it holds anything a terminal would act on (escape
// sequences in a hostile token's claims), and leaves plain text as is.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// tokenNote says what kind of token this is, in a sentence or two.
func tokenNote(d *decodedJWT) string {
	_, hasNonce := d.Claims["nonce"]
	_, hasScp := d.Claims["scp"]
	_, headerNonce := d.Header["nonce"]
	var kind string
	switch {
	case hasNonce:
		kind = "An ID token: it tells the app who signed in. Never send it to an API as a bearer token."
	case hasScp:
		kind = "A delegated access token: the app acts for the signed-in user, within the scopes in scp."
	case d.Claims["roles"] != nil || d.Claims["idtyp"] == "app":
		kind = "An app-only access token (client credentials): the app acts as itself, with the roles in roles."
	}
	if headerNonce {
		kind = strings.TrimSpace(kind + " " + graphNote)
	}
	return kind
}

const graphNote = "A Microsoft Graph access token: its signature covers a hash of the header's nonce, so only Graph can verify it. Apps never validate tokens meant for Graph."

// verify checks the token against its issuer's keys and says why not.
func (c *cli) verify(ctx context.Context, raw, issuer, audience string) error {
	d, err := decodeJWT(raw)
	if err != nil {
		return err
	}
	if _, ok := d.Header["nonce"]; ok {
		return &exitError{exitUnverified, errors.New("not verified: " + strings.TrimSuffix(graphNote, "."))}
	}
	iss, _ := d.Claims["iss"].(string)
	pinned := issuer != ""
	if !pinned {
		issuer = iss
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return &exitError{exitUnverified, fmt.Errorf("not verified: the issuer %q is not an https URL to discover keys from", issuer)}
	}
	// A token names its own issuer: trusting it as given would let anyone
	// host discovery and keys for a token they signed. Without --issuer,
	// only the configured authority's host is trusted.
	if authority, _ := url.Parse(c.cloud().AuthorityHost); !pinned && !strings.EqualFold(u.Host, authority.Host) {
		return &exitError{exitUnverified, fmt.Errorf("not verified: the token's issuer %s is not on the configured authority %s (AZURE_AUTHORITY_HOST); pass --issuer %s to trust it", u.Host, authority.Host, issuer)}
	}
	if !strings.HasSuffix(issuer, "/v2.0") {
		return &exitError{exitUnverified, fmt.Errorf("not verified: %q is not a v2.0 issuer; entractl verifies v2.0 tokens (ask for them with accessTokenAcceptedVersion 2)", issuer)}
	}
	hc, err := c.client()
	if err != nil {
		return err
	}
	// The authority is the issuer without /v2.0: its discovery document
	// must name exactly this issuer, and gives the keys.
	cfg := entra.Config{Cloud: entra.Cloud{Name: "custom", AuthorityHost: u.Scheme + "://" + u.Host + "/"},
		TenantID: strings.Trim(strings.TrimSuffix(u.Path, "/v2.0"), "/"), ClientID: "00000000-0000-0000-0000-000000000000"}
	v, _, err := entra.DiscoverValidator(ctx, cfg, hc)
	if err != nil {
		return &exitError{exitUnverified, fmt.Errorf("not verified: cannot read the issuer's discovery document: %v", err)}
	}
	v.Audiences = d.audiences()
	if audience != "" {
		v.Audiences = []string{audience}
	}
	claims, err := v.Validate(ctx, raw)
	result := map[string]any{"verified": err == nil, "issuer": v.Issuer, "audienceChecked": audience != ""}
	if err != nil {
		result["reason"] = err.Error()
		if c.output == "json" {
			_ = c.printJSON(result)
		}
		return &exitError{exitUnverified, fmt.Errorf("not verified: %v%s", err, hint(err))}
	}
	result["subject"], result["tenantId"], result["expires"] = claims.Subject, claims.TenantID, time.Unix(claims.Expiry, 0).UTC()
	if c.output == "json" {
		return c.printJSON(result)
	}
	fmt.Fprintf(c.stdout, "Verified: signed with a key of %s, issuer and lifetime good (expires %s).\n",
		v.Issuer, time.Unix(claims.Expiry, 0).UTC().Format(time.RFC3339))
	if audience == "" {
		fmt.Fprintln(c.stdout, "The audience was not checked: an API must also check aud is itself (--audience).")
	}
	return nil
}

// audiences are the token's own aud values (verify without --audience).
func (d *decodedJWT) audiences() []string {
	switch a := d.Claims["aud"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// hint explains a validation failure in a sentence.
func hint(err error) string {
	switch {
	case errors.Is(err, entra.ErrTokenExpired):
		return " — get a new one (entractl token refreshes it from the cache)"
	case errors.Is(err, entra.ErrInvalidSignature):
		return " — the signature does not match the issuer's key: the token was changed, or signed by someone else"
	case errors.Is(err, entra.ErrUnknownKey):
		return " — no key of the issuer has this kid: another issuer's token, or a key rotated away"
	case errors.Is(err, entra.ErrInvalidAudience):
		return " — the token is for another app or API"
	case errors.Is(err, entra.ErrInvalidIssuer):
		return " — the token comes from another tenant or authority"
	case errors.Is(err, entra.ErrUnsupportedAlg):
		return " — Entra signs with RS256; anything else (none, HS256) is an attack"
	}
	return ""
}

// writeIndentedJSON writes a JSON body indented, or as is when it is not JSON.
func writeIndentedJSON(w io.Writer, body []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, body, "", "  ") != nil {
		w.Write(body)
		fmt.Fprintln(w)
		return
	}
	buf.WriteByte('\n')
	w.Write(buf.Bytes())
}
