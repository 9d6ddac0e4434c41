package graphapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// MaxBatchSteps is Graph's limit of requests in one JSON batch.
const MaxBatchSteps = 20

// BatchStep is one request of a JSON batch.
type BatchStep struct {
	// ID names the step in DependsOn and in the results; unique in the
	// batch. Default: its position, from "1".
	ID string
	// Request comes from a request builder of the SDK, e.g.
	// c.Graph().Me().ToGetRequestInformation(ctx, nil).
	Request *abs.RequestInformation
	// DependsOn lists the IDs of earlier steps that must succeed first;
	// when one fails, Graph answers this step 424 Failed Dependency.
	DependsOn []string
}

// BatchResult is Graph's answer to one step.
type BatchResult struct {
	ID      string
	Status  int
	Headers map[string]string
	Body    json.RawMessage // the JSON body; nil when there is none
	Err     error           // for a status >= 400: *Error, *ThrottledError...
}

// Decode reads a result's body as an SDK model, e.g.
// r.Decode(models.CreateUserFromDiscriminatorValue).
func (r BatchResult) Decode(ctor absser.ParsableFactory) (absser.Parsable, error) {
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.Body) == 0 {
		return nil, fmt.Errorf("graphapi: batch step %s: no body", r.ID)
	}
	node, err := absser.DefaultParseNodeFactoryInstance.GetRootParseNode("application/json", r.Body)
	if err != nil {
		return nil, fmt.Errorf("graphapi: batch step %s: %w", r.ID, err)
	}
	return node.GetObjectValue(ctor)
}

// Batch sends up to MaxBatchSteps requests in one POST /$batch, with the
// SDK's batch model, and returns their results in the order of steps (Graph
// answers in any order). The error is for the batch as a whole; each step's
// own failure is in its BatchResult.Err.
func (c *Client) Batch(ctx context.Context, steps []BatchStep) ([]BatchResult, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	if len(steps) > MaxBatchSteps {
		return nil, fmt.Errorf("graphapi: batch of %d steps: Graph takes at most %d", len(steps), MaxBatchSteps)
	}
	adapter := c.graph.GetAdapter()
	batch := msgraphcore.NewBatchRequest(adapter)
	ids := make([]string, len(steps))
	seen := map[string]bool{}
	for i, s := range steps {
		if s.Request == nil {
			return nil, fmt.Errorf("graphapi: batch step %d: nil Request", i+1)
		}
		id := s.ID
		if id == "" {
			id = strconv.Itoa(i + 1)
		}
		if seen[id] {
			return nil, fmt.Errorf("graphapi: batch: duplicate step id %q", id)
		}
		for _, d := range s.DependsOn {
			if !seen[d] {
				return nil, fmt.Errorf("graphapi: batch step %q depends on %q, which is not an earlier step", id, d)
			}
		}
		seen[id] = true
		ids[i] = id
		item, err := batch.AddBatchRequestStep(*s.Request)
		if err != nil {
			return nil, fmt.Errorf("graphapi: batch step %q: %w", id, err)
		}
		item.SetId(&ids[i])
		item.SetDependsOn(append([]string{}, s.DependsOn...))
	}

	// The SDK's BatchRequest.Send maps no error body; send it the same way
	// with Graph's error model.
	req := abs.NewRequestInformation()
	req.Method = abs.POST
	req.UrlTemplate = "{+baseurl}/$batch"
	req.Headers.Add("Accept", "application/json")
	if err := req.SetContentFromParsable(ctx, adapter, "application/json", batch); err != nil {
		return nil, fmt.Errorf("graphapi: batch: %w", err)
	}
	res, err := adapter.Send(ctx, req, msgraphcore.CreateBatchResponseDiscriminator,
		abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
	if err != nil {
		return nil, c.MapError(err)
	}
	resp, ok := res.(msgraphcore.BatchResponse)
	if !ok || resp == nil {
		return nil, errors.New("graphapi: batch: empty response")
	}
	byID := map[string]msgraphcore.BatchItem{}
	for _, item := range resp.GetResponses() {
		if id := item.GetId(); id != nil {
			byID[*id] = item
		}
	}
	out := make([]BatchResult, len(steps))
	for i, id := range ids {
		out[i] = c.batchResult(id, byID[id])
	}
	return out, nil
}

func (c *Client) batchResult(id string, item msgraphcore.BatchItem) BatchResult {
	r := BatchResult{ID: id}
	if item == nil || item.GetStatus() == nil {
		r.Err = fmt.Errorf("graphapi: batch step %q: no response", id)
		return r
	}
	r.Status = int(*item.GetStatus())
	r.Headers = item.GetHeaders()
	if body := item.GetBody(); body != nil {
		// The SDK keeps JSON leaves as pointers; Marshal follows them.
		if b, err := json.Marshal(map[string]any(body)); err == nil {
			r.Body = b
		}
	}
	if r.Status >= 400 {
		h := http.Header{}
		for k, v := range r.Headers {
			h.Set(k, v)
		}
		ge := &Error{Status: r.Status}
		var e struct {
			Error struct {
				Code       string `json:"code"`
				Message    string `json:"message"`
				InnerError struct {
					RequestID       string `json:"request-id"`
					ClientRequestID string `json:"client-request-id"`
				} `json:"innerError"`
			} `json:"error"`
		}
		if json.Unmarshal(r.Body, &e) == nil {
			ge.Code, ge.Message = e.Error.Code, e.Error.Message
			ge.RequestID, ge.ClientRequestID = e.Error.InnerError.RequestID, e.Error.InnerError.ClientRequestID
		}
		r.Err = c.typed(ge, h)
	}
	return r
}
