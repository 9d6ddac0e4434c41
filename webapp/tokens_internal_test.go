package webapp

import (
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// TestForgetTokensDropsTheAccountsMemo: sign-out drops every memoized token
// of the account (all scope sets) and no other account's.
func TestForgetTokensDropsTheAccountsMemo(t *testing.T) {
	a := &App{}
	a.memo, _ = lru.New[string, memoToken](10)
	a.forgotten, _ = lru.New[string, time.Time](10)
	exp := time.Now().Add(time.Hour)
	adele := &SessionUser{}
	adele.Account.HomeAccountID = "oid-a.tid"
	megan := &SessionUser{}
	megan.Account.HomeAccountID = "oid-m.tid"
	a.memo.Add(memoKey(adele, []string{"User.Read"}), memoToken{"a1", exp})
	a.memo.Add(memoKey(adele, []string{"User.Read", "User.Read.All"}), memoToken{"a2", exp})
	a.memo.Add(memoKey(megan, []string{"User.Read"}), memoToken{"m1", exp})

	a.forgetTokens(adele.Account.HomeAccountID)

	if a.memo.Contains(memoKey(adele, []string{"User.Read"})) || a.memo.Contains(memoKey(adele, []string{"User.Read", "User.Read.All"})) {
		t.Error("a token of the signed-out account is still memoized")
	}
	if !a.memo.Contains(memoKey(megan, []string{"User.Read"})) {
		t.Error("another account's token was dropped")
	}
	if at, ok := a.forgotten.Get(adele.Account.HomeAccountID); !ok || time.Since(at) > time.Minute {
		t.Error("the sign-out time is not remembered, so an in-flight request could memoize again")
	}
}
