package graph

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// deltaToken is a position in a delta round: kind ('u' or 'g'), the index
// of the next item, and the change sequence the round starts after (from;
// 0 = a full enumeration) and reaches (to). Opaque to clients.
// fullRound marks a delta round that enumerates everything.
const fullRound = ^uint64(0) >> 1

type deltaToken struct {
	kind     byte
	pos      int
	from, to uint64
}

func (t deltaToken) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("d%c:%d:%d:%d", t.kind, t.pos, t.from, t.to)))
}

func decodeDeltaToken(s string, kind byte) (deltaToken, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 3 || b[0] != 'd' || b[1] != kind || b[2] != ':' {
		return deltaToken{}, false
	}
	parts := strings.Split(string(b[3:]), ":")
	if len(parts) != 3 {
		return deltaToken{}, false
	}
	pos, e1 := strconv.Atoi(parts[0])
	from, e2 := strconv.ParseUint(parts[1], 10, 64)
	to, e3 := strconv.ParseUint(parts[2], 10, 64)
	if e1 != nil || e2 != nil || e3 != nil || pos < 0 || (from > to && from != fullRound) {
		return deltaToken{}, false
	}
	return deltaToken{kind, pos, from, to}, true
}

func (s *Server) graphUsersDelta(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	s.delta(w, r, 'u', userShape, "users", userDefaultProps)
}

func (s *Server) graphGroupsDelta(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	s.delta(w, r, 'g', groupShape, "groups", groupDefaultProps)
}

// deltaQuery is a delta request's query options.
type deltaQuery struct {
	v           url.Values
	sel         []string
	only        map[string]bool // $filter=id eq '...' [or id eq '...']
	withMembers bool            // members@delta unless a $select leaves members out
	pageSize    int
}

// parseDeltaQuery reads a delta request's options, or answers Graph's 400
// (ok false).
func parseDeltaQuery(w http.ResponseWriter, r *http.Request, kind byte, res resourceShape) (dq deltaQuery, ok bool) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid query string.")
		return dq, false
	}
	var sel []string
	var only map[string]bool
	withMembers, expandMembers := true, false
	for k, vals := range v {
		switch k {
		case "$filter":
			f, qerr := parseFilter(vals[0], res)
			if qerr != nil {
				graphError(w, r, http.StatusBadRequest, qerr.code, qerr.msg)
				return dq, false
			}
			ids, ok := idEquality(f)
			if !ok {
				graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query filter on a delta query: only id eq '...' (optionally or-ed).")
				return dq, false
			}
			only = ids
		case "$select":
			// Groups delta may select the members navigation property
			// (members@delta); it is not a property of the resource shape.
			selv := vals[0]
			withMembers = false
			if kind == 'g' {
				var keep []string
				for _, p := range strings.Split(selv, ",") {
					if strings.EqualFold(strings.TrimSpace(p), "members") {
						withMembers = true
						continue
					}
					keep = append(keep, p)
				}
				selv = strings.Join(keep, ",")
			}
			q, qerr := parseODataQuery("$select="+url.QueryEscape(selv), false, res)
			if qerr != nil {
				graphError(w, r, http.StatusBadRequest, qerr.code, qerr.msg)
				return dq, false
			}
			sel = q.selectProps
		case "$expand":
			// Groups delta may expand members instead of selecting them.
			if kind != 'g' || !strings.EqualFold(vals[0], "members") {
				graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query option '$expand="+vals[0]+"' on a delta query: only members, on groups.")
				return dq, false
			}
			expandMembers = true
		case "$deltatoken", "$skiptoken":
		default:
			graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query option '"+k+"' on a delta query: only $select, $deltatoken and $skiptoken.")
			return dq, false
		}
	}
	pageSize := 100
	if p := r.Header.Get("Prefer"); strings.Contains(p, "odata.maxpagesize=") {
		n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(strings.SplitN(p, "odata.maxpagesize=", 2)[1], ",", 2)[0]))
		if err == nil && n > 0 {
			pageSize = min(n, 999)
		}
	}
	return deltaQuery{v: v, sel: sel, only: only, withMembers: withMembers || expandMembers, pageSize: pageSize}, true
}

// delta answers a delta query: a first round enumerates everything, then
// each round returns what changed since the previous deltaLink — updated
// objects in full, deleted ones as {"id", "@removed": {"reason": …}}
// ("changed" while a user is in the deleted items, "deleted" once it is
// gone for good), groups with the members that joined or left — in pages
// linked by @odata.nextLink, ending with @odata.deltaLink.
// $deltatoken=latest answers no objects and a deltaLink for now. A page
// costs its own size, plus a scan of the round's changes.
func (s *Server) delta(w http.ResponseWriter, r *http.Request, kind byte, res resourceShape, set string, defaults []string) {
	dq, ok := parseDeltaQuery(w, r, kind, res)
	if !ok {
		return
	}
	tx := dirOf(r).Lock()
	defer tx.Unlock()
	tok, ok := deltaPosition(w, r, tx, dq.v, kind)
	if !ok {
		return
	}
	round := roundOf(tx, kind, tok)
	page := make([]map[string]any, 0, min(dq.pageSize, len(round.ids)))
	i := tok.pos
	for ; i < len(round.ids) && len(page) < dq.pageSize; i++ {
		id := round.ids[i]
		if id == "" || (dq.only != nil && !dq.only[id]) {
			continue
		}
		if o := round.object(tx, id, dq, defaults); o != nil {
			page = append(page, o)
		}
	}
	out := map[string]any{"@odata.context": contextURL(set, dq.sel), "value": page}
	base := s.baseURL() + r.URL.Path + "?"
	// The links carry the round's query: its $select (members included,
	// or members@delta would stop), $expand and $filter.
	keep := url.Values{}
	if sel := dq.sel; len(sel) > 0 {
		if dq.withMembers && dq.v.Get("$expand") == "" {
			sel = append(slices.Clip(sel), "members")
		}
		keep.Set("$select", strings.Join(sel, ","))
	}
	for _, k := range []string{"$expand", "$filter"} {
		if v := dq.v.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	if i < len(round.ids) {
		next := tok
		next.pos = i
		keep.Set("$skiptoken", next.encode())
		out["@odata.nextLink"] = base + strings.ReplaceAll(keep.Encode(), "%24", "$")
	} else {
		keep.Set("$deltatoken", deltaToken{kind: kind, to: tok.to}.encode())
		out["@odata.deltaLink"] = base + strings.ReplaceAll(keep.Encode(), "%24", "$")
	}
	graphJSON(w, http.StatusOK, out)
}

// deltaPosition is where a delta request stands: a page of a round
// ($skiptoken), the start of the next round ($deltatoken), a first round,
// or (ok with an empty round) $deltatoken=latest; Graph's 400 otherwise.
func deltaPosition(w http.ResponseWriter, r *http.Request, tx directory.Tx, v url.Values, kind byte) (deltaToken, bool) {
	switch {
	case v.Get("$skiptoken") != "":
		t, ok := decodeDeltaToken(v.Get("$skiptoken"), kind)
		if !ok {
			graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken.")
		}
		return t, ok
	case v.Get("$deltatoken") == "latest":
		// https://learn.microsoft.com/graph/delta-query-overview: no
		// objects, only a deltaLink for the current state.
		return deltaToken{kind: kind, from: tx.Seq(), to: tx.Seq()}, true
	case v.Get("$deltatoken") != "":
		t, ok := decodeDeltaToken(v.Get("$deltatoken"), kind)
		if !ok || t.to > tx.Seq() {
			graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid $deltatoken: start a new delta round.")
			return deltaToken{}, false
		}
		return deltaToken{kind: kind, from: t.to, to: tx.Seq()}, true
	}
	return deltaToken{kind: kind, from: fullRound, to: tx.Seq()}, true
}

// deltaRound is what a round reports: the ids in order and, for groups,
// each group's member changes (the last one of each member wins).
type deltaRound struct {
	kind    byte
	full    bool
	ids     []string
	members map[string][]memberChange
}

type memberChange struct {
	id   string
	left bool
}

// roundOf reads the round tok is in from the change log: every object for a
// first round, else the objects changed in (from, to].
func roundOf(tx directory.Tx, kind byte, tok deltaToken) deltaRound {
	round := deltaRound{kind: kind, full: tok.from == fullRound}
	if round.full {
		round.ids = tx.UserOrder()
		if kind == 'g' {
			round.ids = tx.GroupOrder()
		}
		return round
	}
	changes := tx.Changes()
	lo, hi := int(min(tok.from, uint64(len(changes)))), int(min(tok.to, uint64(len(changes))))
	seen := map[string]bool{}
	at := map[[2]string]int{} // {group, member} -> index in members[group]
	for _, ch := range changes[lo:hi] {
		if ch.Kind != kind {
			continue
		}
		if !seen[ch.ID] {
			seen[ch.ID] = true
			round.ids = append(round.ids, ch.ID)
		}
		if ch.Member == "" {
			continue
		}
		if round.members == nil {
			round.members = map[string][]memberChange{}
		}
		key := [2]string{ch.ID, ch.Member}
		if i, ok := at[key]; ok {
			round.members[ch.ID][i].left = ch.Left
			continue
		}
		at[key] = len(round.members[ch.ID])
		round.members[ch.ID] = append(round.members[ch.ID], memberChange{ch.Member, ch.Left})
	}
	return round
}

// object is one delta entry; nil to skip (an object gone before a first
// round lists it). Caller holds tx.
func (round deltaRound) object(tx directory.Tx, id string, dq deltaQuery, defaults []string) map[string]any {
	if round.kind == 'u' {
		if u := tx.User(id); u != nil {
			return project(userObject(tx, u), dq.sel, defaults)
		}
	} else if g := tx.Group(id); g != nil {
		o := project(groupObject(tx, g), dq.sel, defaults)
		if dq.withMembers {
			round.addMembers(tx, g, o)
		}
		return o
	}
	if round.full {
		return nil
	}
	// https://learn.microsoft.com/graph/api/user-delta: "changed" while the
	// user can still be restored from the deleted items, "deleted" after.
	reason := "deleted"
	if round.kind == 'u' && tx.DeletedUser(id) != nil {
		reason = "changed"
	}
	return map[string]any{"id": id, "@removed": map[string]string{"reason": reason}}
}

// addMembers sets members@delta on group object o: every member in a first
// round, the members that joined or left (with @removed) since the last one
// in later rounds; absent when there are none, as Graph leaves it
// (https://learn.microsoft.com/graph/delta-query-groups).
func (round deltaRound) addMembers(tx directory.Tx, g *directory.Group, o map[string]any) {
	changes := round.members[g.ID]
	if round.full {
		changes = make([]memberChange, 0, len(g.Members))
		for _, m := range g.Members {
			changes = append(changes, memberChange{id: m})
		}
	}
	if len(changes) == 0 {
		return
	}
	members := make([]map[string]any, 0, len(changes))
	for _, m := range changes {
		t := "#microsoft.graph.user"
		if tx.Group(m.id) != nil {
			t = "#microsoft.graph.group"
		}
		entry := map[string]any{"@odata.type": t, "id": m.id}
		if m.left {
			entry["@removed"] = map[string]string{"reason": "deleted"}
		}
		members = append(members, entry)
	}
	o["members@delta"] = members
}

// idEquality reads a filter made only of id eq '...' joined by or.
func idEquality(f filterExpr) (map[string]bool, bool) {
	switch e := f.(type) {
	case cmpExpr:
		if e.prop != "id" || (e.op != "eq" && e.op != "in") {
			return nil, false
		}
		out := map[string]bool{}
		for _, v := range e.vals {
			s, ok := v.(string)
			if !ok {
				return nil, false
			}
			out[strings.ToLower(s)] = true
		}
		return out, true
	case orExpr:
		l, ok1 := idEquality(e.l)
		r, ok2 := idEquality(e.r)
		if !ok1 || !ok2 {
			return nil, false
		}
		for k := range r {
			l[k] = true
		}
		return l, true
	}
	return nil, false
}
