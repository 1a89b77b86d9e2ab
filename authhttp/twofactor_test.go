package authhttp_test

import (
	"bytes"
	"crypto/rand"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// withTOTPKeys gives the store a key ring of one random key, as credstore
// serve does from its key file.
func withTOTPKeys(c *auth.Config) {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails
	c.SecretKeys = &auth.Keyring{Current: "k1", Keys: map[string][]byte{"k1": key}}
}

// phone is the user's authenticator app, on the service's clock.
type phone struct {
	t      *testing.T
	svc    *service
	secret string
}

// next moves the service's clock to the next 30-second step and returns
// that step's code: auth never accepts a step twice, so each code a test
// means to be accepted must be of a step not used yet.
func (p phone) next() string {
	p.t.Helper()
	p.svc.Clock.Advance(30 * time.Second)
	return p.now()
}

// now is the code of the current step.
func (p phone) now() string {
	p.t.Helper()
	code, err := totp.GenerateCode(p.secret, p.svc.Clock.Now())
	require.NoError(p.t, err)
	return code
}

// raw sends a bodiless request and returns the response and its body, for
// replies that are not JSON.
func (c *client) raw(method, path string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	require.NoError(c.t, err)
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, body
}

// enroll turns on TOTP for the client's logged-in user, whose password is
// password, through the API and returns the user's phone and recovery
// codes.
func enroll(t *testing.T, svc *service, c *client, password string) (phone, []string) {
	t.Helper()
	r := c.form("POST", "/profile/totp")
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	p := phone{t: t, svc: svc, secret: r.Body["secret"].(string)}
	r = c.form("POST", "/profile/totp/confirm", "code", p.next(), "password", password)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	return p, recoveryCodesOf(t, r)
}

// recoveryCodesOf returns the recovery codes of a reply that hands them
// out, checking that caches are told not to keep it.
func recoveryCodesOf(t *testing.T, r reply) []string {
	t.Helper()
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	require.Len(t, r.Body, 1, r.Raw)
	list, ok := r.Body["recovery_codes"].([]any)
	require.True(t, ok, r.Raw)
	codes := make([]string, len(list))
	for i, v := range list {
		codes[i] = v.(string)
		require.NotEmpty(t, codes[i])
	}
	assert.Len(t, codes, auth.RecoveryCodeCount)
	return codes
}

// mfaToken returns the mfa_token of a 202 login, checking that it sets no
// cookie.
func mfaToken(t *testing.T, r reply) string {
	t.Helper()
	require.Equal(t, http.StatusAccepted, r.Status, r.Raw)
	token, _ := r.Body["mfa_token"].(string)
	require.NotEmpty(t, token)
	assert.Equal(t, map[string]any{"message": "second factor required", "mfa_token": token}, r.Body)
	assert.Empty(t, r.Header.Values("Set-Cookie"), "no session cookie before the second factor")
	return token
}

// TestTwoFactorFlow walks TOTP end to end over a real socket: enrollment
// with the QR code, two-step logins with codes and recovery codes, replays
// refused, new recovery codes, and removal.
func TestTwoFactorFlow(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{}, withTOTPKeys)
		c := svc.client(t)
		const email, pass = "alice@example.com", "password-a"
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", email, "password", pass).Status)
		require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", email, "password", pass).Status)
		profile := func(enabled bool, left int) {
			t.Helper()
			r := c.form("GET", "/profile")
			require.Equal(t, http.StatusOK, r.Status, r.Raw)
			assert.Equal(t, map[string]any{"email": email, "totp_enabled": enabled, "recovery_codes_left": float64(left)}, r.Body)
		}
		profile(false, 0)

		// Enrollment.
		r := c.form("GET", "/profile/totp/qr.png")
		assert.Equal(t, http.StatusNotFound, r.Status, "no enrollment pending yet")
		assert.Equal(t, map[string]any{"message": "no pending two-factor enrollment"}, r.Body)

		r = c.form("POST", "/profile/totp")
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
		secret, _ := r.Body["secret"].(string)
		uri, _ := r.Body["otpauth_uri"].(string)
		require.NotEmpty(t, secret)
		assert.Len(t, r.Body, 2, r.Raw)
		assert.True(t, strings.HasPrefix(uri, "otpauth://totp/credstore:alice@example.com?"), uri)
		assert.Contains(t, uri, "secret="+secret)
		assert.Contains(t, uri, "issuer=credstore")

		resp, img := c.raw("GET", "/profile/totp/qr.png")
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", img)
		assert.Equal(t, "image/png", resp.Header.Get("Content-Type"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		decoded, err := png.Decode(bytes.NewReader(img))
		require.NoError(t, err, "a valid PNG")
		assert.Equal(t, 256, decoded.Bounds().Dx())
		assert.Equal(t, 256, decoded.Bounds().Dy())

		p := phone{t: t, svc: svc, secret: secret}
		r = c.form("POST", "/profile/totp/confirm", "code", "000000")
		if p.now() != "000000" {
			assert.Equal(t, http.StatusBadRequest, r.Status, r.Raw)
			assert.Equal(t, map[string]any{"message": "invalid or expired code"}, r.Body)
		}
		confirmCode := p.next()
		// A session alone (a stolen one) cannot put a factor on the
		// account: the password is asked for the first factor too.
		for _, wrong := range [][]string{{"code", confirmCode}, {"code", confirmCode, "password", "wrong-password"}} {
			r = c.form("POST", "/profile/totp/confirm", wrong...)
			assert.Equal(t, http.StatusUnauthorized, r.Status, r.Raw)
			assert.Equal(t, map[string]any{"message": "invalid password"}, r.Body)
		}
		profile(false, 0)
		r = c.form("POST", "/profile/totp/confirm", "code", confirmCode, "password", pass)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		recovery := recoveryCodesOf(t, r)
		assert.Equal(t, http.StatusNotFound, c.form("GET", "/profile/totp/qr.png").Status, "the enrollment is spent")
		assert.Equal(t, http.StatusNotFound, c.form("POST", "/profile/totp/confirm", "code", confirmCode, "password", pass).Status)
		profile(true, auth.RecoveryCodeCount)

		// A login in two steps; the code that confirmed is spent.
		require.Equal(t, http.StatusFound, c.form("DELETE", "/sessions").Status)
		token := mfaToken(t, c.form("POST", "/sessions", "email", email, "password", pass))
		tokens := []string{token}
		assert.Empty(t, c.sessionCookie())
		r = c.form("POST", "/sessions/mfa", "mfa_token", token, "code", confirmCode)
		assert.Equal(t, http.StatusUnauthorized, r.Status, "the confirming code again: %s", r.Raw)
		assert.Equal(t, map[string]any{"message": "invalid or expired code"}, r.Body)
		loginCode := p.next()
		r = c.send("POST", "/sessions/mfa", "application/json",
			strings.NewReader(`{"mfa_token":"`+token+`","code":"`+loginCode+`"}`))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, map[string]any{"email": email, "message": "logged in"}, r.Body)
		assert.NotEmpty(t, c.sessionCookie())
		assert.NotNil(t, deviceSetCookie(t, r), "the device cookie, as a one-step login sets it")
		profile(true, auth.RecoveryCodeCount)
		r = c.form("POST", "/sessions/mfa", "mfa_token", token, "code", p.next())
		assert.Equal(t, http.StatusUnauthorized, r.Status, "a challenge works once")

		// The same code on a new login (one step old, so within the skew
		// auth allows: only its use refuses it); then a recovery code, once.
		require.Equal(t, http.StatusFound, c.form("DELETE", "/sessions").Status)
		token = mfaToken(t, c.form("POST", "/sessions", "email", email, "password", pass))
		tokens = append(tokens, token)
		r = c.form("POST", "/sessions/mfa", "mfa_token", token, "code", loginCode)
		assert.Equal(t, http.StatusUnauthorized, r.Status, "a code already used: %s", r.Raw)
		r = c.form("POST", "/sessions/mfa", "mfa_token", token, "recovery_code", recovery[0])
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		profile(true, auth.RecoveryCodeCount-1)
		require.Equal(t, http.StatusFound, c.form("DELETE", "/sessions").Status)
		token = mfaToken(t, c.form("POST", "/sessions", "email", email, "password", pass))
		tokens = append(tokens, token)
		r = c.form("POST", "/sessions/mfa", "mfa_token", token, "recovery_code", recovery[0])
		assert.Equal(t, http.StatusUnauthorized, r.Status, "a recovery code works once: %s", r.Raw)
		r = c.form("POST", "/sessions/mfa", "mfa_token", token, "recovery_code", recovery[1])
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		profile(true, auth.RecoveryCodeCount-2)

		// New recovery codes: the password and a current code.
		r = c.form("POST", "/profile/recovery_codes", "password", pass, "code", loginCode)
		assert.Equal(t, http.StatusUnauthorized, r.Status, "a spent code: %s", r.Raw)
		assert.Equal(t, map[string]any{"message": "invalid password or code"}, r.Body)
		r = c.form("POST", "/profile/recovery_codes", "password", "wrong-password", "code", p.next())
		assert.Equal(t, http.StatusUnauthorized, r.Status, "a wrong password: %s", r.Raw)
		assert.Equal(t, map[string]any{"message": "invalid password or code"}, r.Body)
		r = c.form("POST", "/profile/recovery_codes", "password", pass, "code", p.next())
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		fresh := recoveryCodesOf(t, r)
		profile(true, auth.RecoveryCodeCount)
		other := svc.client(t)
		token = mfaToken(t, other.form("POST", "/sessions", "email", email, "password", pass))
		tokens = append(tokens, token)
		r = other.form("POST", "/sessions/mfa", "mfa_token", token, "recovery_code", recovery[2])
		assert.Equal(t, http.StatusUnauthorized, r.Status, "the old set is void: %s", r.Raw)
		r = other.form("POST", "/sessions/mfa", "mfa_token", token, "recovery_code", fresh[0])
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		// A recovery code ends the user's other sessions: c logs in again.
		assert.Equal(t, http.StatusForbidden, c.form("GET", "/profile").Status)
		token = mfaToken(t, c.form("POST", "/sessions", "email", email, "password", pass))
		tokens = append(tokens, token)
		require.Equal(t, http.StatusOK, c.form("POST", "/sessions/mfa", "mfa_token", token, "code", p.next()).Status)

		// Removal: the password and a current code, in a DELETE's form.
		r = c.form("DELETE", "/profile/totp", "password", "wrong-password", "code", p.next())
		assert.Equal(t, http.StatusUnauthorized, r.Status, r.Raw)
		assert.Equal(t, map[string]any{"message": "invalid password or code"}, r.Body)
		r = c.form("DELETE", "/profile/totp", "password", pass, "code", p.next())
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, map[string]any{"message": "two-factor authentication removed"}, r.Body)
		profile(false, 0) // the session that removed it stays
		assert.Equal(t, http.StatusForbidden, other.form("GET", "/profile").Status, "the others end")
		r = c.form("DELETE", "/profile/totp", "password", pass, "code", p.next())
		assert.Equal(t, http.StatusNotFound, r.Status, r.Raw)
		assert.Equal(t, map[string]any{"message": "no second factor enrolled"}, r.Body)

		require.Equal(t, http.StatusFound, c.form("DELETE", "/sessions").Status)
		r = c.form("POST", "/sessions", "email", email, "password", pass)
		assert.Equal(t, http.StatusOK, r.Status, "one step again: %s", r.Raw)
		assert.Equal(t, map[string]any{"email": email, "message": "logged in"}, r.Body)

		// Codes quoted: six bare digits could turn up in a duration.
		secrets := append([]string{pass, secret, `"` + confirmCode + `"`, `"` + loginCode + `"`}, tokens...)
		assertNoSecrets(t, svc.Log.String(), append(secrets, append(recovery, fresh...)...)...)
	})
}

// TestTwoFactorRefusals: the /profile routes want a session; a wrong
// password of a user with a second factor gets the very reply of any
// wrong password; the second step refuses bad tokens and codes with one
// 401, then 429 once auth throttles; and a browser on another site can
// use none of the new routes that change state.
func TestTwoFactorRefusals(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{}, withTOTPKeys, func(c *auth.Config) { c.LoginThrottle = testThrottle })
		ctx := t.Context()
		// newUser registers email, logs it in on a client of its own, and
		// turns TOTP on.
		newUser := func(email string) (*client, phone) {
			c := svc.client(t)
			require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", email, "password", "password-"+email).Status)
			require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", email, "password", "password-"+email).Status)
			p, _ := enroll(t, svc, c, "password-"+email)
			return c, p
		}

		t.Run("no session", func(t *testing.T) {
			c := svc.client(t)
			for _, route := range []string{"POST /profile/totp", "GET /profile/totp/qr.png", "POST /profile/totp/confirm",
				"DELETE /profile/totp", "POST /profile/recovery_codes", "GET /profile"} {
				method, path, _ := strings.Cut(route, " ")
				r := c.form(method, path, "code", "123456", "password", "password-x")
				assert.Equal(t, http.StatusForbidden, r.Status, "%s: %s", route, r.Raw)
				assert.Equal(t, map[string]any{"message": "no valid session"}, r.Body, route)
			}
		})

		t.Run("wrong password", func(t *testing.T) {
			newUser("mfa@example.com")
			plain := svc.client(t)
			require.Equal(t, http.StatusOK, plain.form("POST", "/users", "email", "plain@example.com", "password", "password-p").Status)
			var replies []reply
			for _, email := range []string{"mfa@example.com", "plain@example.com", "nobody@example.com"} {
				r := svc.client(t).form("POST", "/sessions", "email", email, "password", "wrong-password")
				assert.Equal(t, http.StatusUnauthorized, r.Status, "%s: %s", email, r.Raw)
				assert.Empty(t, r.Header.Values("Set-Cookie"), email)
				replies = append(replies, r)
			}
			assert.Equal(t, replies[1].Raw, replies[0].Raw, "a user with a second factor, like one without")
			assert.Equal(t, replies[2].Raw, replies[0].Raw, "like no user")
		})

		t.Run("second step", func(t *testing.T) {
			const email = "throttled@example.com"
			_, p := newUser(email)
			c := svc.client(t) // no device cookie: the account's own throttle
			for _, token := range []string{"", "garbage", strings.Repeat("A", 43)} {
				r := c.form("POST", "/sessions/mfa", "mfa_token", token, "code", p.now())
				assert.Equal(t, http.StatusUnauthorized, r.Status, "token %q: %s", token, r.Raw)
				assert.Equal(t, map[string]any{"message": "invalid or expired code"}, r.Body)
				assert.Empty(t, r.Header.Values("Set-Cookie"))
			}
			token := mfaToken(t, c.form("POST", "/sessions", "email", email, "password", "password-"+email))
			wrong := "000000"
			if p.now() == wrong {
				wrong = "000001"
			}
			var r reply
			for i := 0; i < 10; i++ {
				if r = c.form("POST", "/sessions/mfa", "mfa_token", token, "code", wrong); r.Status != http.StatusUnauthorized {
					break
				}
				assert.Equal(t, map[string]any{"message": "invalid or expired code"}, r.Body)
				assert.Less(t, i, testThrottle.FreeFailures, "throttled after the free failures")
			}
			require.Equal(t, http.StatusTooManyRequests, r.Status, r.Raw)
			assert.NotEmpty(t, r.Header.Get("Retry-After"))
			assert.Equal(t, throttledBody(r), r.Body)
			r = c.form("POST", "/sessions/mfa", "mfa_token", token, "code", p.now())
			assert.Equal(t, http.StatusTooManyRequests, r.Status, "the right code waits too: %s", r.Raw)
			assert.Empty(t, r.Header.Values("Set-Cookie"))
		})

		t.Run("cross-origin", func(t *testing.T) {
			const email = "victim@example.com"
			c, p := newUser(email)
			u, err := svc.Store.UserByEmail(ctx, email)
			require.NoError(t, err)
			evil := http.Header{"Origin": {"https://evil.example"}}
			refused := func(r reply) {
				t.Helper()
				assert.Equal(t, http.StatusForbidden, r.Status, r.Raw)
				assert.Equal(t, map[string]any{"message": "cross-origin request refused"}, r.Body)
				assert.Empty(t, r.Header.Values("Set-Cookie"))
			}
			refused(c.formWith(evil, "POST", "/profile/totp"))
			refused(c.formWith(evil, "POST", "/profile/totp/confirm", "code", p.next(), "password", "password-"+email))
			refused(c.formWith(evil, "DELETE", "/profile/totp", "password", "password-"+email, "code", p.next()))
			refused(c.formWith(evil, "POST", "/profile/recovery_codes", "password", "password-"+email, "code", p.next()))
			st, err := svc.Store.TwoFactor(ctx, u.ID)
			require.NoError(t, err)
			assert.Equal(t, auth.TwoFactorStatus{TOTPEnabled: true, RecoveryCodesLeft: auth.RecoveryCodeCount}, st, "nothing changed")

			other := svc.client(t)
			token := mfaToken(t, other.form("POST", "/sessions", "email", email, "password", "password-"+email))
			refused(other.formWith(evil, "POST", "/sessions/mfa", "mfa_token", token, "code", p.next()))
			r := other.form("POST", "/sessions/mfa", "mfa_token", token, "code", p.now())
			assert.Equal(t, http.StatusOK, r.Status, "the refused request spent neither the challenge nor the code: %s", r.Raw)
		})
	})
}

// throttledBody is the body of a 429 with r's Retry-After.
func throttledBody(r reply) map[string]any {
	secs, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	return map[string]any{"message": "too many attempts, try again later", "retry_after": float64(secs)}
}

// TestTwoFactorNotConfigured: without TOTP keys, enrolling gets 503 with a
// message that says so and no Retry-After (waiting mends nothing), logged as
// a warning and not as a server error; the rest of the service works.
func TestTwoFactorNotConfigured(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{})
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "a@example.com", "password", "password-a").Status)
		require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", "a@example.com", "password", "password-a").Status)

		r := c.form("POST", "/profile/totp")
		assert.Equal(t, http.StatusServiceUnavailable, r.Status, r.Raw)
		assert.Equal(t, map[string]any{"message": "two-factor authentication is not configured on this server"}, r.Body)
		assert.Empty(t, r.Header.Get("Retry-After"))
		assert.Equal(t, http.StatusNotFound, c.form("GET", "/profile/totp/qr.png").Status, "nothing pending")
		assert.Equal(t, http.StatusNotFound, c.form("POST", "/profile/totp/confirm", "code", "123456").Status)
		r = c.form("GET", "/profile")
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, false, r.Body["totp_enabled"])

		log := svc.Log.String()
		assert.Contains(t, log, `"msg":"two-factor authentication unavailable"`)
		assert.Contains(t, log, `"level":"WARN"`)
		assert.NotContains(t, log, `"level":"ERROR"`)
	})
}

// TestRevokedSessionWritesNothing: a session that another process (the
// admin command line, a second instance) revoked is refused by every
// Holberton route that writes, even while this service's session cache
// still answers for it: the write's transaction re-asserts the session.
// On SQLite the cache here confirms the change counter only hourly, so it
// surely answers; on PostgreSQL the revocation's notification usually
// arrives first, and the reply must be the same either way.
func TestRevokedSessionWritesNothing(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		slow := func(c *auth.Config) { c.SessionCacheMaxStale = time.Hour }
		svc := startService(t, dsn, authhttp.Options{}, withTOTPKeys, slow)
		ctx := t.Context()
		c := svc.client(t)
		require.Equal(t, http.StatusOK, c.form("POST", "/users", "email", "vic@example.com", "password", "password-v").Status)
		require.Equal(t, http.StatusOK, c.form("POST", "/sessions", "email", "vic@example.com", "password", "password-v").Status)
		u, err := svc.Store.UserByEmail(ctx, "vic@example.com")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, c.form("GET", "/profile").Status, "the session is looked up, and remembered")

		other, err := auth.Open(ctx, dsn, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
		require.NoError(t, err)
		defer other.Close()
		n, err := other.RevokeSessions(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, int64(1), n)

		raw := testdb.Raw(t, dsn)
		for _, w := range []struct{ method, path string }{
			{"POST", "/profile/totp"},
			{"POST", "/profile/totp/confirm"},
			{"DELETE", "/profile/totp"},
			{"POST", "/profile/recovery_codes"},
		} {
			r := c.form(w.method, w.path, "code", "123456", "password", "password-v")
			none := svc.client(t).form(w.method, w.path, "code", "123456", "password", "password-v")
			assert.Equal(t, http.StatusForbidden, none.Status, "%s %s without a session: %s", w.method, w.path, none.Raw)
			assert.Equal(t, none.Status, r.Status, "%s %s: %s", w.method, w.path, r.Raw)
			assert.Equal(t, none.Body, r.Body, "%s %s: as without a session", w.method, w.path)
		}
		var pending int
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM totp_enrollments").Scan(&pending))
		assert.Zero(t, pending, "no secret was handed out for a revoked session")
	})
}
