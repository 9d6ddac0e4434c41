package devtenant_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkTokenIssuance compares a whole client-credentials token request
// through the handler with the RSA-2048 signature it must make. The
// client-credentials sub-benchmark reports rate-vs-rsa-sign: its rate as a
// fraction of raw signing's (goal >= 0.9).
func BenchmarkTokenIssuance(b *testing.B) {
	srv := startTenant(b)
	h := srv.Handler()
	body := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {daemonAppID},
		"client_secret": {srv.ClientSecret(daemonAppID)},
		"scope":         {"https://graph.microsoft.com/.default"},
	}.Encode()
	tokenPath := "/" + srv.TenantID() + "/oauth2/v2.0/token"
	request := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, tokenPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	first := request()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(first.Body.Bytes(), &tok); err != nil || first.Code != http.StatusOK {
		b.Fatalf("token request: %d %s", first.Code, first.Body)
	}
	signingInput := []byte(tok.AccessToken[:strings.LastIndexByte(tok.AccessToken, '.')])
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	key.Precompute()

	var rawNs float64
	b.Run("rsa-sign", func(b *testing.B) {
		for b.Loop() {
			d := sha256.Sum256(signingInput)
			if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:]); err != nil {
				b.Fatal(err)
			}
		}
		rawNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("client-credentials", func(b *testing.B) {
		for b.Loop() {
			if rec := request(); rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if rawNs > 0 {
			b.ReportMetric(rawNs/ns, "rate-vs-rsa-sign")
		}
	})
}
