package tokencache

import (
	"encoding/json"
	"strconv"
)

// mergeBlobs merges two MSAL cache blobs of one partition after a
// compare-and-set conflict: the union of every section's entries; for an
// entry both hold, ours (just written) wins, except access tokens, where the
// one expiring later wins. Refresh tokens of one account share a key, and
// Entra keeps an older refresh token valid, so keeping either loses nothing.
func mergeBlobs(theirs, ours []byte) ([]byte, error) {
	var t, o map[string]json.RawMessage
	if err := json.Unmarshal(theirs, &t); err != nil {
		return ours, nil // theirs is unreadable: ours stands
	}
	if err := json.Unmarshal(ours, &o); err != nil {
		return nil, err
	}
	for section, traw := range t {
		oraw, ok := o[section]
		if !ok {
			o[section] = traw
			continue
		}
		var ts, os map[string]json.RawMessage
		if json.Unmarshal(traw, &ts) != nil || json.Unmarshal(oraw, &os) != nil {
			continue // not a map section: keep ours
		}
		for k, tv := range ts {
			ov, both := os[k]
			if !both || (section == "AccessToken" && expiresOn(tv) > expiresOn(ov)) {
				os[k] = tv
			}
		}
		merged, err := json.Marshal(os)
		if err != nil {
			return nil, err
		}
		o[section] = merged
	}
	return json.Marshal(o)
}

func expiresOn(raw json.RawMessage) int64 {
	var at struct {
		ExpiresOn json.RawMessage `json:"expires_on"`
	}
	if json.Unmarshal(raw, &at) != nil {
		return 0
	}
	s := string(at.ExpiresOn)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
