package authhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// The API v1 end to end: a real listening server per engine, the API
// mounted under /api/v1 as credstore serve mounts it, and every exchange
// checked against the OpenAPI description by the client's transport.

var registerPNG sync.Once

// startV1 serves the API v1 under /api/v1 over a fresh store.
func startV1(t *testing.T, dsn string, opts authhttp.Options, cfgOpts ...func(*auth.Config)) *service {
	t.Helper()
	h, svc := newHandler(t, dsn, opts, cfgOpts...)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", h.V1()))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		assert.NoError(t, h.Shutdown(context.Background()))
	})
	svc.URL = srv.URL
	return svc
}

// validator is an http.RoundTripper that checks every exchange against the
// description: a request the description allows must not be refused as
// malformed... and every response must be one the description allows for
// its operation; a request matching no operation must get a 404 or 405 in
// the error shape. A request the description refuses (the tests send
// such on purpose) must get a 4xx.
type validator struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	next   http.RoundTripper
}

func newValidator(t *testing.T, base string) *validator {
	t.Helper()
	registerPNG.Do(func() { openapi3filter.RegisterBodyDecoder("image/png", openapi3filter.FileBodyDecoder) })
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(authhttp.OpenAPIDocument())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(loader.Context))
	doc.Servers = openapi3.Servers{{URL: base + "/api/v1"}}
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	return &validator{t: t, doc: doc, router: router, next: http.DefaultTransport}
}

func (v *validator) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	what := req.Method + " " + req.URL.Path

	route, params, ferr := v.router.FindRoute(req)
	if ferr != nil {
		assert.Contains(v.t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, resp.StatusCode, "%s is no operation: %s", what, body)
		var data any
		require.NoError(v.t, json.Unmarshal(body, &data), "%s: %s", what, body)
		assert.NoError(v.t, v.doc.Components.Schemas["Error"].Value.VisitJSON(data, openapi3.EnableJSONSchema2020()), "%s: error shape: %s", what, body)
		return resp, nil
	}
	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if rerr := openapi3filter.ValidateRequest(req.Context(), in); rerr != nil {
		assert.True(v.t, resp.StatusCode >= 400 && resp.StatusCode < 500,
			"%s: a request the description refuses (%v) got %d", what, rerr, resp.StatusCode)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	assert.NoError(v.t, openapi3filter.ValidateResponse(req.Context(), out), "%s %d: %s", what, resp.StatusCode, body)
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		assert.NoError(v.t, json.Unmarshal(body, &e), "%s", what)
		assert.NotEmpty(v.t, e.Error.Code, "%s: error code", what)
	}
	return resp, nil
}

// api is a client of the API v1: a cookie jar (when it is a browser) or a
// bearer token, and the validating transport.
type api struct {
	t      *testing.T
	base   string
	http   *http.Client
	bearer string
	header http.Header // sent with every request
}

func (s *service) api(t *testing.T) *api {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &api{t: t, base: s.URL + "/api/v1", header: http.Header{}, http: &http.Client{
		Jar: jar, Timeout: 30 * time.Second, Transport: newValidator(t, s.URL),
	}}
}

// bearerClient is a client without cookies that sends token.
func (s *service) bearerClient(t *testing.T, token string) *api {
	c := s.api(t)
	c.http.Jar = nil
	c.bearer = token
	return c
}

// call sends body (nil: none; a string: raw JSON; else marshalled) and
// decodes the JSON reply.
func (c *api) call(method, path string, body any) reply {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 && resp.Header.Get("Content-Type") == "application/json" {
		require.NoError(c.t, json.Unmarshal(raw, &r.Body), "body %q", raw)
	}
	return r
}

type obj = map[string]any

// errCode is the code of an error reply, and its fields.
func errCode(r reply) (string, map[string]any) {
	e, _ := r.Body["error"].(map[string]any)
	code, _ := e["code"].(string)
	fields, _ := e["fields"].(map[string]any)
	return code, fields
}

// requireError asserts an error reply's status and code.
func requireError(t *testing.T, r reply, status int, code string) map[string]any {
	t.Helper()
	got, fields := errCode(r)
	require.Equal(t, status, r.Status, "%s", r.Raw)
	require.Equal(t, code, got, "%s", r.Raw)
	return fields
}

// register registers a user through the API and returns its public id.
func (c *api) register(email, password string) string {
	c.t.Helper()
	r := c.call("POST", "/users", obj{"email": email, "password": password})
	require.Equal(c.t, http.StatusCreated, r.Status, "%s", r.Raw)
	return r.Body["public_id"].(string)
}

// login logs in; with token, returns the session token.
func (c *api) login(identifier, password string, token bool) reply {
	c.t.Helper()
	return c.call("POST", "/sessions", obj{"identifier": identifier, "password": password, "token": token})
}

const v1pass = "correct-horse-42"

func TestV1Account(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startV1(t, dsn, authhttp.Options{})
		browser := svc.api(t)

		// Register: 201 with the user, never an administrator.
		r := browser.call("POST", "/users", obj{"email": "ann@example.com", "password": v1pass, "username": "ann"})
		require.Equal(t, http.StatusCreated, r.Status, r.Raw)
		assert.Equal(t, "ann@example.com", r.Body["email"])
		assert.Equal(t, false, r.Body["is_admin"])
		assert.NotContains(t, r.Body, "id")
		fields := requireError(t, browser.call("POST", "/users", obj{"email": "ann@example.com", "password": v1pass}), 400, "duplicate")
		assert.Contains(t, fields, "email")
		fields = requireError(t, browser.call("POST", "/users", obj{"email": "x@example.com"}), 400, "validation_failed")
		assert.Equal(t, "is required", fields["password"])
		fields = requireError(t, browser.call("POST", "/users", obj{"email": "x@example.com", "password": v1pass, "is_admin": true}), 400, "validation_failed")
		assert.Contains(t, fields, "is_admin", "an unknown field is refused, not ignored")
		fields = requireError(t, browser.call("POST", "/users", obj{"email": "not-an-address", "password": "short"}), 400, "validation_failed")
		assert.Contains(t, fields, "email")
		assert.Contains(t, fields, "password")
		requireError(t, browser.call("POST", "/users", `{"email": `), 400, "invalid_request")
		requireError(t, browser.call("POST", "/users", `["a"]`), 400, "invalid_request")
		req := browser.call("POST", "/users", nil)
		requireError(t, req, 400, "validation_failed")

		// No session.
		requireError(t, browser.call("GET", "/me", nil), 401, "authentication_required")
		requireError(t, svc.bearerClient(t, "not-a-token").call("GET", "/me", nil), 401, "authentication_required")

		// Log in: a wrong password, then by username with the cookie.
		requireError(t, browser.login("ann@example.com", "wrong-password", false), 401, "invalid_credentials")
		r = browser.login("ann", v1pass, false)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.NotContains(t, r.Body, "token", "a browser gets a cookie, not a token")
		assert.Contains(t, r.Header.Get("Set-Cookie"), "session_id=")
		r = browser.call("GET", "/me", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "ann", r.Body["username"])
		assert.Equal(t, false, r.Body["two_factor"].(map[string]any)["totp_enabled"])

		// A client that asks for a token gets one and no cookie; the token
		// alone authenticates.
		r = svc.api(t).login("ann@example.com", v1pass, true)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Empty(t, r.Header.Values("Set-Cookie"))
		token := r.Body["token"].(string)
		mobile := svc.bearerClient(t, token)
		r = mobile.call("GET", "/me", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "ann@example.com", r.Body["email"])

		// Sessions: the list marks the current one.
		r = mobile.call("GET", "/me/sessions", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		sessions := r.Body["sessions"].([]any)
		require.Len(t, sessions, 2)
		current := 0
		for _, s := range sessions {
			if s.(map[string]any)["current"] == true {
				current++
			}
		}
		assert.Equal(t, 1, current)

		// CSRF: a cookie-authenticated change from another origin is
		// refused; the same with a bearer token is not.
		evil := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
		browser.header = evil
		requireError(t, browser.call("PATCH", "/me", obj{"username": "mallory"}), 403, "cross_origin")
		requireError(t, browser.call("POST", "/sessions", obj{"identifier": "ann", "password": v1pass}), 403, "cross_origin")
		browser.header = http.Header{}
		mobile.header = evil
		r = mobile.call("PATCH", "/me", obj{"username": "ann2"})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "ann2", r.Body["username"])
		mobile.header = http.Header{}

		// Changing the email needs the current password, and ends the
		// other sessions.
		fields = requireError(t, browser.call("PATCH", "/me", obj{"email": "ann@new.example"}), 400, "validation_failed")
		assert.Contains(t, fields, "current_password")
		requireError(t, browser.call("PATCH", "/me", obj{"email": "ann@new.example", "current_password": "wrong"}), 401, "invalid_credentials")
		r = browser.call("PATCH", "/me", obj{"email": "ann@new.example", "current_password": v1pass})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "ann@new.example", r.Body["email"])
		requireError(t, mobile.call("GET", "/me", nil), 401, "authentication_required") // revoked

		// Revoke: another user's session is not found; the others end.
		other := svc.api(t)
		other.register("bea@example.com", v1pass)
		r = other.login("bea@example.com", v1pass, false)
		require.Equal(t, http.StatusOK, r.Status)
		beaSession := int64(r.Body["session"].(map[string]any)["id"].(float64))
		requireError(t, browser.call("DELETE", fmt.Sprintf("/me/sessions/%d", beaSession), nil), 404, "not_found")
		requireError(t, browser.call("DELETE", "/me/sessions/abc", nil), 404, "not_found")
		r = svc.api(t).login("ann@new.example", v1pass, true)
		second := svc.bearerClient(t, r.Body["token"].(string))
		secondID := int64(r.Body["session"].(map[string]any)["id"].(float64))
		r = browser.call("DELETE", fmt.Sprintf("/me/sessions/%d", secondID), nil)
		require.Equal(t, http.StatusNoContent, r.Status, r.Raw)
		requireError(t, second.call("GET", "/me", nil), 401, "authentication_required")
		r = svc.api(t).login("ann@new.example", v1pass, true)
		third := svc.bearerClient(t, r.Body["token"].(string))
		r = browser.call("DELETE", "/me/sessions", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.EqualValues(t, 1, r.Body["sessions_ended"])
		requireError(t, third.call("GET", "/me", nil), 401, "authentication_required")
		assert.Equal(t, http.StatusOK, browser.call("GET", "/me", nil).Status, "the caller's session stays")

		// Change the password: every session ends, the caller gets a new one.
		r = svc.api(t).login("ann@new.example", v1pass, true)
		fourth := svc.bearerClient(t, r.Body["token"].(string))
		requireError(t, browser.call("POST", "/me/password", obj{"current_password": "wrong", "new_password": "another-pass-42"}), 401, "invalid_credentials")
		fields = requireError(t, browser.call("POST", "/me/password", obj{"current_password": v1pass, "new_password": "x"}), 400, "validation_failed")
		assert.Contains(t, fields, "new_password")
		oldCookie := browser.http.Jar.Cookies(mustURL(t, svc.URL))
		r = browser.call("POST", "/me/password", obj{"current_password": v1pass, "new_password": "another-pass-42"})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.NotContains(t, r.Body, "token", "a browser gets its new session as a cookie")
		assert.Equal(t, http.StatusOK, browser.call("GET", "/me", nil).Status)
		requireError(t, fourth.call("GET", "/me", nil), 401, "authentication_required")
		stale := svc.api(t)
		stale.http.Jar.SetCookies(mustURL(t, svc.URL), oldCookie)
		requireError(t, stale.call("GET", "/me", nil), 401, "authentication_required")
		r = svc.api(t).login("ann@new.example", "another-pass-42", true)
		fifth := svc.bearerClient(t, r.Body["token"].(string))
		r = fifth.call("POST", "/me/password", obj{"current_password": "another-pass-42", "new_password": v1pass})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		require.NotEmpty(t, r.Body["token"], "a bearer client gets its new token in the body")
		fifth.bearer = r.Body["token"].(string)
		assert.Equal(t, http.StatusOK, fifth.call("GET", "/me", nil).Status)

		// Wrong method, unknown path, body limits, media type.
		r = browser.call("PUT", "/me", obj{})
		requireError(t, r, 405, "method_not_allowed")
		assert.Contains(t, r.Header.Get("Allow"), "PATCH")
		requireError(t, browser.call("GET", "/nowhere", nil), 404, "not_found")
		requireError(t, browser.call("GET", "/me/", nil), 404, "not_found")
		requireError(t, browser.call("PATCH", "/", nil), 404, "not_found")
		requireError(t, browser.call("POST", "/users", `{"email": "`+strings.Repeat("a", authhttp.DefaultMaxBodyBytes)+`"}`), 413, "payload_too_large")
		rq, _ := http.NewRequest("POST", browser.base+"/users", strings.NewReader("email=a"))
		rq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := browser.http.Do(rq)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)

		// An expired session.
		svc.Clock.Advance(31 * 24 * time.Hour)
		requireError(t, fifth.call("GET", "/me", nil), 401, "authentication_required")

		// Log out, then delete the account.
		r = browser.login("ann2", v1pass, false)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		r = browser.call("DELETE", "/sessions/current", nil)
		require.Equal(t, http.StatusNoContent, r.Status, r.Raw)
		requireError(t, browser.call("GET", "/me", nil), 401, "authentication_required")
		requireError(t, browser.call("DELETE", "/sessions/current", nil), 401, "authentication_required")
		r = browser.login("ann2", v1pass, false)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		requireError(t, browser.call("DELETE", "/me", obj{"password": "wrong"}), 401, "invalid_credentials")
		r = browser.call("DELETE", "/me", obj{"password": v1pass})
		require.Equal(t, http.StatusNoContent, r.Status, r.Raw)
		requireError(t, browser.login("ann2", v1pass, false), 401, "invalid_credentials")
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// TestV1LoginLimit: a client over its per-IP limit gets 429 throttled
// with Retry-After, in the v1 shape.
func TestV1LoginLimit(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startV1(t, dsn, authhttp.Options{LoginLimit: authhttp.Limit{N: 1, Per: time.Minute}})
		c := svc.api(t)
		requireError(t, c.login("nobody@example.com", v1pass, false), 401, "invalid_credentials")
		r := c.login("nobody@example.com", v1pass, false)
		requireError(t, r, 429, "throttled")
		assert.NotEmpty(t, r.Header.Get("Retry-After"))
	})
}

func TestV1TwoFactor(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startV1(t, dsn, authhttp.Options{}, withTOTPKeys)
		c := svc.api(t)
		c.register("cy@example.com", v1pass)
		require.Equal(t, http.StatusOK, c.login("cy@example.com", v1pass, false).Status)

		requireError(t, c.call("GET", "/me/second-factor/totp/qr.png", nil), 404, "no_enrollment")
		requireError(t, c.call("DELETE", "/me/second-factor/totp", obj{"password": v1pass, "code": "123456"}), 404, "no_second_factor")
		r := c.call("POST", "/me/second-factor/totp", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		p := phone{t: t, svc: svc, secret: r.Body["secret"].(string)}
		r = c.call("GET", "/me/second-factor/totp/qr.png", nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, "image/png", r.Header.Get("Content-Type"))
		assert.True(t, strings.HasPrefix(r.Raw, "\x89PNG"))
		requireError(t, c.call("POST", "/me/second-factor/totp/confirm", obj{"code": "000000", "password": v1pass}), 400, "invalid_code")
		// A session alone cannot put a factor on the account.
		fields := requireError(t, c.call("POST", "/me/second-factor/totp/confirm", obj{"code": p.next()}), 400, "validation_failed")
		assert.Contains(t, fields, "password")
		requireError(t, c.call("POST", "/me/second-factor/totp/confirm", obj{"code": p.next(), "password": "wrong-password-1"}), 401, "invalid_credentials")
		r = c.call("POST", "/me/second-factor/totp/confirm", obj{"code": p.next(), "password": v1pass})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		recovery := r.Body["recovery_codes"].([]any)
		require.NotEmpty(t, recovery)
		r = c.call("GET", "/me/second-factor", nil)
		assert.Equal(t, true, r.Body["totp_enabled"])
		// GET /me reads it with the session, in one query.
		r = c.call("GET", "/me", nil)
		assert.Equal(t, obj{"totp_enabled": true, "enrollment_pending": false, "recovery_codes_left": float64(len(recovery))},
			r.Body["two_factor"], r.Raw)

		// A login now asks for the second factor.
		other := svc.api(t)
		r = other.login("cy@example.com", v1pass, true)
		require.Equal(t, http.StatusAccepted, r.Status, r.Raw)
		assert.Empty(t, r.Header.Values("Set-Cookie"))
		mfa := r.Body["mfa_token"].(string)
		requireError(t, other.call("POST", "/sessions/second-factor", obj{"mfa_token": mfa, "code": "000000"}), 401, "invalid_credentials")
		requireError(t, other.call("POST", "/sessions/second-factor", obj{"code": p.now()}), 400, "validation_failed")
		r = other.call("POST", "/sessions/second-factor", obj{"mfa_token": mfa, "code": p.next(), "token": true})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		require.NotEmpty(t, r.Body["token"])
		// A recovery code completes a login too.
		r = other.login("cy@example.com", v1pass, false)
		require.Equal(t, http.StatusAccepted, r.Status, r.Raw)
		r = other.call("POST", "/sessions/second-factor", obj{"mfa_token": r.Body["mfa_token"], "recovery_code": recovery[0]})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		// Spending a recovery code ends the user's other sessions.
		requireError(t, c.call("GET", "/me", nil), 401, "authentication_required")
		c = other

		// New recovery codes, then deleting the account needs a code.
		requireError(t, c.call("POST", "/me/second-factor/recovery-codes", obj{"password": "wrong", "code": p.next()}), 401, "invalid_credentials")
		r = c.call("POST", "/me/second-factor/recovery-codes", obj{"password": v1pass, "code": p.next()})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		requireError(t, c.call("DELETE", "/me", obj{"password": v1pass}), 401, "second_factor_required")

		// Remove the factor; a login is one step again.
		r = c.call("DELETE", "/me/second-factor/totp", obj{"password": v1pass, "code": p.next()})
		require.Equal(t, http.StatusNoContent, r.Status, r.Raw)
		assert.Equal(t, http.StatusOK, svc.api(t).login("cy@example.com", v1pass, false).Status)
	})
}

var resetToken = regexp.MustCompile(`\n\n    (\S+)\n\n`)

func TestV1PasswordReset(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		// ExposeResetToken is for the Holberton routes only.
		svc := startV1(t, dsn, authhttp.Options{ExposeResetToken: true})
		c := svc.api(t)
		c.register("dee@example.com", v1pass)

		known := c.call("POST", "/password-reset", obj{"email": "dee@example.com"})
		unknown := c.call("POST", "/password-reset", obj{"email": "nobody@example.com"})
		require.Equal(t, http.StatusAccepted, known.Status, known.Raw)
		assert.Equal(t, known.Status, unknown.Status)
		assert.Equal(t, known.Raw, unknown.Raw, "the same reply for every address")
		fields := requireError(t, c.call("POST", "/password-reset", obj{"email": "not an address"}), 400, "validation_failed")
		assert.Contains(t, fields, "email")

		svc.delivered(t)
		m := resetToken.FindStringSubmatch(svc.Mail.String())
		require.NotNil(t, m, "a reset message: %s", svc.Mail.String())
		token := m[1]
		assert.Equal(t, 1, strings.Count(svc.Mail.String(), "To:"), "only the account's address gets a message")

		requireError(t, c.call("POST", "/password-reset/confirm", obj{"email": "dee@example.com", "token": "bogus", "new_password": "brand-new-pass-42"}), 403, "invalid_reset_token")
		fields = requireError(t, c.call("POST", "/password-reset/confirm", obj{"email": "dee@example.com", "token": token}), 400, "validation_failed")
		assert.Contains(t, fields, "new_password")
		r := c.call("POST", "/password-reset/confirm", obj{"email": "dee@example.com", "token": token, "new_password": "brand-new-pass-42"})
		require.Equal(t, http.StatusNoContent, r.Status, r.Raw)
		assert.Equal(t, http.StatusOK, c.login("dee@example.com", "brand-new-pass-42", false).Status)
		requireError(t, c.call("POST", "/password-reset/confirm", obj{"email": "dee@example.com", "token": token, "new_password": "third-pass-4242"}), 403, "invalid_reset_token")
	})
}

func TestV1Admin(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startV1(t, dsn, authhttp.Options{}, withTOTPKeys)
		ctx := t.Context()
		root, err := svc.Store.RegisterAdmin(ctx, auth.Registration{Email: "root@example.com", Password: v1pass})
		require.NoError(t, err)
		a := svc.api(t)
		require.Equal(t, http.StatusOK, a.login("root@example.com", v1pass, false).Status)
		u := svc.api(t)
		eveID := u.register("eve@example.com", v1pass)
		require.Equal(t, http.StatusOK, u.login("eve@example.com", v1pass, false).Status)
		for i := range 3 {
			svc.api(t).register(fmt.Sprintf("u%d@example.com", i), v1pass)
		}

		// Not an administrator, or no one.
		requireError(t, u.call("GET", "/admin/users", nil), 403, "forbidden")
		requireError(t, u.call("DELETE", "/admin/users/"+eveID, nil), 403, "forbidden")
		requireError(t, svc.api(t).call("GET", "/admin/audit", nil), 401, "authentication_required")

		// Keyset pages.
		var seen []string
		after := ""
		for {
			r := a.call("GET", "/admin/users?limit=2&after="+after, nil)
			require.Equal(t, http.StatusOK, r.Status, r.Raw)
			for _, x := range r.Body["users"].([]any) {
				seen = append(seen, x.(map[string]any)["email"].(string))
			}
			next, ok := r.Body["next"].(string)
			if !ok {
				break
			}
			after = next
		}
		// Registration order, to the millisecond: these may share one.
		assert.ElementsMatch(t, []string{"root@example.com", "eve@example.com", "u0@example.com", "u1@example.com", "u2@example.com"}, seen)
		r := a.call("GET", "/admin/users?admins=true", nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Len(t, r.Body["users"], 1)
		r = a.call("GET", "/admin/users?search=U", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Len(t, r.Body["users"], 3, "u0, u1 and u2: a prefix of the address, in any case")
		assert.Contains(t, requireError(t, a.call("GET", "/admin/users?search=%00", nil), 400, "validation_failed"), "search")
		requireError(t, a.call("GET", "/admin/users?limit=x", nil), 400, "validation_failed")
		requireError(t, a.call("GET", "/admin/users?limit=5000", nil), 400, "validation_failed")

		// One user: get, update, password, sessions, second factor, delete.
		r = a.call("GET", "/admin/users/"+eveID, nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "eve@example.com", r.Body["email"])
		requireError(t, a.call("GET", "/admin/users/no-such-id", nil), 404, "not_found")
		requireError(t, a.call("GET", "/admin/users/01890a5d-ac96-774b-bcce-b302099a8057", nil), 404, "not_found")
		r = a.call("PATCH", "/admin/users/"+eveID, obj{"is_admin": true, "username": "eve"})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, true, r.Body["is_admin"])
		assert.Equal(t, http.StatusOK, u.call("GET", "/admin/users", nil).Status, "eve is an administrator now")
		r = a.call("PATCH", "/admin/users/"+eveID, obj{"is_admin": false})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		requireError(t, u.call("GET", "/admin/users", nil), 403, "forbidden")
		fields := requireError(t, a.call("PATCH", "/admin/users/"+eveID, obj{"is_admin": "yes"}), 400, "validation_failed")
		assert.Contains(t, fields, "is_admin")

		requireError(t, a.call("PUT", "/admin/users/"+eveID+"/password", obj{"new_password": "x"}), 400, "validation_failed")
		r = a.call("PUT", "/admin/users/"+eveID+"/password", obj{"new_password": "set-by-admin-42"})
		require.Equal(t, http.StatusNoContent, r.Status, r.Raw)
		requireError(t, u.call("GET", "/me", nil), 401, "authentication_required")
		require.Equal(t, http.StatusOK, u.login("eve@example.com", "set-by-admin-42", false).Status)
		r = a.call("DELETE", "/admin/users/"+eveID+"/sessions", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.EqualValues(t, 1, r.Body["sessions_ended"])
		requireError(t, u.call("GET", "/me", nil), 401, "authentication_required")
		requireError(t, a.call("DELETE", "/admin/users/"+eveID+"/second-factor", nil), 404, "no_second_factor")
		eve, err := svc.Store.UserByPublicID(ctx, eveID)
		require.NoError(t, err)
		_, err = svc.Store.EnrollTOTP(ctx, eve.ID)
		require.NoError(t, err)

		// The audit trail, with the administrator as the actor.
		r = a.call("GET", "/admin/audit?user="+eveID+"&order=newest&type=session.revoked&type=password.set", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		events := r.Body["events"].([]any)
		require.Len(t, events, 2)
		for _, e := range events {
			event := e.(map[string]any)
			assert.Equal(t, map[string]any{"kind": "admin", "public_id": root.PublicID}, event["actor"],
				"the administrator by public id, which GET /admin/users/{id} takes")
			assert.Equal(t, eveID, event["user_public_id"])
			assert.NotContains(t, event, "user_id", "no internal id")
		}
		r = a.call("GET", "/admin/users/"+events[0].(map[string]any)["actor"].(map[string]any)["public_id"].(string), nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, root.Email, r.Body["email"])
		r = a.call("GET", "/admin/audit?limit=1", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		cursor := r.Body["next_cursor"].(float64)
		r = a.call("GET", fmt.Sprintf("/admin/audit?limit=1&cursor=%d", int64(cursor)), nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Greater(t, r.Body["events"].([]any)[0].(map[string]any)["id"].(float64), cursor)
		requireError(t, a.call("GET", "/admin/audit?since=yesterday", nil), 400, "validation_failed")
		requireError(t, a.call("GET", "/admin/audit?user=nobody", nil), 404, "not_found")

		r = a.call("DELETE", "/admin/users/"+eveID, nil)
		require.Equal(t, http.StatusNoContent, r.Status, r.Raw)
		requireError(t, a.call("GET", "/admin/users/"+eveID, nil), 404, "not_found")
		requireError(t, a.call("DELETE", "/admin/users/"+eveID, nil), 404, "not_found")
	})
}

// TestV1OpenAPIServed: the description is served as it is embedded.
func TestV1OpenAPIServed(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		svc := startV1(t, dsn, authhttp.Options{})
		r := svc.api(t).call("GET", "/openapi.json", nil)
		require.Equal(t, http.StatusOK, r.Status)
		assert.JSONEq(t, string(authhttp.OpenAPIDocument()), r.Raw)
	})
}
