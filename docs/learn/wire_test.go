package learn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
)

// What the examples send and read on the wire, with net/http only, where a
// topic is about the requests themselves rather than a library's calls.

// authorizeURL is the tenant's authorize endpoint with q.
func (d *tenant) authorizeURL(q url.Values) string {
	return d.srv.Authority() + "/oauth2/v2.0/authorize?" + q.Encode()
}

// redeem POSTs form to the token endpoint, with an Origin header when
// origin is set (a browser's fetch). Entra's error answer is returned as
// an *entra.AADSTSError.
func (d *tenant) redeem(form url.Values, origin string) (map[string]any, error) {
	req, err := http.NewRequest(http.MethodPost, d.srv.Authority()+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	must(err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		if e, ok := entra.ParseTokenError(resp.StatusCode, body); ok {
			return nil, e
		}
		return nil, fmt.Errorf("token endpoint: %s", resp.Status)
	}
	var tok map[string]any
	return tok, json.Unmarshal(body, &tok)
}

// get GETs u with a bearer token (none when token is empty) and decodes a
// JSON answer into a map.
func (d *tenant) get(u, token string) (int, map[string]any) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	must(err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.client.Do(req)
	must(err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// graph GETs path (/v1.0/me) from the Graph emulator with token.
func (d *tenant) graph(path, token string) (int, map[string]any) {
	return d.get(d.srv.GraphURL()+path, token)
}

// claimsOf decodes a JWT's payload without verifying it: anyone holding a
// token can read it (topic 08).
func claimsOf(jwt string) map[string]any {
	return jwtPart(jwt, 1)
}

// headerOf decodes a JWT's header.
func headerOf(jwt string) map[string]any {
	return jwtPart(jwt, 0)
}

func jwtPart(jwt string, i int) map[string]any {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		panic("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	must(err)
	var m map[string]any
	must(json.Unmarshal(b, &m))
	return m
}

// tamper returns jwt with old replaced by new in its payload, header and
// signature kept: what an attacker who edits a token produces.
func tamper(jwt, old, new string) string {
	parts := strings.Split(jwt, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(err)
	parts[1] = base64.RawURLEncoding.EncodeToString(bytes.ReplaceAll(payload, []byte(old), []byte(new)))
	return strings.Join(parts, ".")
}

// unsigned returns jwt's payload under an "alg": "none" header with no
// signature (RFC 7519 §6): the oldest JWT attack.
func unsigned(jwt string) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return header + "." + strings.Split(jwt, ".")[1] + "."
}

// keys returns m's keys, sorted.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// aadsts names the Entra error in err ("AADSTS54005"): from the token
// endpoint, an authorize redirect, or a dev tenant error page.
func aadsts(err error) string {
	var ae *entra.AADSTSError
	var pe *devtenant.PageError
	switch {
	case err == nil:
		return "no error"
	case errors.As(entra.FromMSAL(err), &ae):
		return fmt.Sprintf("%s AADSTS%d", ae.Err, ae.Code)
	case errors.As(err, &pe):
		return fmt.Sprintf("AADSTS%d (error page)", pe.Code)
	}
	return "not an Entra error: " + err.Error()
}

// reasons are entra's reasons for refusing a token, most specific first.
var reasons = []error{
	entra.ErrMalformedToken, entra.ErrUnsupportedAlg, entra.ErrUnknownKey, entra.ErrInvalidSignature,
	entra.ErrInvalidIssuer, entra.ErrInvalidAudience, entra.ErrTokenExpired, entra.ErrTokenNotYetValid,
	entra.ErrNonceMismatch, entra.ErrWrongTokenType, entra.ErrInsufficientScope, entra.ErrMissingClaim,
}

// reason says why a validator refused a token, or "accepted".
func reason(err error) string {
	if err == nil {
		return "accepted"
	}
	for _, r := range reasons {
		if errors.Is(err, r) {
			return "refused: " + strings.TrimPrefix(r.Error(), "entra: ")
		}
	}
	return "failed: " + err.Error()
}
