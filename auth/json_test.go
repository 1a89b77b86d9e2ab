package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// topLevelKeys returns the keys of the JSON object data in the order they
// appear.
func topLevelKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &raw), "%s", data)
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	require.Len(t, keys, len(raw), "no key twice")
	return keys
}

// TestRegistrationDecodedBodyCannotGrantAdmin decodes a request body that
// asks for admin, as a handler would, and registers it: the user is no
// administrator, and the audit trail says so.
func TestRegistrationDecodedBodyCannotGrantAdmin(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		body := `{"username": "eve", "email": "eve@example.com", "password": "Secret-eve-42",
			"is_admin": true, "IsAdmin": true, "isAdmin": true, "admin": true}`
		var r auth.Registration
		require.NoError(t, json.Unmarshal([]byte(body), &r))
		assert.Equal(t, auth.Registration{Username: "eve", Email: "eve@example.com", Password: "Secret-eve-42"}, r)

		u, err := s.Register(ctx, r)
		require.NoError(t, err)
		assert.False(t, u.IsAdmin)
		stored, err := s.UserByEmail(ctx, "eve@example.com")
		require.NoError(t, err)
		assert.False(t, stored.IsAdmin)
		events, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: u.ID})
		require.NoError(t, err)
		require.Len(t, events, 1)
		assert.Equal(t, auth.EventUserRegistered, events[0].Type)
		assert.JSONEq(t, `{"is_admin": false}`, string(events[0].Detail))

		// The same body through RegisterAdmin, the explicit call, does make
		// an administrator: the difference is the call, never the input.
		r.Username, r.Email = "mallory", "mallory@example.com"
		admin, err := s.RegisterAdmin(ctx, r)
		require.NoError(t, err)
		assert.True(t, admin.IsAdmin)
		events, err = s.AuditEvents(ctx, auth.AuditFilter{UserID: admin.ID})
		require.NoError(t, err)
		require.Len(t, events, 2)
		assert.Equal(t, auth.EventUserRegistered, events[0].Type)
		assert.JSONEq(t, `{"is_admin": true}`, string(events[0].Detail))
		assert.Equal(t, auth.EventAdminGranted, events[1].Type)
		assert.Equal(t, auth.ActorSystem, events[1].Actor.Kind)
	})
}

// TestRegisterAdminValidates: RegisterAdmin refuses what Register refuses,
// and writes nothing.
func TestRegisterAdminValidates(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		_, err := s.RegisterAdmin(ctx, auth.Registration{Username: "x y", Email: "nope", Password: "short"})
		requireValidation(t, err, "username", "email", "password")
		mustRegister(t, s, reg("root"))
		_, err = s.RegisterAdmin(ctx, auth.Registration{Username: "root", Email: "other@example.com", Password: pw("root")})
		requireDuplicate(t, err, "username")
		users, err := s.ListUsers(ctx, auth.ListOptions{AdminsOnly: true})
		require.NoError(t, err)
		assert.Empty(t, users)
	})
}

func TestRegistrationJSONNeverEncodesThePassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		r    auth.Registration
		keys []string
	}{
		{"every field", auth.Registration{Username: "bob", Email: "bob@example.com", Phone: "+15551230002", Password: "Secret-bob-42"},
			[]string{"username", "email", "phone"}},
		{"email and password", auth.Registration{Email: "bob@example.com", Password: "Secret-bob-42"}, []string{"email"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range []any{tc.r, &tc.r, []auth.Registration{tc.r}, map[string]any{"r": tc.r}} {
				data, err := json.Marshal(v)
				require.NoError(t, err)
				assert.NotContains(t, string(data), tc.r.Password)
				assert.NotContains(t, string(data), "password")
			}
			data, err := json.Marshal(tc.r)
			require.NoError(t, err)
			assert.Equal(t, tc.keys, topLevelKeys(t, data))
			var back auth.Registration
			require.NoError(t, json.Unmarshal(data, &back))
			want := tc.r
			want.Password = ""
			assert.Equal(t, want, back)
		})
	}
}

// TestUserSessionJSON encodes what a login returns and checks the exact keys,
// that no secret or internal user id is in them, and that they decode back.
func TestUserSessionJSON(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		raw := testdb.Raw(t, dsn)
		mustRegister(t, s, reg("filler")) // so that no internal id is 1, a value easily mistaken
		r := reg("alice")
		r.Phone = "+15551230001"
		alice := mustRegister(t, s, r)
		hash, _ := storedHash(t, raw, alice.ID)
		res, err := s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice", Password: pw("alice")})
		require.NoError(t, err)
		require.NotEmpty(t, res.Session.Token)
		require.NotEmpty(t, res.DeviceToken)
		secrets := []string{pw("alice"), hash, res.Session.Token, res.DeviceToken}

		userJSON, err := json.Marshal(res.User)
		require.NoError(t, err)
		assert.Equal(t, []string{"public_id", "username", "email", "phone", "is_admin", "created_at", "updated_at"},
			topLevelKeys(t, userJSON))
		var user auth.User
		require.NoError(t, json.Unmarshal(userJSON, &user))
		want := res.User
		want.ID = 0
		assert.Equal(t, want, user)

		// A user without the optional fields has the same keys.
		bare := mustRegister(t, s, auth.Registration{Username: "bare", Email: "bare@example.com", Password: pw("bare")})
		bareJSON, err := json.Marshal(auth.User{PublicID: bare.PublicID, Email: bare.Email})
		require.NoError(t, err)
		assert.Equal(t, []string{"public_id", "username", "email", "phone", "is_admin", "created_at", "updated_at"},
			topLevelKeys(t, bareJSON))

		sessJSON, err := json.Marshal(res.Session)
		require.NoError(t, err)
		assert.Equal(t, []string{"id", "created_at", "last_seen_at", "expires_at"}, topLevelKeys(t, sessJSON))
		var sess auth.Session
		require.NoError(t, json.Unmarshal(sessJSON, &sess))
		wantSess := res.Session
		wantSess.Token, wantSess.UserID = "", 0
		assert.Equal(t, wantSess, sess)

		resJSON, err := json.Marshal(res)
		require.NoError(t, err)
		assert.Equal(t, []string{"user", "session"}, topLevelKeys(t, resJSON))
		var back auth.LoginResult
		require.NoError(t, json.Unmarshal(resJSON, &back))
		assert.Equal(t, auth.LoginResult{User: want, Session: wantSess}, back)

		sessions, err := s.ListSessions(ctx, alice.ID)
		require.NoError(t, err)
		listJSON, err := json.Marshal(sessions)
		require.NoError(t, err)

		for _, data := range [][]byte{userJSON, sessJSON, resJSON, listJSON} {
			for _, secret := range secrets {
				assert.NotContains(t, string(data), secret)
			}
			var anything any
			require.NoError(t, json.Unmarshal(data, &anything))
			assert.NotContains(t, allKeys(anything), "user_id")
		}
	})
}

// allKeys lists every object key anywhere in v, a decoded JSON value.
func allKeys(v any) []string {
	var keys []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			keys = append(keys, k)
			keys = append(keys, allKeys(e)...)
		}
	case []any:
		for _, e := range v {
			keys = append(keys, allKeys(e)...)
		}
	}
	return keys
}

func TestTwoFactorStatusJSON(t *testing.T) {
	t.Parallel()
	st := auth.TwoFactorStatus{TOTPEnabled: true, RecoveryCodesLeft: 7}
	data, err := json.Marshal(st)
	require.NoError(t, err)
	assert.Equal(t, []string{"totp_enabled", "enrollment_pending", "recovery_codes_left"}, topLevelKeys(t, data))
	var back auth.TwoFactorStatus
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, st, back)
}
