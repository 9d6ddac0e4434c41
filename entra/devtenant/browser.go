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
	// Consent is "accept" (the default) or "decline". In DeviceLogin,
	// "decline" answers Cancel to "Are you trying to sign in to <app>?".
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
		if f := page.forms["response"]; f != nil {
			return &AuthResponse{RedirectURI: f.action, Mode: "form_post", Params: f.fields}, nil
		}
		if req, err = b.submit(ctx, resp, page, ""); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("devtenant browser: too many steps")
}

// DeviceLogin is a person completing a device code sign-in (what
// entractl login --device-code and MSAL's AcquireTokenByDeviceCode ask
// for): it opens verificationURI, enters userCode, signs in (Persona, or
// Username and Password; an SSO session of this Browser is kept when
// neither is set), answers Continue to "Are you trying to sign in to
// <app>?" and the consent page, and returns when the page says the device
// is signed in. With Consent "decline" it answers Cancel instead, and
// returns nil once the page says the sign-in was declined: the device's
// next poll gets authorization_declined. A wrong or expired code, a failed
// sign-in or an error page return a *PageError, as does a sign-in declined
// when Consent is not "decline" ("Need admin approval").
func (b *Browser) DeviceLogin(ctx context.Context, verificationURI, userCode string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, verificationURI, nil)
	if err != nil {
		return err
	}
	for step := 0; step < 10; step++ {
		resp, err := b.Client.Do(req) // redirects, if any, stay on the tenant's pages
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		page, err := parsePage(body)
		if err != nil {
			return err
		}
		switch {
		case page.ids["devicedone"]:
			return nil
		case page.ids["devicedeclined"] && b.Consent == "decline":
			return nil
		case page.errorCode != 0:
			return &PageError{Code: page.errorCode, Message: page.errorText}
		}
		if req, err = b.submit(ctx, resp, page, userCode); err != nil {
			return err
		}
	}
	return errors.New("devtenant browser: too many steps")
}

// submit fills in the form a person would submit on page (resp's) and
// returns its POST: the device code (userCode), the consent, the persona
// picker, the sign-in, "continue" with the signed-in account, or "Are you
// trying to sign in".
func (b *Browser) submit(ctx context.Context, resp *http.Response, page *page, userCode string) (*http.Request, error) {
	decision := b.Consent
	if decision == "" {
		decision = "accept"
	}
	var next *form
	switch {
	case page.forms["devicecode"] != nil && userCode != "":
		next = page.forms["devicecode"]
		next.fields.Set("user_code", userCode)
	case page.forms["deviceconfirm"] != nil:
		next = page.forms["deviceconfirm"]
		next.fields.Set("decision", "continue")
		if decision == "decline" {
			next.fields.Set("decision", "cancel")
		}
	case page.forms["consent"] != nil:
		next = page.forms["consent"]
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(next.fields.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
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
	ids       map[string]bool // the elements' ids
	errorCode int
	errorText string
}

func parsePage(body []byte) (*page, error) {
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	p := &page{forms: map[string]*form{}, ids: map[string]bool{}}
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			if id := attr["id"]; id != "" {
				p.ids[id] = true
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
