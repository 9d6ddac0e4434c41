package webapp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrakit/entrakit/graphapi"
)

// TestForgetTokensDropsTheAccountsMemo: sign-out drops every memoized token
// of the account (all scope sets) and no other account's.
func TestForgetTokensDropsTheAccountsMemo(t *testing.T) {
	tk := newUserTokens(nil, nil)
	exp := time.Now().Add(time.Hour)
	adele := &SessionUser{}
	adele.Account.HomeAccountID = "oid-a.tid"
	megan := &SessionUser{}
	megan.Account.HomeAccountID = "oid-m.tid"
	tk.memo.Add(memoKey(adele, []string{"User.Read"}), memoToken{"a1", exp})
	tk.memo.Add(memoKey(adele, []string{"User.Read", "User.Read.All"}), memoToken{"a2", exp})
	tk.memo.Add(memoKey(megan, []string{"User.Read"}), memoToken{"m1", exp})

	tk.forget(adele.Account.HomeAccountID)

	if tk.memo.Contains(memoKey(adele, []string{"User.Read"})) || tk.memo.Contains(memoKey(adele, []string{"User.Read", "User.Read.All"})) {
		t.Error("a token of the signed-out account is still memoized")
	}
	if !tk.memo.Contains(memoKey(megan, []string{"User.Read"})) {
		t.Error("another account's token was dropped")
	}
	if at, ok := tk.forgotten.Get(adele.Account.HomeAccountID); !ok || time.Since(at) > time.Minute {
		t.Error("the sign-out time is not remembered, so an in-flight request could memoize again")
	}
}

// TestGraphCallsNeedAUser: the app's Graph client has no token of its own;
// a call that does not name the session user's credential (graphCall's
// view) fails before anything is sent.
func TestGraphCallsNeedAUser(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"u1"}`))
	}))
	defer srv.Close()
	g, err := graphapi.New(signedInOnly{}, graphapi.Options{BaseURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Me(t.Context()); err == nil || !strings.Contains(err.Error(), "without a signed-in user") {
		t.Errorf("a Graph call with no user's credential: err = %v", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("Graph saw %d requests, want none", n)
	}
}
