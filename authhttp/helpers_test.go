package authhttp_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// service is a real listening server over a fresh store.
type service struct {
	URL   string
	Clock *testdb.Clock
	Store *auth.Store
	Log   *testdb.Buffer // the server's log
	Mail  *testdb.Buffer // what the console sender printed

	handler *authhttp.Handler
}

// delivered waits until the handler has delivered every reset message it
// accepted so far (they go out after the reply): a test reads svc.Mail
// after the event, not after a guess at how long delivery takes.
func (s *service) delivered(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testdb.Patience)
	defer cancel()
	require.NoError(t, s.handler.Shutdown(ctx), "reset messages delivered")
}

// startService opens a store on dsn as credstore serve configures it
// (usernames optional), at a low bcrypt cost and on a fake clock, and serves
// the API on a real socket until t ends.
func startService(t *testing.T, dsn string, opts authhttp.Options, cfgOpts ...func(*auth.Config)) *service {
	t.Helper()
	h, svc := newHandler(t, dsn, opts, cfgOpts...)
	svc.URL = startHandler(t, h)
	return svc
}

// startHandler serves h on a real socket until t ends, and returns its
// URL; wrap, if given, wraps h (to put test hooks on each request). At the
// end it waits for h's reset messages too, before the store closes
// (cleanups run last first).
func startHandler(t *testing.T, h *authhttp.Handler, wrap ...func(http.Handler) http.Handler) string {
	t.Helper()
	var served http.Handler = h
	for _, w := range wrap {
		served = w(served)
	}
	srv := httptest.NewServer(served)
	t.Cleanup(func() {
		srv.Close()
		assert.NoError(t, h.Shutdown(context.Background()))
	})
	return srv.URL
}

// startHandlerOn serves served (a mux that mounts h, say) on a real
// socket until t ends, and returns its URL; at the end it waits for h's
// reset messages, as startHandler does.
func startHandlerOn(t *testing.T, h *authhttp.Handler, served http.Handler) string {
	t.Helper()
	return startHandler(t, h, func(http.Handler) http.Handler { return served })
}

// newHandler is startService without the socket: the API's handler, for
// tests that set what a socket cannot (the peer's address).
func newHandler(t *testing.T, dsn string, opts authhttp.Options, cfgOpts ...func(*auth.Config)) (*authhttp.Handler, *service) {
	t.Helper()
	svc := &service{Clock: testdb.NewClock(time.Now()), Log: &testdb.Buffer{}, Mail: &testdb.Buffer{}}
	policy := auth.DefaultPolicy()
	policy.RequireUsername = false
	cfg := auth.Config{
		Policy: &policy, BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true,
		Now: svc.Clock.Now, ResetSender: &auth.ConsoleSender{W: svc.Mail},
	}
	for _, o := range cfgOpts {
		o(&cfg)
	}
	store, err := auth.Open(context.Background(), dsn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, store.Close()) })
	svc.Store = store
	opts.Logger = slog.New(slog.NewJSONHandler(svc.Log, nil))
	h, err := authhttp.New(store, opts)
	require.NoError(t, err)
	svc.handler = h
	return h, svc
}

// client is one user agent: a cookie jar and keep-alive connections. It
// does not follow redirects, so that tests see them.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func (s *service) client(t *testing.T) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, base: s.URL, http: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// reply is a decoded response.
type reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// form sends an HTML-form encoded request, as the API's clients do.
func (c *client) form(method, path string, kv ...string) reply {
	c.t.Helper()
	return c.formWith(nil, method, path, kv...)
}

// formWith sends a form with extra request headers (a browser's Origin,
// say).
func (c *client) formWith(header http.Header, method, path string, kv ...string) reply {
	c.t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	var body io.Reader
	if len(kv) > 0 {
		body = strings.NewReader(v.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	if len(kv) > 0 {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return c.do(req)
}

// send sends a request with the given content type ("" for none) and body.
func (c *client) send(method, path, contentType string, body io.Reader) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.do(req)
}

func (c *client) do(req *http.Request) reply {
	c.t.Helper()
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		require.Equal(c.t, "application/json", resp.Header.Get("Content-Type"), "every reply is JSON: %s", raw)
		require.NoError(c.t, json.Unmarshal(raw, &r.Body), "body %q", raw)
	}
	return r
}

// sessionCookie returns the session cookie the jar holds for the service.
func (c *client) sessionCookie() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == authhttp.DefaultCookieName {
			return ck.Value
		}
	}
	return ""
}

// withCookie sends a request carrying session_id=value and no jar cookies.
func (c *client) withCookie(method, path, value string) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	require.NoError(c.t, err)
	req.Header.Set("Cookie", authhttp.DefaultCookieName+"="+value)
	bare := &http.Client{Timeout: 30 * time.Second, CheckRedirect: c.http.CheckRedirect}
	saved := c.http
	c.http = bare
	defer func() { c.http = saved }()
	return c.do(req)
}
