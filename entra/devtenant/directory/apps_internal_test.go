package directory

import "testing"

func TestLoopbackMatch(t *testing.T) {
	tests := []struct {
		registered, got string
		want            bool
	}{
		{"http://localhost:8080/auth/callback", "http://localhost:8080/auth/callback", true},
		{"http://localhost:8080/auth/callback", "http://localhost:41234/auth/callback", true},
		{"http://localhost/auth/callback", "http://localhost:41234/auth/callback", true},
		{"http://localhost", "http://localhost:5000/", true},
		{"http://127.0.0.1:8080/cb", "http://127.0.0.1:1/cb", true},
		{"http://localhost:8080/auth/callback", "http://localhost:8080/auth/callback/", false},
		{"http://localhost:8080/auth/callback", "http://localhost:8080/AUTH/callback", false},
		{"http://localhost:8080/auth/callback", "http://127.0.0.1:8080/auth/callback", false},
		{"http://localhost:8080/auth/callback", "https://localhost:8080/auth/callback", false},
		{"https://localhost:8443/auth/callback", "https://localhost:9443/auth/callback", false},
		{"http://localhost:8080/auth/callback", "http://localhost.evil.example:8080/auth/callback", false},
		{"http://localhost:8080/auth/callback", "http://user@localhost:8080/auth/callback", false},
		{"http://localhost:8080/auth/callback", "http://localhost:8080/auth/callback?x=1", false},
		{"http://localhost:8080/auth/callback", "http://localhost:80a/auth/callback", false},
		{"http://example.com:8080/cb", "http://example.com:9090/cb", false},
	}
	for _, tt := range tests {
		if got := LoopbackMatch(tt.registered, tt.got); got != tt.want {
			t.Errorf("LoopbackMatch(%q, %q) = %v, want %v", tt.registered, tt.got, got, tt.want)
		}
	}
}
