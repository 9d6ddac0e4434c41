package graphapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abs "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/entrakit/entrakit/entra"
)

// DefaultBaseURL is Microsoft Graph in the global cloud.
const DefaultBaseURL = "https://graph.microsoft.com"

// DefaultUserAgent is sent when Options.UserAgent is empty; kiota appends its
// own product token ("kiota-go/x.y.z").
const DefaultUserAgent = "entrakit-graphapi"

// Options configure a Client. The zero value talks to global Microsoft Graph.
type Options struct {
	// BaseURL is the Graph host without the version, e.g.
	// https://graph.microsoft.us or the dev tenant's GraphURL(). Default
	// DefaultBaseURL. The Authorization header is sent to this host only.
	BaseURL string
	// Scopes requested from the credential. Default: BaseURL + "/.default".
	// The dev tenant issues Graph tokens for https://graph.microsoft.com:
	// set Scopes to []string{"https://graph.microsoft.com/.default"} (or the
	// delegated scopes) when BaseURL is its GraphURL().
	Scopes []string
	// HTTPClient supplies the transport (TLS roots, proxy) and the overall
	// Timeout under kiota's middleware; its CheckRedirect and Jar are not
	// used (kiota follows redirects itself and drops Authorization on a host
	// change). Default: a clone of http.DefaultTransport and no Timeout
	// (bound calls with their context: a retry may wait up to 180 s).
	HTTPClient *http.Client
	// UserAgent precedes kiota's product token in User-Agent. Default
	// DefaultUserAgent.
	UserAgent string
	// MaxRetries bounds kiota's retries of 429, 503 and 504 (Retry-After
	// honoured, else exponential backoff from 3 s; 180 s in total at most).
	// 0 means kiota's default, 3; negative disables retries; at most 10.
	MaxRetries int
	// MaxRetryWait bounds the total time kiota's retries may wait, Retry-After
	// included: a 429 asking for longer is returned at once as a
	// *ThrottledError (whose RetryAfter the caller can honour or pass on).
	// Default 60 s; kiota's own cap is 180 s.
	MaxRetryWait time.Duration
	// Now is the clock for ExpiringCredentials and Retry-After dates;
	// default time.Now.
	Now func() time.Time
}

// ErrInvalidOptions is matched (errors.Is) by every error Validate returns.
var ErrInvalidOptions = errors.New("graphapi: invalid options")

// Validate reports every problem at once, each an *entra.FieldError
// matching ErrInvalidOptions.
func (o Options) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &entra.FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrInvalidOptions})
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		switch {
		case err != nil:
			add("BaseURL", "not a URL: %q", o.BaseURL)
		case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
			// Kiota's token provider refuses plain http except on loopback.
			add("BaseURL", "must be https (http only on loopback): %q", o.BaseURL)
		case u.Host == "":
			add("BaseURL", "has no host: %q", o.BaseURL)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			add("BaseURL", "must not carry user info, a query or a fragment: %q", o.BaseURL)
		case strings.TrimSuffix(u.Path, "/") != "":
			add("BaseURL", "is the host only, without /v1.0 or another path: %q", o.BaseURL)
		}
	}
	for i, s := range o.Scopes {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\r\n") {
			add(fmt.Sprintf("Scopes[%d]", i), "not a single scope: %q", s)
		}
	}
	if o.MaxRetries > 10 {
		add("MaxRetries", "kiota retries at most 10 times, not %d", o.MaxRetries)
	}
	if strings.ContainsAny(o.UserAgent, "\r\n") {
		add("UserAgent", "contains a line break")
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Client is a Microsoft Graph v1.0 client: msgraph-sdk-go-core's request
// adapter, wired to one Graph host, and typed helpers. It is safe for
// concurrent use.
type Client struct {
	adapter *msgraphcore.GraphRequestAdapterBase
	base    *url.URL // scheme and host of Graph, no path
	now     func() time.Time
	call    abs.RequestOption // a view's credential (WithCredential); nil: the one given to New
}

// New builds a Client that authenticates its requests with cred, or with
// the credential of a view (WithCredential).
//
// The SDK's NewGraphServiceClientWithCredentials allows only Microsoft's
// Graph hosts and sends requests to any other host (a sovereign cloud not in
// its list, a proxy, the dev tenant) without an Authorization header and
// without an error. New allows exactly the host of Options.BaseURL instead,
// and points the adapter at BaseURL + "/v1.0".
func New(cred azcore.TokenCredential, o Options) (*Client, error) {
	if cred == nil {
		return nil, errors.New("graphapi: nil credential")
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(o.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, _ := url.Parse(base) // validated
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = []string{base + "/.default"}
	}
	auth := &bearer{cred: cred, scopes: scopes, host: u.Hostname()}
	// What msgraphsdk.NewGraphRequestAdapter... and NewGraphServiceClient
	// build, with this client's own serializer registries and backing
	// store wrapping instead of kiota's process-wide ones.
	parse, write := serializers()
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, graphClientOptions(), parse, write, httpClient(o))
	if err != nil {
		return nil, fmt.Errorf("graphapi: %w", err)
	}
	adapter.SetBaseUrl(base + "/v1.0")
	adapter.EnableBackingStore(nil) // wraps the registries above; nil: no global written
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Client{adapter: adapter, base: u, now: now}, nil
}

// httpClient puts kiota's middleware, in a fixed order, in front of the
// caller's transport. (kiota-http-go builds its default list from a map, so
// its order changes from one client to the next.)
func httpClient(o Options) *http.Client {
	var rt http.RoundTripper
	var timeout time.Duration
	if o.HTTPClient != nil {
		rt, timeout = o.HTTPClient.Transport, o.HTTPClient.Timeout
	}
	if rt == nil {
		rt = khttp.GetDefaultTransport()
	}
	ua := o.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	clientOptions := graphClientOptions()
	retry := khttp.RetryHandlerOptions{
		MaxRetries: o.MaxRetries,
		ShouldRetry: func(waited time.Duration, attempt int, _ *http.Request, resp *http.Response) bool {
			if o.MaxRetries < 0 {
				return false
			}
			maxWait := o.MaxRetryWait
			if maxWait <= 0 {
				maxWait = 60 * time.Second
			}
			// kiota checks its cap before adding the next delay and then
			// sleeps the whole Retry-After: check the next delay here.
			now := time.Now
			if o.Now != nil {
				now = o.Now
			}
			ra := resp.Header.Get("Retry-After")
			next := retryAfter(ra, now())
			if next <= 0 && strings.TrimSpace(ra) != "" && strings.TrimSpace(ra) != "0" {
				return false // a Retry-After we cannot honour (over a day, malformed): give up now
			}
			if next <= 0 {
				next = time.Duration(3*(1<<attempt)) * time.Second // kiota's backoff without Retry-After
			}
			return waited+next <= maxWait
		},
	}
	middleware := []khttp.Middleware{
		msgraphcore.NewGraphTelemetryHandler(&clientOptions),           // SdkVersion, client-request-id
		khttp.NewUrlReplaceHandler(true, msgraphcore.ReplacementPairs), // /users/me-token-to-replace -> /me
		userAgent(ua),
		khttp.NewUserAgentHandler(),
		khttp.NewParametersNameDecodingHandler(), // %24select -> $select
		khttp.NewHeadersInspectionHandler(),      // sees the final response (Photo's Content-Type)
		closeDiscarded{khttp.NewRedirectHandler()},
		closeDiscarded{khttp.NewCompressionHandler()}, // gzip once; retries resend the same bytes
		closeDiscarded{khttp.NewRetryHandlerWithOptions(retry)},
	}
	return &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(rt, middleware...),
		// kiota's redirect handler follows redirects; net/http must not.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       timeout,
	}
}

// userAgent sets our product before kiota's UserAgentHandler appends its own.
type userAgent string

func (ua userAgent) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	req.Header.Set("User-Agent", string(ua))
	return p.Next(req, i)
}

// closeDiscarded closes the responses a resending middleware drops. kiota's
// retry, redirect and compression (415) handlers call the pipeline again
// without closing the previous response's body, which leaks its connection
// (HTTP/1.1) or stream (HTTP/2) on every retried 429.
type closeDiscarded struct{ khttp.Middleware }

func (m closeDiscarded) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	return m.Middleware.Intercept(&closingPipeline{Pipeline: p}, i, req)
}

// closingPipeline closes the previous response when the middleware sends
// the request again: that response is being discarded.
type closingPipeline struct {
	khttp.Pipeline
	prev *http.Response
}

func (p *closingPipeline) Next(req *http.Request, i int) (*http.Response, error) {
	if p.prev != nil && p.prev.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(p.prev.Body, 64<<10)) // lets the connection be reused
		p.prev.Body.Close()
	}
	resp, err := p.Pipeline.Next(req, i)
	p.prev = resp
	return resp, err
}

// sameHost reports whether link (an @odata.nextLink or deltaLink) is on the
// Graph host the client authenticates to. A link elsewhere would be sent
// without a token (the allowed-hosts check), so it is refused loudly.
func (c *Client) sameHost(link string) error {
	u, err := url.Parse(link)
	if err != nil || !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		host := ""
		if err == nil {
			host = u.Scheme + "://" + u.Host
		}
		return fmt.Errorf("graphapi: link to %q is not on %s://%s", host, c.base.Scheme, c.base.Host)
	}
	return nil
}
