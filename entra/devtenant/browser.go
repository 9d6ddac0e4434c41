package devtenant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// Browser drives the dev tenant's pages the way a person at a browser would,
// with plain HTTP: it follows redirects inside the dev tenant, fills in the
// sign-in form, answers the consent page, and stops at the response to the
// app. It keeps cookies, so a second Authorize is single sign-on.
//
// It is for tests and tools (entrakit's own and yours); it does not run
// JavaScript and needs none.
type Browser struct {
	// Client must trust the dev tenant's CA and have a cookie jar.
	Client   *http.Client
	Username string
	Password string
	// Consent is "accept" (the default) or "decline".
	Consent string
	// ConsentForOrg ticks "Consent on behalf of your organization" (admins).
	ConsentForOrg bool
	// Persona, when set, signs in with the persona picker's button for this
	// object id (Persona.OID) instead of the username and password form: a
	// tenant started with Options.PersonaPicker.
	Persona string
}

// NewBrowser returns a Browser signed out, with its own cookie jar, that
// signs in as username.
func (s *Server) NewBrowser(username, password string) *Browser {
	c := s.Client()
	c.Jar, _ = cookiejar.New(nil)
	return &Browser{Client: c, Username: username, Password: password}
}

// AuthResponse is what the dev tenant sent to the app's redirect URI.
type AuthResponse struct {
	RedirectURI string     // without query or fragment
	Mode        string     // "query", "fragment" or "form_post"
	Params      url.Values // code, state, session_state, or error, error_description...
}

// PageError is an error page (or an inline sign-in error) of the dev tenant.
type PageError struct {
	Code    int // the AADSTS number
	Message string
}

func (e *PageError) Error() string {
	return fmt.Sprintf("devtenant page: AADSTS%d: %s", e.Code, e.Message)
}

// Authorize opens authorizeURL and returns the authorization response meant
// for the app. An error page or a failed sign-in returns a *PageError.
func (b *Browser) Authorize(ctx context.Context, authorizeURL string) (*AuthResponse, error) {
	client := *b.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	start, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, err
	}
	for step := 0; step < 10; step++ {
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, err
			}
			if loc.Host != start.Host {
				return responseFromURL(loc), nil
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil); err != nil {
				return nil, err
			}
			continue
		}
		page, err := parsePage(body)
		if err != nil {
			return nil, err
		}
		if page.errorCode != 0 {
			return nil, &PageError{Code: page.errorCode, Message: page.errorText}
		}
		var next *form
		switch {
		case page.forms["response"] != nil:
			f := page.forms["response"]
			return &AuthResponse{RedirectURI: f.action, Mode: "form_post", Params: f.fields}, nil
		case page.forms["consent"] != nil:
			next = page.forms["consent"]
			decision := b.Consent
			if decision == "" {
				decision = "accept"
			}
			if !next.buttons["accept"] && decision == "accept" {
				decision = "decline" // "Need admin approval" offers only a way back
			}
			next.fields.Set("decision", decision)
			if b.ConsentForOrg {
				next.fields.Set("consent_for_org", "on")
			}
		case page.forms["personas"] != nil && b.Persona != "":
			next = page.forms["personas"]
			next.fields.Set("persona", b.Persona)
		case page.forms["login"] != nil && b.Persona != "":
			return nil, errors.New("devtenant browser: the sign-in page has no persona picker (Options.PersonaPicker)")
		case page.forms["login"] != nil && b.Username != "":
			next = page.forms["login"]
			next.fields.Set("username", b.Username)
			next.fields.Set("password", b.Password)
		case page.forms["continue"] != nil:
			next = page.forms["continue"]
		default:
			return nil, fmt.Errorf("devtenant browser: no form to submit on %s (status %d)", resp.Request.URL.Path, resp.StatusCode)
		}
		action, err := resp.Request.URL.Parse(next.action)
		if err != nil {
			return nil, err
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(next.fields.Encode())); err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return nil, errors.New("devtenant browser: too many steps")
}

// Deliver sends the response to the app as the browser would: a GET of the
// redirect URI with the query, or a POST of the form (fragment responses
// cannot be delivered to a server).
func (r *AuthResponse) Deliver(ctx context.Context, client *http.Client) (*http.Response, error) {
	var req *http.Request
	var err error
	switch r.Mode {
	case "form_post":
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, r.RedirectURI, strings.NewReader(r.Params.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	case "query":
		u, _ := url.Parse(r.RedirectURI)
		u.RawQuery = r.Params.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	default:
		return nil, errors.New("devtenant browser: a fragment response stays in the browser")
	}
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}

func responseFromURL(u *url.URL) *AuthResponse {
	r := &AuthResponse{Mode: "query", Params: u.Query()}
	if u.Fragment != "" {
		r.Mode = "fragment"
		r.Params, _ = url.ParseQuery(u.Fragment)
	}
	base := *u
	base.RawQuery, base.Fragment = "", ""
	r.RedirectURI = base.String()
	return r
}

type form struct {
	action  string
	fields  url.Values
	buttons map[string]bool // values of submit buttons named "decision"
}

type page struct {
	forms     map[string]*form
	errorCode int
	errorText string
}

func parsePage(body []byte) (*page, error) {
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	p := &page{forms: map[string]*form{}}
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			if code := attr["data-aadsts"]; code != "" && p.errorCode == 0 && (n.Data == "main" || attr["id"] == "error") {
				p.errorCode, _ = strconv.Atoi(code)
				p.errorText = strings.TrimSpace(text(n))
			}
			switch n.Data {
			case "form":
				cur = &form{action: attr["action"], fields: url.Values{}, buttons: map[string]bool{}}
				p.forms[attr["id"]] = cur
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = nil
				return
			case "input":
				if cur != nil && attr["name"] != "" && attr["type"] != "checkbox" && attr["type"] != "submit" {
					cur.fields.Set(attr["name"], attr["value"])
				}
			case "button":
				if cur != nil && attr["name"] == "decision" {
					cur.buttons[attr["value"]] = true
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return p, nil
}

func text(n *html.Node) string {
	var b strings.Builder
	var f func(*html.Node)
	f = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			f(c)
		}
	}
	f(n)
	return b.String()
}
