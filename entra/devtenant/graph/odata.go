package graph

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// odataQuery is a parsed OData query, limited to what Graph supports for the
// resources emulated; anything else is Graph's 400, never silence.
type odataQuery struct {
	selectProps []string
	top         int
	filter      filterExpr
	countParam  bool // $count=true was asked
	count       bool // and is answered (@odata.count): ConsistencyLevel: eventual too
	search      searchExpr
	orderBy     string
	desc        bool
	skipToken   string
	expand      *expandManager
	eventual    bool // ConsistencyLevel: eventual (advanced queries)
}

// matchSearch reports whether obj matches the query's $search (if any).
func (q *odataQuery) matchSearch(obj map[string]any) bool {
	return q.search == nil || q.search.match(obj)
}

// matches reports whether obj passes the query's $filter and $search.
func (q *odataQuery) matches(obj map[string]any) bool {
	return (q.filter == nil || q.filter.eval(obj)) && q.matchSearch(obj)
}

type queryError struct{ code, msg string }

func (e *queryError) Error() string { return e.msg }

func badQuery(format string, args ...any) *queryError {
	return &queryError{"Request_BadRequest", fmt.Sprintf(format, args...)}
}

// parseODataQuery reads $select, $top, $filter, $count, $search, $orderby,
// $expand and $skiptoken for a resource with the given properties, and
// holds them to Graph's rules for advanced queries.
func parseODataQuery(raw string, eventual bool, res resourceShape) (*odataQuery, *queryError) {
	return parseQuery(raw, eventual, false, res)
}

// parseQuery is parseODataQuery; countSegment is a request for .../$count,
// which counts as $count=true.
func parseQuery(raw string, eventual, countSegment bool, res resourceShape) (*odataQuery, *queryError) {
	q := &odataQuery{top: res.defaultTop, eventual: eventual}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badQuery("Invalid query string.")
	}
	seenOpt := map[string]bool{}
	for k, v := range values {
		if len(v) > 1 || seenOpt[strings.ToLower(k)] {
			return nil, badQuery("Query option '%s' was specified more than once, but it must be specified at most once.", k)
		}
		seenOpt[strings.ToLower(k)] = true
		if qerr := q.setOption(k, v[0], res); qerr != nil {
			return nil, qerr
		}
	}
	// Later pages: the SDK's page iterator follows @odata.nextLink without
	// the ConsistencyLevel header; the first page was held to the rules.
	if qerr := q.checkAdvanced(eventual || q.skipToken != "", countSegment); qerr != nil {
		return nil, qerr
	}
	// Without ConsistencyLevel: eventual, Graph ignores $count=true.
	q.count = q.countParam && eventual
	return q, nil
}

// checkAdvanced applies Graph's rules for advanced queries on directory
// objects (https://learn.microsoft.com/graph/aad-advanced-queries): $search
// needs ConsistencyLevel: eventual; ne, not, endsWith, null values, the
// properties indexed only for advanced queries, and $filter with $orderby
// need it and $count=true as well. Graph's own messages.
func (q *odataQuery) checkAdvanced(eventual, countSegment bool) *queryError {
	if q.search != nil && !eventual {
		return &queryError{"Request_UnsupportedQuery", "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'"}
	}
	advanced := eventual && (q.countParam || countSegment)
	if advanced {
		return nil
	}
	if q.filter != nil {
		if qerr := q.filter.needsAdvanced(); qerr != nil {
			return qerr
		}
		if q.orderBy != "" {
			return &queryError{"Request_UnsupportedQuery", "Sorting not supported for current query."}
		}
	}
	return nil
}

// setOption reads one query option, name=val, into q.
func (q *odataQuery) setOption(name, val string, res resourceShape) (err *queryError) {
	switch strings.ToLower(name) {
	case "$select":
		for _, p := range strings.Split(val, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			canon, ok := res.props[strings.ToLower(p)]
			if !ok {
				return badQuery("Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, res.odataType)
			}
			q.selectProps = append(q.selectProps, canon)
		}
	case "$top":
		n, nerr := strconv.Atoi(val)
		if nerr != nil || n < 1 || n > res.maxTop {
			return badQuery("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", val, res.maxTop)
		}
		q.top = n
	case "$filter":
		q.filter, err = parseFilter(val, res)
	case "$count":
		switch val {
		case "true":
			q.countParam = true
		case "false":
		default:
			return badQuery("Invalid value '%s' for $count: true or false.", val)
		}
	case "$search":
		q.search, err = parseSearch(val, res)
	case "$orderby":
		f := strings.Fields(val)
		if len(f) == 0 || len(f) > 2 || (len(f) == 2 && f[1] != "asc" && f[1] != "desc") {
			return badQuery("Invalid $orderby expression '%s'.", val)
		}
		canon, ok := res.props[strings.ToLower(f[0])]
		if !ok || !res.sortable[canon] {
			return &queryError{"Request_UnsupportedQuery", fmt.Sprintf("Unsupported sort property '%s' for '%s'.", f[0], res.entityName())}
		}
		q.orderBy, q.desc = canon, len(f) == 2 && f[1] == "desc"
	case "$skiptoken":
		q.skipToken = val
	case "$deltatoken":
	case "$expand":
		if !res.expandManager {
			return &queryError{"Request_UnsupportedQuery", fmt.Sprintf("Query option '%s' is not supported by the dev tenant for this resource.", name)}
		}
		q.expand, err = parseExpandManager(val)
	case "$skip", "$format", "$apply", "$compute":
		return &queryError{"Request_UnsupportedQuery", fmt.Sprintf("Query option '%s' is not supported by the dev tenant for this resource.", name)}
	default:
		if strings.HasPrefix(name, "$") {
			return badQuery("Unrecognized query option '%s'.", name)
		}
	}
	return err
}

// resourceShape says what a collection's objects look like to OData.
type resourceShape struct {
	odataType  string
	props      map[string]string // lower -> canonical
	filterable map[string]bool   // canonical
	sortable   map[string]bool
	// advancedOnly are filterable only in advanced queries (Graph indexes
	// them in its separate store).
	advancedOnly  map[string]bool
	expandManager bool // $expand=manager (users)
	defaultTop    int
	maxTop        int
}

// entityName is the type as Graph's messages name it: 'User', 'Group'.
func (r resourceShape) entityName() string {
	return strings.ToUpper(r.odataType[:1]) + r.odataType[1:]
}

func shape(odataType string, defaultTop, maxTop int, props []string, filterable, sortable []string) resourceShape {
	r := resourceShape{odataType: odataType, props: map[string]string{}, filterable: map[string]bool{}, sortable: map[string]bool{},
		defaultTop: defaultTop, maxTop: maxTop}
	for _, p := range props {
		r.props[strings.ToLower(p)] = p
	}
	for _, p := range filterable {
		r.filterable[p] = true
	}
	for _, p := range sortable {
		r.sortable[p] = true
	}
	return r
}

// skip tokens are opaque to clients: base64url of "kind:position:seq".
func encodeSkipToken(kind string, pos int, seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(pos) + ":" + strconv.FormatUint(seq, 10)))
}

func decodeSkipToken(tok, kind string) (pos int, seq uint64, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, 0, false
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != kind {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(parts[1])
	q, err2 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || p < 0 {
		return 0, 0, false
	}
	return p, q, true
}

// skipStart is where a page starts: 0, or the position in q's $skiptoken of
// kind; an invalid token is answered with Graph's 400 (ok false).
func skipStart(w http.ResponseWriter, r *http.Request, q *odataQuery, kind string) (int, bool) {
	if q.skipToken == "" {
		return 0, true
	}
	p, _, ok := decodeSkipToken(q.skipToken, kind)
	if !ok {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken.")
	}
	return p, ok
}

// requestQuery parses r's OData query options for res (advanced queries
// with ConsistencyLevel: eventual); on error it answers Graph's 400 and
// ok is false.
func requestQuery(w http.ResponseWriter, r *http.Request, res resourceShape) (q *odataQuery, ok bool) {
	q, qerr := parseODataQuery(r.URL.RawQuery, r.Header.Get("ConsistencyLevel") == "eventual", res)
	if qerr != nil {
		graphError(w, r, http.StatusBadRequest, qerr.code, qerr.msg)
		return nil, false
	}
	return q, true
}

// pagedQuery is requestQuery for a collection paged with kind's skip
// tokens, and the position its page starts at.
func pagedQuery(w http.ResponseWriter, r *http.Request, res resourceShape, kind string) (*odataQuery, int, bool) {
	q, ok := requestQuery(w, r, res)
	if !ok {
		return nil, 0, false
	}
	start, ok := skipStart(w, r, q, kind)
	return q, start, ok
}

// writeEntity answers one object of entitySet with the selected properties
// (or the defaults).
func writeEntity(w http.ResponseWriter, status int, entitySet string, obj map[string]any, sel, defaults []string) {
	out := project(obj, sel, defaults)
	out["@odata.context"] = contextURL(entitySet, sel) + "/$entity"
	graphJSON(w, status, out)
}
