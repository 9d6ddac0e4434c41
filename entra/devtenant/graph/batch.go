package graph

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

const maxBatchRequests = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body,omitempty"`
}

// graphBatch is JSON batching: at most 20 requests, run in order of their
// dependencies; a request whose dependency failed answers 424.
// https://learn.microsoft.com/graph/json-batching
func (s *Server) graphBatch(w http.ResponseWriter, r *http.Request, c *graphCaller) {
	raw, err := graphBody(r)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload: "+err.Error())
		return
	}
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	switch {
	case len(in.Requests) == 0:
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload: no requests.")
		return
	case len(in.Requests) > maxBatchRequests:
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload: the number of requests exceeds the limit of 20.")
		return
	}
	byID := map[string]*batchRequest{}
	for i := range in.Requests {
		rq := &in.Requests[i]
		if rq.ID == "" || byID[rq.ID] != nil {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload: request ids must be present and unique.")
			return
		}
		byID[rq.ID] = rq
	}
	for _, rq := range in.Requests {
		for _, d := range rq.DependsOn {
			if byID[d] == nil || d == rq.ID {
				graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload: request '"+rq.ID+"' depends on an unknown request '"+d+"'.")
				return
			}
		}
		if msg := rq.missingContentType(); msg != "" {
			graphError(w, r, http.StatusBadRequest, "BadRequest", msg)
			return
		}
	}
	status := map[string]int{}
	var out []batchResponse
	for len(out) < len(in.Requests) {
		progressed := false
		for i := range in.Requests {
			rq := &in.Requests[i]
			if _, done := status[rq.ID]; done {
				continue
			}
			ready, failed := true, false
			for _, d := range rq.DependsOn {
				st, done := status[d]
				if !done {
					ready = false
				} else if st >= 400 {
					failed = true
				}
			}
			if !ready {
				continue
			}
			progressed = true
			var resp batchResponse
			if failed {
				resp = batchResponse{ID: rq.ID, Status: http.StatusFailedDependency, Headers: map[string]string{"Content-Type": "application/json"},
					Body: map[string]any{"error": map[string]string{"code": "FailedDependency", "message": "A request it depends on failed."}}}
			} else {
				resp = s.runBatchRequest(r.Context(), c, rq)
			}
			status[rq.ID] = resp.Status
			out = append(out, resp)
		}
		if !progressed {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload: the dependencies form a cycle.")
			return
		}
	}
	graphJSON(w, http.StatusOK, map[string]any{"responses": out})
}

// missingContentType is Graph's refusal of a write request (POST, PUT,
// PATCH) without a body or without a Content-Type header for it: the whole
// batch is answered 400, none of its requests runs. Captured from Graph:
// "Write request with id '1' does not contain a Content-Type header."
// (Softeria/ms-365-mcp-server#677, 2026) and, for a write without a body,
// "Write request id : … does not contain Content-Type header or body."
// (microsoftgraph/msgraph-sdk-dotnet#2628, 2024).
func (rq *batchRequest) missingContentType() string {
	switch strings.ToUpper(rq.Method) {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return ""
	}
	if len(rq.Body) == 0 || string(rq.Body) == "null" {
		return "Write request id : " + rq.ID + " does not contain Content-Type header or body."
	}
	for k, v := range rq.Headers {
		if strings.EqualFold(k, "Content-Type") && v != "" {
			return ""
		}
	}
	return "Write request with id '" + rq.ID + "' does not contain a Content-Type header."
}

func (s *Server) runBatchRequest(ctx context.Context, c *graphCaller, rq *batchRequest) batchResponse {
	path := rq.URL
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	var body *bytes.Reader
	if len(rq.Body) > 0 && string(rq.Body) != "null" {
		body = bytes.NewReader(rq.Body)
	} else {
		body = bytes.NewReader(nil)
	}
	method := strings.ToUpper(rq.Method)
	if method == "" {
		method = http.MethodGet
	}
	sub, err := http.NewRequestWithContext(context.WithValue(ctx, graphCallerKey{}, c), method, "/v1.0"+path, body)
	if err != nil || strings.ContainsAny(path, " \t\r\n") || strings.Contains(path, "://") || strings.HasPrefix(path, "//") {
		return batchResponse{ID: rq.ID, Status: http.StatusBadRequest, Headers: map[string]string{"Content-Type": "application/json"},
			Body: map[string]any{"error": map[string]string{"code": "BadRequest", "message": "Invalid request URL or method in the batch: URLs are relative to the version, e.g. /me."}}}
	}
	sub.RequestURI = sub.URL.RequestURI()
	for k, v := range rq.Headers {
		sub.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	// Each request of a batch counts against the app's budget on its own
	// (https://learn.microsoft.com/graph/throttling#throttling-and-batching):
	// a throttled one answers 429 with its Retry-After, the others run.
	if over, retry := s.spend(c.appID, s.cfg.Now()); over {
		rec.Header().Set("request-id", directory.NewObjectID())
		rec.Header().Set("client-request-id", rec.Header().Get("request-id"))
		tooManyRequests(rec, sub, retry)
	} else {
		s.handler.ServeHTTP(rec, sub)
	}
	resp := batchResponse{ID: rq.ID, Status: rec.Code, Headers: map[string]string{}}
	for k := range rec.Header() {
		switch strings.ToLower(k) {
		case "content-type":
			resp.Headers["Content-Type"] = rec.Header().Get(k) // the SDK reads this exact casing
		case "location", "retry-after", "etag":
			resp.Headers[k] = rec.Header().Get(k)
		}
	}
	if b := rec.Body.Bytes(); len(b) > 0 {
		var obj any
		if json.Unmarshal(b, &obj) == nil {
			resp.Body = obj
		} else {
			resp.Body = base64.StdEncoding.EncodeToString(b) // binary content, as Graph does
		}
	}
	return resp
}
