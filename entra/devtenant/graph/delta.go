package graph

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
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
	withMembers := true
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
	return deltaQuery{v: v, sel: sel, only: only, withMembers: withMembers, pageSize: pageSize}, true
}

// delta answers a delta query: a first round enumerates everything, then
// each round returns what changed since the previous deltaLink — updated
// objects in full, deleted ones as {"id", "@removed": {"reason":
// "deleted"}} — in pages linked by @odata.nextLink, ending with
// @odata.deltaLink. A page costs its own size: changes are read from the
// change log by position, never by scanning the directory.
func (s *Server) delta(w http.ResponseWriter, r *http.Request, kind byte, res resourceShape, set string, defaults []string) {
	dq, ok := parseDeltaQuery(w, r, kind, res)
	if !ok {
		return
	}
	v, sel, only, withMembers, pageSize := dq.v, dq.sel, dq.only, dq.withMembers, dq.pageSize
	tx := s.dir.Lock()
	defer tx.Unlock()
	var tok deltaToken
	switch {
	case v.Get("$skiptoken") != "":
		t, ok := decodeDeltaToken(v.Get("$skiptoken"), kind)
		if !ok {
			graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken.")
			return
		}
		tok = t
	case v.Get("$deltatoken") != "":
		t, ok := decodeDeltaToken(v.Get("$deltatoken"), kind)
		if !ok || t.to > tx.Seq() {
			graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid $deltatoken: start a new delta round.")
			return
		}
		tok = deltaToken{kind: kind, from: t.to, to: tx.Seq()}
	default:
		tok = deltaToken{kind: kind, from: fullRound, to: tx.Seq()}
	}

	var items []string
	full := tok.from == fullRound
	if full {
		items = tx.UserOrder()
		if kind == 'g' {
			items = tx.GroupOrder()
		}
	} else {
		seen := map[string]bool{}
		lo, hi := int(min(tok.from, uint64(len(tx.Changes())))), int(min(tok.to, uint64(len(tx.Changes()))))
		for _, ch := range tx.Changes()[lo:hi] {
			if ch.Kind == kind && !seen[ch.ID] {
				seen[ch.ID] = true
				items = append(items, ch.ID)
			}
		}
	}
	page := make([]map[string]any, 0, min(pageSize, len(items)))
	i := tok.pos
	for ; i < len(items) && len(page) < pageSize; i++ {
		id := items[i]
		if id == "" || (only != nil && !only[id]) {
			continue
		}
		if o := deltaObject(tx, kind, id, sel, defaults, full, withMembers); o != nil {
			page = append(page, o)
		}
	}
	out := map[string]any{"@odata.context": contextURL(set, sel), "value": page}
	base := s.baseURL() + r.URL.Path + "?"
	keep := url.Values{}
	if len(sel) > 0 {
		keep.Set("$select", strings.Join(sel, ","))
	}
	if f := v.Get("$filter"); f != "" {
		keep.Set("$filter", f)
	}
	if i < len(items) {
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

// deltaObject is one delta entry; nil to skip (absent in a full round).
// Caller holds s.mu.
func deltaObject(tx directory.Tx, kind byte, id string, sel, defaults []string, full, withMembers bool) map[string]any {
	if kind == 'u' {
		if u := tx.User(id); u != nil {
			return project(userObject(tx, u), sel, defaults)
		}
	} else if g := tx.Group(id); g != nil {
		o := project(groupObject(tx, g), sel, defaults)
		if !withMembers {
			return o
		}
		members := make([]map[string]any, 0, len(g.Members))
		for _, m := range g.Members {
			t := "#microsoft.graph.user"
			if tx.Group(m) != nil {
				t = "#microsoft.graph.group"
			}
			members = append(members, map[string]any{"@odata.type": t, "id": m})
		}
		o["members@delta"] = members
		return o
	}
	if full {
		return nil
	}
	return map[string]any{"id": id, "@removed": map[string]string{"reason": "deleted"}}
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
