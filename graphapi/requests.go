package graphapi

import (
	"context"
	"fmt"
	"net/url"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	formser "github.com/microsoft/kiota-serialization-form-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	multipartser "github.com/microsoft/kiota-serialization-multipart-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// The requests are built here with kiota's RequestInformation, as the SDK's
// request builders build them (the same URL templates, query options,
// Accept headers and error mapping), and parsed into the SDK's models. The
// request-builder packages (users, groups, applications, ...) and the root
// package are never imported: they carry every navigation property of
// Graph and take minutes to compile (msgraph-sdk-go#129, #243).

// sdkVersion is the version of msgraph-sdk-go whose models this package
// parses, sent in SdkVersion as the SDK's own client sends it
// (msgraphsdk.GetDefaultClientOptions). TestSdkVersionFollowsGoMod keeps it
// equal to go.mod's.
const sdkVersion = "1.89.0"

// graphClientOptions are the SDK's client options: v1.0 names no service
// version in the telemetry header.
func graphClientOptions() msgraphcore.GraphClientOptions {
	return msgraphcore.GraphClientOptions{GraphServiceLibraryVersion: sdkVersion}
}

// serializers are the client's own registries of the formats the SDK
// registers (NewGraphServiceClient): the same content types, without
// writing kiota's process-wide registries.
func serializers() (*absser.ParseNodeFactoryRegistry, *absser.SerializationWriterFactoryRegistry) {
	parse := absser.NewParseNodeFactoryRegistry()
	for _, f := range []absser.ParseNodeFactory{
		jsonser.NewJsonParseNodeFactory(), textser.NewTextParseNodeFactory(), formser.NewFormParseNodeFactory(),
	} {
		ct, _ := f.GetValidContentType()
		parse.ContentTypeAssociatedFactories[ct] = f
	}
	write := absser.NewSerializationWriterFactoryRegistry()
	for _, f := range []absser.SerializationWriterFactory{
		jsonser.NewJsonSerializationWriterFactory(), textser.NewTextSerializationWriterFactory(),
		formser.NewFormSerializationWriterFactory(), multipartser.NewMultipartSerializationWriterFactory(),
	} {
		ct, _ := f.GetValidContentType()
		write.ContentTypeAssociatedFactories[ct] = f
	}
	return parse, write
}

// odataErrors is the SDK's error mapping: every error status is parsed as
// an OData error.
func odataErrors() abs.ErrorMappings {
	return abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}
}

// odataQuery are the OData query options of a GET, tagged as the SDK's
// query parameter structs are: kiota's AddQueryParameters reads the tags,
// and a URL template names the options it takes.
type odataQuery struct {
	Count   *bool    `uriparametername:"%24count"`
	Filter  *string  `uriparametername:"%24filter"`
	Orderby []string `uriparametername:"%24orderby"`
	Search  *string  `uriparametername:"%24search"`
	Select  []string `uriparametername:"%24select"`
	Top     *int32   `uriparametername:"%24top"`
}

// URL templates of the requests, relative to the adapter's base URL
// (BaseURL + "/v1.0"), with the query options each one takes.
const (
	tmplMe                = "{+baseurl}/me{?%24select}"
	tmplUser              = "{+baseurl}/users/{user%2Did}{?%24select}"
	tmplMePhoto           = "{+baseurl}/me/photo/$value"
	tmplUserPhoto         = "{+baseurl}/users/{user%2Did}/photo/$value"
	tmplUsers             = "{+baseurl}/users{?%24count,%24filter,%24orderby,%24search,%24select,%24top}"
	tmplUsersDelta        = "{+baseurl}/users/delta(){?%24select}"
	tmplGroupsDelta       = "{+baseurl}/groups/delta(){?%24select}"
	tmplMembers           = "{+baseurl}/groups/{group%2Did}/members"
	tmplTransitiveMembers = "{+baseurl}/groups/{group%2Did}/transitiveMembers"
	tmplApplications      = "{+baseurl}/applications{?%24select}"
	tmplServicePrincipals = "{+baseurl}/servicePrincipals{?%24select}"
)

// get builds a GET of template, as the SDK's request builders do: path
// parameters, query options, the headers (copied: the request's own are
// changed on the way, Authorization added), c's request options, and
// Accept (accept, or application/json).
func (c *Client) get(template string, path map[string]string, q *odataQuery, h *abs.RequestHeaders, accept string, extra ...abs.RequestOption) *abs.RequestInformation {
	params := map[string]string{}
	for k, v := range path {
		params[k] = v
	}
	req := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.GET, template, params)
	if q != nil {
		req.AddQueryParameters(*q)
	}
	req.Headers.AddAll(h)
	req.AddRequestOptions(c.options(extra...))
	if accept == "" {
		accept = "application/json"
	}
	req.Headers.TryAdd("Accept", accept)
	return req
}

// getLink builds a GET of a link Graph gave (an @odata.nextLink or
// deltaLink), as the SDK's WithUrl does: the link carries the query, h is
// sent again. The link must be on the Graph host (sameHost).
func (c *Client) getLink(link string, h *abs.RequestHeaders) (*abs.RequestInformation, error) {
	if err := c.sameHost(link); err != nil {
		return nil, err
	}
	u, err := url.Parse(link) // parsed by sameHost
	if err != nil {
		return nil, err
	}
	req := c.get("{+baseurl}", nil, nil, h, "")
	req.SetUri(*u)
	return req, nil
}

// send sends req and parses its JSON response with create into a T (one
// of the SDK's models). A response without a body gives T's zero value and
// no error; errors are mapped (MapError).
func send[T any](ctx context.Context, c *Client, req *abs.RequestInformation, create absser.ParsableFactory) (T, error) {
	var zero T
	res, err := c.adapter.Send(ctx, req, create, odataErrors())
	if err != nil {
		return zero, c.MapError(err)
	}
	if res == nil {
		return zero, nil
	}
	v, ok := res.(T)
	if !ok {
		return zero, fmt.Errorf("graphapi: response is a %T, not a %T", res, zero)
	}
	return v, nil
}

// Send sends a request the helpers do not cover, through the client's
// middleware, retries and token source (a view's credential included),
// and parses the JSON response with create, one of the models package's
// Create...FromDiscriminatorValue (nil for a response without a body, as
// a DELETE's 204). The request's URL template starts with {+baseurl}, which
// is BaseURL + "/v1.0", and should name its Accept header as the SDK's
// request builders do. Errors are mapped as MapError maps them; a response
// without a body gives (nil, nil).
//
//	req := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.DELETE,
//		"{+baseurl}/users/{user%2Did}", map[string]string{"user%2Did": id})
//	_, err := c.Send(ctx, req, nil)
func (c *Client) Send(ctx context.Context, req *abs.RequestInformation, create absser.ParsableFactory) (absser.Parsable, error) {
	if req == nil {
		return nil, fmt.Errorf("graphapi: nil request")
	}
	req.AddRequestOptions(c.options())
	if create == nil {
		return nil, c.MapError(c.adapter.SendNoContent(ctx, req, odataErrors()))
	}
	return send[absser.Parsable](ctx, c, req, create)
}
