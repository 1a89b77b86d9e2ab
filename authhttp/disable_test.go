package authhttp_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

// TestV1AdminDisable: PATCH /admin/users/{id} {"disabled": true} ends the
// user's sessions, GET shows disabled_at, the login answers 403
// account_disabled for the right password only (401 for a wrong one, as
// for an unknown account); {"disabled": false} lets the user in again.
func TestV1AdminDisable(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startV1(t, dsn, authhttp.Options{})
		ctx := t.Context()
		root, err := svc.Store.RegisterAdmin(ctx, auth.Registration{Email: "root@example.com", Password: v1pass})
		require.NoError(t, err)
		a := svc.api(t)
		require.Equal(t, http.StatusOK, a.login("root@example.com", v1pass, false).Status)
		u := svc.api(t)
		eveID := u.register("eve@example.com", v1pass)
		require.Equal(t, http.StatusOK, u.login("eve@example.com", v1pass, false).Status)
		require.Equal(t, http.StatusOK, u.call("GET", "/me", nil).Status)

		r := a.call("GET", "/admin/users/"+eveID, nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.NotContains(t, r.Body, "disabled_at")

		fields := requireError(t, a.call("PATCH", "/admin/users/"+eveID, obj{"disabled_reason": "why not"}), 400, "validation_failed")
		assert.Contains(t, fields, "disabled_reason")
		requireError(t, a.call("PATCH", "/admin/users/"+eveID, obj{"disabled": "yes"}), 400, "validation_failed")

		r = a.call("PATCH", "/admin/users/"+eveID, obj{"disabled": true, "disabled_reason": "phishing report"})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.NotEmpty(t, r.Body["disabled_at"])
		r = a.call("GET", "/admin/users/"+eveID, nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.NotEmpty(t, r.Body["disabled_at"])
		requireError(t, u.call("GET", "/me", nil), 401, "authentication_required")

		requireError(t, svc.api(t).login("eve@example.com", v1pass, false), 403, "account_disabled")
		requireError(t, svc.api(t).login("eve@example.com", "wrong-password-42", false), 401, "invalid_credentials")
		requireError(t, svc.api(t).login("nobody@example.com", "wrong-password-42", false), 401, "invalid_credentials")

		// The audit trail names the administrator and the reason.
		r = a.call("GET", "/admin/audit?user="+eveID+"&type=user.disabled", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		events := r.Body["events"].([]any)
		require.Len(t, events, 1)
		event := events[0].(map[string]any)
		assert.Equal(t, map[string]any{"kind": "admin", "public_id": root.PublicID}, event["actor"])
		assert.Equal(t, "phishing report", event["detail"].(map[string]any)["reason"])

		r = a.call("PATCH", "/admin/users/"+eveID, obj{"disabled": false})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.NotContains(t, r.Body, "disabled_at")
		require.Equal(t, http.StatusOK, u.login("eve@example.com", v1pass, false).Status)
		require.Equal(t, http.StatusOK, u.call("GET", "/me", nil).Status)
	})
}

// TestHolbertonDisabledLogin: the Holberton POST /sessions answers the
// right password of a disabled account 403 {"message": "account
// disabled"}, without a cookie, and a wrong one 401 as for any account.
func TestHolbertonDisabledLogin(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		svc := startService(t, dsn, authhttp.Options{})
		ctx := t.Context()
		eve, err := svc.Store.Register(ctx, auth.Registration{Email: "eve@example.com", Password: v1pass})
		require.NoError(t, err)
		require.NoError(t, svc.Store.DisableUser(ctx, eve.ID, "test"))

		c := svc.client(t)
		r := c.form("POST", "/sessions", "email", "eve@example.com", "password", v1pass)
		assert.Equal(t, http.StatusForbidden, r.Status, r.Raw)
		assert.Equal(t, map[string]any{"message": "account disabled"}, r.Body)
		assert.Empty(t, c.sessionCookie())
		wrong := c.form("POST", "/sessions", "email", "eve@example.com", "password", "wrong-password-42")
		unknown := c.form("POST", "/sessions", "email", "nobody@example.com", "password", "wrong-password-42")
		assert.Equal(t, http.StatusUnauthorized, wrong.Status, wrong.Raw)
		assert.Equal(t, unknown.Raw, wrong.Raw, "a wrong password: as for an unknown account")

		require.NoError(t, svc.Store.EnableUser(ctx, eve.ID))
		r = c.form("POST", "/sessions", "email", "eve@example.com", "password", v1pass)
		assert.Equal(t, http.StatusOK, r.Status, r.Raw)
	})
}
