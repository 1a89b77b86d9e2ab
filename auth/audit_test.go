package auth_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// The audit trail's tests. Each runs once per engine on one database (the
// tamper cases restore the rows they change rather than take a fresh one),
// so the PostgreSQL run creates one database per test.

// allEvents reads the whole trail, oldest first, a page at a time.
func allEvents(t *testing.T, s *auth.Store) []auth.AuditEvent {
	t.Helper()
	return walk(t, s, auth.AuditFilter{Limit: auth.MaxPageSize})
}

// walk reads every page of f, starting at f.Cursor, and checks that every
// page but the last is full.
func walk(t *testing.T, s *auth.Store, f auth.AuditFilter) []auth.AuditEvent {
	t.Helper()
	limit := f.Limit
	if limit == 0 {
		limit = auth.DefaultPageSize
	}
	var out []auth.AuditEvent
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10000, "the walk does not end")
		page, err := s.AuditEvents(context.Background(), f)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), limit)
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		f.Cursor = page[len(page)-1].ID
	}
}

// ids lists the events' ids.
func ids(events []auth.AuditEvent) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// typesOf lists the events' types.
func typesOf(events []auth.AuditEvent) []auth.EventType {
	out := make([]auth.EventType, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

// seq is 1..n.
func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// trailState is what a write that records nothing must leave as it was:
// the rows of the trail and the chain's head.
type trailState struct {
	Rows     int
	LastID   int64
	LastHash string
}

func stateOf(t *testing.T, raw *sql.DB) trailState {
	t.Helper()
	var st trailState
	st.Rows = countRows(t, raw, "audit_events")
	require.NoError(t, raw.QueryRow("SELECT last_id, last_hash FROM audit_chain WHERE id = 1").Scan(&st.LastID, &st.LastHash))
	return st
}

// eventText is every text an event carries, for the search for secrets.
func eventText(e auth.AuditEvent) string {
	return strings.Join([]string{
		string(e.Type), e.UserPublicID, string(e.Actor.Kind), e.Actor.Name,
		e.Client.IP, e.Client.UserAgent, string(e.Detail),
	}, "\x00")
}

// wantEvent is an expected audit event; subject nil means none.
type wantEvent struct {
	typ     auth.EventType
	subject *auth.User
	actor   auth.Actor
	detail  string // JSON
}

// assertEvents checks events against want, one by one.
func assertEvents(t *testing.T, want []wantEvent, got []auth.AuditEvent) {
	t.Helper()
	wantTypes := make([]auth.EventType, len(want))
	for i, w := range want {
		wantTypes[i] = w.typ
	}
	require.Equal(t, wantTypes, typesOf(got), "the sequence of event types")
	for i, w := range want {
		e := got[i]
		msg := fmt.Sprintf("event %d (%s)", e.ID, e.Type)
		if w.subject == nil {
			assert.Zero(t, e.UserID, msg)
			assert.Empty(t, e.UserPublicID, msg)
		} else {
			assert.Equal(t, w.subject.ID, e.UserID, msg)
			assert.Equal(t, w.subject.PublicID, e.UserPublicID, msg)
		}
		assert.Equal(t, w.actor, e.Actor, msg)
		assert.JSONEq(t, w.detail, string(e.Detail), msg)
	}
}

func self(u auth.User) auth.Actor {
	return auth.Actor{Kind: auth.ActorUser, UserID: u.ID, PublicID: u.PublicID}
}

var (
	anonymous = auth.Actor{Kind: auth.ActorAnonymous}
	system    = auth.Actor{Kind: auth.ActorSystem}
)

// What people type into the identifier box that names no account: the
// trail must not keep it (it is often a password).
const (
	typedEmail    = "hunter2-typed-as-username@example.com"
	typedUsername = "Hunter2TypedAsUsername!"
)

// TestAuditRecordsCommittedChanges runs every audited operation once and
// checks the trail holds exactly one event per change, with its subject,
// actor and detail, and no secret anywhere; then that operations which fail
// (or change nothing) record nothing.
func TestAuditRecordsCommittedChanges(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		raw := testdb.Raw(t, dsn)

		var (
			secrets []string
			want    []wantEvent
		)
		hashOf := func(u auth.User) string {
			h, _ := storedHash(t, raw, u.ID)
			return h
		}
		keep := func(values ...string) {
			for _, v := range values {
				require.NotEmpty(t, v)
				secrets = append(secrets, v)
			}
		}
		expect := func(typ auth.EventType, subject *auth.User, actor auth.Actor, detail string) {
			want = append(want, wantEvent{typ, subject, actor, detail})
		}

		root, err := s.RegisterAdmin(ctx, reg("root"))
		require.NoError(t, err)
		keep(pw("root"), hashOf(root))
		expect(auth.EventUserRegistered, &root, self(root), `{"is_admin": true}`)
		expect(auth.EventAdminGranted, &root, system, `{}`)
		admin := auth.WithActor(ctx, auth.Actor{Kind: auth.ActorAdmin, UserID: root.ID})

		alice := mustRegister(t, s, reg("alice"))
		keep(pw("alice"), hashOf(alice))
		expect(auth.EventUserRegistered, &alice, self(alice), `{"is_admin": false}`)

		// Failed logins: a wrong password, and two identifiers that name no
		// account, with the passwords typed for them.
		_, err = s.Login(ctx, "alice", "Wrong-password-1")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		expect(auth.EventLoginFailed, &alice, anonymous, `{"reason": "wrong_password", "device": false}`)
		_, err = s.Login(ctx, typedEmail, "Typed-password-2")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		expect(auth.EventLoginFailed, nil, anonymous, `{"reason": "unknown_account", "device": false}`)
		_, err = s.Login(ctx, typedUsername, "Typed-password-3")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		expect(auth.EventLoginFailed, nil, anonymous, `{"reason": "unknown_account", "device": false}`)
		keep("Wrong-password-1", "Typed-password-2", "Typed-password-3", typedEmail, typedUsername)

		// Sessions: a login, its logout, a revoked one, one created without
		// a password, a login with a device token, a plain Login, and the
		// revocation of all of them.
		sess1 := mustLogin(t, s, "alice")
		expect(auth.EventLoginSucceeded, &alice, self(alice), fmt.Sprintf(`{"session_id": %d, "device": "none"}`, sess1.ID))
		require.NoError(t, s.DestroySession(ctx, sess1.Token))
		expect(auth.EventLoggedOut, &alice, self(alice), fmt.Sprintf(`{"session_id": %d}`, sess1.ID))
		sess2 := mustLogin(t, s, "alice")
		expect(auth.EventLoginSucceeded, &alice, self(alice), fmt.Sprintf(`{"session_id": %d, "device": "none"}`, sess2.ID))
		require.NoError(t, s.RevokeSession(ctx, alice.ID, sess2.ID))
		expect(auth.EventSessionsRevoked, &alice, self(alice), fmt.Sprintf(`{"session_id": %d}`, sess2.ID))
		sess3, err := s.CreateSession(ctx, alice.ID)
		require.NoError(t, err)
		expect(auth.EventSessionCreated, &alice, self(alice), fmt.Sprintf(`{"session_id": %d}`, sess3.ID))
		dev, err := s.LoginWithDevice(ctx, auth.LoginAttempt{Identifier: "alice@example.com", Password: pw("alice")})
		require.NoError(t, err)
		expect(auth.EventLoginSucceeded, &alice, self(alice), fmt.Sprintf(`{"session_id": %d, "device": "new"}`, dev.Session.ID))
		_, err = s.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		expect(auth.EventLoginSucceeded, &alice, self(alice), `{"device": "none"}`)
		n, err := s.RevokeSessions(ctx, alice.ID)
		require.NoError(t, err)
		require.Equal(t, int64(2), n)
		expect(auth.EventSessionsRevoked, &alice, self(alice), `{"sessions": 2}`)
		keep(sess1.Token, sess2.Token, sess3.Token, dev.Session.Token, dev.DeviceToken)

		// Password changes: a wrong current password, a change, an
		// administrator's set, a reset.
		require.ErrorIs(t, s.ChangePassword(ctx, alice.ID, "Wrong-current-4", "New-password-5"), auth.ErrInvalidCredentials)
		expect(auth.EventPasswordChangeFailed, &alice, self(alice), `{"reason": "wrong_password"}`)
		sess4 := mustLogin(t, s, "alice")
		expect(auth.EventLoginSucceeded, &alice, self(alice), fmt.Sprintf(`{"session_id": %d, "device": "none"}`, sess4.ID))
		require.NoError(t, s.ChangePassword(ctx, alice.ID, pw("alice"), "New-password-5"))
		expect(auth.EventPasswordChanged, &alice, self(alice), `{"sessions_ended": 1}`)
		keep("Wrong-current-4", "New-password-5", hashOf(alice), sess4.Token)

		_, sess5, err := s.LoginSession(ctx, "alice", "New-password-5")
		require.NoError(t, err)
		expect(auth.EventLoginSucceeded, &alice, self(alice), fmt.Sprintf(`{"session_id": %d, "device": "none"}`, sess5.ID))
		require.NoError(t, s.SetPassword(admin, alice.ID, "New-password-6"))
		expect(auth.EventPasswordSet, &alice, auth.Actor{Kind: auth.ActorAdmin, UserID: root.ID, PublicID: root.PublicID}, `{"sessions_ended": 1}`)
		keep("New-password-6", hashOf(alice), sess5.Token)

		reset, err := s.RequestPasswordReset(ctx, "ALICE@example.com")
		require.NoError(t, err)
		expect(auth.EventResetRequested, &alice, anonymous, `{}`)
		_, err = s.RequestPasswordReset(ctx, typedEmail)
		require.ErrorIs(t, err, auth.ErrNotFound)
		expect(auth.EventResetRequested, nil, anonymous, `{"unknown_account": true}`)
		require.NoError(t, s.ResetPassword(ctx, "alice@example.com", reset.Token, "New-password-7"))
		expect(auth.EventPasswordReset, &alice, self(alice), `{"sessions_ended": 0}`)
		keep(reset.Token, "New-password-7", hashOf(alice))

		// An update names the fields it changed, never their values.
		// Without WithActor it is the system's doing.
		updated, err := s.UpdateUser(ctx, alice.ID, auth.UserUpdate{Email: ptr("alice.new@example.com"), IsAdmin: ptr(true)})
		require.NoError(t, err)
		require.Equal(t, alice.PublicID, updated.PublicID)
		expect(auth.EventUserUpdated, &alice, system, `{"fields": ["email", "is_admin"], "sessions_ended": 0}`)
		expect(auth.EventAdminGranted, &alice, system, `{}`)

		require.NoError(t, s.DeleteUser(admin, alice.ID))
		expect(auth.EventUserDeleted, &alice, auth.Actor{Kind: auth.ActorAdmin, UserID: root.ID, PublicID: root.PublicID}, `{}`)

		events := allEvents(t, s)
		assertEvents(t, want, events)
		assert.Equal(t, seq(1, int64(len(want))), ids(events), "ids are gapless from 1")
		for _, e := range events {
			assert.Equal(t, t0.UTC().Truncate(time.Microsecond), e.Time, "event %d", e.ID)
			assert.Equal(t, time.UTC, e.Time.Location(), "event %d", e.ID)
			assert.Equal(t, auth.Client{}, e.Client, "no client in the context")
			assert.Len(t, e.Hash, 64)
		}
		// The deleted user's events are still theirs.
		mine := walk(t, s, auth.AuditFilter{UserID: alice.ID, Limit: 100})
		assert.Len(t, mine, countWhere(events, func(e auth.AuditEvent) bool { return e.UserID == alice.ID }))
		assert.Equal(t, auth.EventUserDeleted, mine[len(mine)-1].Type)

		t.Run("no secrets", func(t *testing.T) {
			secrets := append(secrets, "alice@example.com", "alice.new@example.com")
			for _, e := range events {
				text := eventText(e)
				for _, secret := range secrets {
					assert.NotContains(t, text, secret, "event %d (%s)", e.ID, e.Type)
				}
			}
		})

		// From here on, operations that fail or change nothing: the trail
		// and its head stay exactly as they were.
		bob := mustRegister(t, s, reg("bob"))
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		unknownToken := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
		for _, tc := range []struct {
			name string
			op   func() error
			want error // errNone: it succeeds
		}{
			{"duplicate registration", func() error { _, err := s.Register(ctx, reg("root")); return err }, auth.ErrDuplicate},
			{"update to a duplicate email", func() error {
				_, err := s.UpdateUser(ctx, bob.ID, auth.UserUpdate{Email: ptr("ROOT@example.com"), IsAdmin: ptr(true)})
				return err
			}, auth.ErrDuplicate},
			{"invalid update", func() error {
				_, err := s.UpdateUser(ctx, bob.ID, auth.UserUpdate{Email: ptr("not an address"), IsAdmin: ptr(true)})
				return err
			}, auth.ErrValidation},
			{"update that changes no value", func() error {
				_, err := s.UpdateUser(ctx, bob.ID, auth.UserUpdate{Username: ptr("bob"), IsAdmin: ptr(false)})
				return err
			}, errNone},
			{"update of an unknown user", func() error {
				_, err := s.UpdateUser(ctx, 9999, auth.UserUpdate{IsAdmin: ptr(true)})
				return err
			}, auth.ErrNotFound},
			{"delete an unknown user", func() error { return s.DeleteUser(admin, 9999) }, auth.ErrNotFound},
			{"set the password of an unknown user", func() error { return s.SetPassword(admin, 9999, "New-password-8") }, auth.ErrNotFound},
			{"reset with an unknown token", func() error { return s.ResetPassword(ctx, "bob@example.com", unknownToken, "New-password-8") }, auth.ErrInvalidResetToken},
			{"reset with a malformed token", func() error { return s.ResetPassword(ctx, "bob@example.com", "bad token", "New-password-8") }, auth.ErrInvalidResetToken},
			{"revoke an unknown session", func() error { return s.RevokeSession(ctx, bob.ID, 9999) }, auth.ErrSessionNotFound},
			{"revoke a session of an unknown user", func() error { return s.RevokeSession(ctx, 9999, 1) }, auth.ErrSessionNotFound},
			{"revoke the sessions of a user without any", func() error { _, err := s.RevokeSessions(ctx, bob.ID); return err }, errNone},
			{"destroy an unknown session", func() error { return s.DestroySession(ctx, unknownToken) }, auth.ErrInvalidSession},
			{"create a session for an unknown user", func() error { _, err := s.CreateSession(ctx, 9999); return err }, auth.ErrNotFound},

			{"cancelled register", func() error { _, err := s.Register(cancelled, reg("carol")); return err }, context.Canceled},
			{"cancelled login", func() error { _, _, err := s.LoginSession(cancelled, "bob", pw("bob")); return err }, context.Canceled},
			{"cancelled failed login", func() error { _, err := s.Login(cancelled, "bob", "Wrong-password-9"); return err }, context.Canceled},
			{"cancelled update", func() error {
				_, err := s.UpdateUser(cancelled, bob.ID, auth.UserUpdate{IsAdmin: ptr(true)})
				return err
			}, context.Canceled},
			{"cancelled delete", func() error { return s.DeleteUser(cancelled, bob.ID) }, context.Canceled},
			{"cancelled change", func() error { return s.ChangePassword(cancelled, bob.ID, pw("bob"), "New-password-8") }, context.Canceled},
			{"cancelled set", func() error { return s.SetPassword(cancelled, bob.ID, "New-password-8") }, context.Canceled},
			{"cancelled reset request", func() error { _, err := s.RequestPasswordReset(cancelled, "bob@example.com"); return err }, context.Canceled},
			{"cancelled session", func() error { _, err := s.CreateSession(cancelled, bob.ID); return err }, context.Canceled},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := stateOf(t, raw)
				err := tc.op()
				if tc.want == errNone {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tc.want)
				}
				assert.Equal(t, before, stateOf(t, raw), "nothing recorded")
			})
		}
		got, err := s.User(ctx, bob.ID)
		require.NoError(t, err, "no cancelled delete went through")
		assert.False(t, got.IsAdmin, "no failed update went through")
		r, err := s.VerifyAuditChain(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(len(want)+1), r.Events)
	})
}

// errNone marks a case that must succeed.
var errNone = errors.New("no error")

func countWhere(events []auth.AuditEvent, keep func(auth.AuditEvent) bool) int {
	n := 0
	for _, e := range events {
		if keep(e) {
			n++
		}
	}
	return n
}

// TestAuditEventAbortsItsChange checks the event and the change share one
// transaction: an event the database refuses (an actor kind the schema does
// not know) rolls back the registration it describes.
func TestAuditEventAbortsItsChange(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		raw := testdb.Raw(t, dsn)
		mustRegister(t, s, reg("ann"))
		before := stateOf(t, raw)

		_, err := s.Register(auth.WithActor(ctx, auth.Actor{Kind: "martian"}), reg("bob"))
		require.Error(t, err)
		_, err = s.UserByUsername(ctx, "bob")
		assert.ErrorIs(t, err, auth.ErrNotFound, "the registration rolled back with its event")
		assert.Equal(t, before, stateOf(t, raw))
		assert.Equal(t, 1, countRows(t, raw, "users"))

		_, err = s.VerifyAuditChain(ctx)
		require.NoError(t, err)
		mustRegister(t, s, reg("bob"))
		assert.Equal(t, []int64{1, 2}, ids(allEvents(t, s)), "the failed append left no gap")
	})
}

// TestAuditClientAndActor checks that the context's client and actor are
// recorded, and that what a client sends is stored cleaned and bounded.
func TestAuditClientAndActor(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)

		browser := auth.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
		web := auth.WithClient(ctx, browser)
		ann, err := s.Register(web, reg("ann"))
		require.NoError(t, err)
		_, err = s.Login(auth.WithClient(ctx, auth.Client{IP: "2001:db8::1", UserAgent: "curl/8.5.0"}), typedEmail, "Typed-password-1")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)

		cli := auth.WithActor(ctx, auth.Actor{Kind: auth.ActorOS, Name: "root"})
		require.NoError(t, s.SetPassword(cli, ann.ID, "New-password-2"))
		both := auth.WithActor(web, auth.Actor{Kind: auth.ActorAdmin, UserID: ann.ID})
		_, err = s.UpdateUser(both, ann.ID, auth.UserUpdate{Phone: ptr("+14155550100")})
		require.NoError(t, err)

		// 10 KB of hostile user agent: control characters that would forge
		// a log line or colour a terminal, invalid UTF-8, and a multi-byte
		// character across the 256-byte bound.
		hostile := "\x00evil\x1b[2J\r\nX-Forged: yes\t\x7f\u0085\xff\xfe" + strings.Repeat("€", 3500)
		hostileIP := "198.51.100.1\r\n" + strings.Repeat("9", 10<<10)
		hostileName := "root\x1b]0;owned\x07\n" + strings.Repeat("é", 300)
		evil := auth.WithActor(auth.WithClient(ctx, auth.Client{IP: hostileIP, UserAgent: hostile}),
			auth.Actor{Kind: auth.ActorOS, Name: hostileName})
		require.NoError(t, s.SetPassword(evil, ann.ID, "New-password-3"))

		events := allEvents(t, s)
		require.Equal(t, []auth.EventType{
			auth.EventUserRegistered, auth.EventLoginFailed, auth.EventPasswordSet, auth.EventUserUpdated, auth.EventPasswordSet,
		}, typesOf(events))
		assert.Equal(t, browser, events[0].Client)
		assert.Equal(t, self(ann), events[0].Actor)
		assert.Equal(t, auth.Client{IP: "2001:db8::1", UserAgent: "curl/8.5.0"}, events[1].Client, "a failed login records its client")
		assert.Equal(t, anonymous, events[1].Actor)
		assert.Equal(t, auth.Actor{Kind: auth.ActorOS, Name: "root"}, events[2].Actor)
		assert.Equal(t, auth.Client{}, events[2].Client)
		assert.Equal(t, auth.Actor{Kind: auth.ActorAdmin, UserID: ann.ID, PublicID: ann.PublicID}, events[3].Actor)
		assert.Equal(t, browser, events[3].Client)

		e := events[4]
		assert.Equal(t, auth.ActorOS, e.Actor.Kind)
		for field, v := range map[string]string{"user agent": e.Client.UserAgent, "ip": e.Client.IP, "actor name": e.Actor.Name} {
			assert.LessOrEqual(t, len(v), 256, field)
			assert.GreaterOrEqual(t, len(v), 250, "%s: cut on a character boundary, not emptied", field)
			assert.True(t, utf8.ValidString(v), "%s: %q", field, v)
			assert.False(t, strings.ContainsFunc(v, unicode.IsControl), "%s: %q", field, v)
		}
		assert.True(t, strings.HasPrefix(e.Client.UserAgent, "\uFFFDevil\uFFFD[2J\uFFFD\uFFFDX-Forged: yes"), e.Client.UserAgent)
		assert.True(t, strings.HasSuffix(e.Client.UserAgent, "€"), "cut between characters")
		assert.True(t, strings.HasPrefix(e.Client.IP, "198.51.100.1"), e.Client.IP)
		assert.True(t, strings.HasPrefix(e.Actor.Name, "root"), e.Actor.Name)

		_, err = s.VerifyAuditChain(ctx)
		require.NoError(t, err, "cleaned fields hash as stored")
	})
}

// TestAuditChain checks that the chain verifies as the store writes it, that
// the schema refuses updates, and that VerifyAuditChain names the first event
// of every kind of tampering. Each case tampers with the rows through raw
// SQL, verifies, and restores them from a copy, so one database serves all.
func TestAuditChain(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		raw := testdb.Raw(t, dsn)

		r, err := s.VerifyAuditChain(ctx)
		require.NoError(t, err, "an empty trail verifies")
		assert.Equal(t, auth.AuditChainReport{}, r)

		for _, name := range []string{"ann", "bob", "cat"} {
			mustRegister(t, s, reg(name))
			clk.Advance(time.Second)
		}
		_, err = s.Login(auth.WithClient(ctx, auth.Client{IP: "192.0.2.1", UserAgent: "ua"}), "ann", "Wrong-password-1")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		mustLogin(t, s, "bob")
		_, err = s.Login(ctx, typedEmail, "Typed-password-2")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		const last = 6
		r, err = s.VerifyAuditChain(ctx)
		require.NoError(t, err)
		assert.Equal(t, auth.AuditChainReport{Events: last, FirstID: 1, LastID: last}, r)

		_, err = raw.Exec(`UPDATE audit_events SET detail = '{"reason": "nothing"}' WHERE id = 4`)
		require.Error(t, err, "the trigger refuses updates")
		assert.Contains(t, err.Error(), "append-only")
		_, err = raw.Exec(`UPDATE audit_events SET hash = hash`)
		require.Error(t, err, "even one that changes nothing")
		r, err = s.VerifyAuditChain(ctx)
		require.NoError(t, err, "the refused updates changed nothing")
		assert.Equal(t, int64(last), r.Events)

		// What follows bypasses the trigger, as someone with write access to
		// the database can.
		dropTrigger := "DROP TRIGGER audit_events_append_only"
		if strings.HasPrefix(dsn, "postgres") {
			dropTrigger += " ON audit_events"
		}
		for _, q := range []string{
			dropTrigger,
			"CREATE TABLE audit_events_copy AS SELECT * FROM audit_events",
			"CREATE TABLE audit_chain_copy AS SELECT * FROM audit_chain",
		} {
			_, err := raw.Exec(q)
			require.NoError(t, err, q)
		}
		restore := func(t *testing.T) {
			t.Helper()
			for _, q := range []string{
				"DELETE FROM audit_events",
				"INSERT INTO audit_events SELECT * FROM audit_events_copy",
				"DELETE FROM audit_chain",
				"INSERT INTO audit_chain SELECT * FROM audit_chain_copy",
			} {
				_, err := raw.Exec(q)
				require.NoError(t, err, q)
			}
			r, err := s.VerifyAuditChain(ctx)
			require.NoError(t, err, "restored")
			require.Equal(t, int64(last), r.Events)
		}
		const otherHash = "00000000000000000000000000000000000000000000000000000000000000ff"
		copyOfLast := `INSERT INTO audit_events (id, occurred_at, type, user_id, user_public_id, actor_kind, actor_user_id,
			actor_name, client_ip, user_agent, detail, prev_hash, hash)
		SELECT ?1, occurred_at, type, user_id, user_public_id, actor_kind, actor_user_id,
			actor_name, client_ip, user_agent, detail, hash, hash
		FROM audit_events WHERE id = ?2`

		for _, tc := range []struct {
			name    string
			tamper  []string
			args    []any // for the last statement
			eventID int64
		}{
			{name: "detail edited", tamper: []string{`UPDATE audit_events SET detail = '{"reason": "nothing"}' WHERE id = 4`}, eventID: 4},
			{name: "client edited", tamper: []string{`UPDATE audit_events SET client_ip = '10.0.0.1' WHERE id = 4`}, eventID: 4},
			{name: "time moved", tamper: []string{`UPDATE audit_events SET occurred_at = (SELECT occurred_at FROM audit_events WHERE id = 1) WHERE id = 3`}, eventID: 3},
			{name: "subject removed", tamper: []string{`UPDATE audit_events SET user_id = NULL, user_public_id = '' WHERE id = 2`}, eventID: 2},
			{name: "actor changed", tamper: []string{`UPDATE audit_events SET actor_kind = 'system', actor_user_id = NULL WHERE id = 5`}, eventID: 5},
			{name: "type changed", tamper: []string{`UPDATE audit_events SET type = 'login.succeeded' WHERE id = 4`}, eventID: 4},
			{name: "actor's public id changed", tamper: []string{`UPDATE audit_events SET actor_public_id = user_public_id || 'x' WHERE id = 5`}, eventID: 5},
			{name: "actor's public id removed", tamper: []string{`UPDATE audit_events SET actor_public_id = '' WHERE id = 5`}, eventID: 5},
			{name: "prev_hash changed", tamper: []string{`UPDATE audit_events SET prev_hash = '` + otherHash + `' WHERE id = 3`}, eventID: 3},
			{name: "hash changed", tamper: []string{`UPDATE audit_events SET hash = '` + otherHash + `' WHERE id = 3`}, eventID: 3},
			{name: "first row deleted", tamper: []string{`DELETE FROM audit_events WHERE id = 1`}, eventID: 1},
			{name: "middle row deleted", tamper: []string{`DELETE FROM audit_events WHERE id = 3`}, eventID: 3},
			{name: "newest row deleted", tamper: []string{`DELETE FROM audit_events WHERE id = 6`}, eventID: last},
			{name: "every row deleted", tamper: []string{`DELETE FROM audit_events`}, eventID: 1},
			{name: "head names another hash", tamper: []string{`UPDATE audit_chain SET last_hash = '` + otherHash + `'`}, eventID: last},
			{
				name:   "two rows swapped",
				tamper: []string{`UPDATE audit_events SET id = 100 WHERE id = 2`, `UPDATE audit_events SET id = 2 WHERE id = 3`, `UPDATE audit_events SET id = 3 WHERE id = 100`},
				// Row 2 now holds event 3, which chains to event 2's hash, not 1's.
				eventID: 2,
			},
			{
				name: "row forged after the newest", tamper: []string{copyOfLast}, args: []any{last + 1, last}, eventID: last + 1,
			},
			{
				name: "row forged before the first", tamper: []string{copyOfLast}, args: []any{0, 1}, eventID: 0,
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				defer restore(t)
				for i, q := range tc.tamper {
					var args []any
					if i == len(tc.tamper)-1 {
						args = tc.args
					}
					_, err := raw.Exec(q, args...)
					require.NoError(t, err, q)
				}
				_, err := s.VerifyAuditChain(ctx)
				var chainErr *auth.AuditChainError
				require.ErrorAs(t, err, &chainErr)
				assert.ErrorIs(t, err, auth.ErrAuditChainBroken)
				assert.Equal(t, tc.eventID, chainErr.EventID, "reason: %s", chainErr.Reason)
				assert.NotEmpty(t, chainErr.Reason)
			})
		}

		// The restored trail goes on as before.
		mustRegister(t, s, reg("dan"))
		r, err = s.VerifyAuditChain(ctx)
		require.NoError(t, err)
		assert.Equal(t, auth.AuditChainReport{Events: last + 1, FirstID: 1, LastID: last + 1}, r)
	})
}

// TestAuditEventsFilters checks the read API against a filter computed here
// over the whole trail: keyset pages in both orders, and every filter alone
// and combined.
func TestAuditEventsFilters(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))

		// Hour 0: three registrations.
		ann := mustRegister(t, s, reg("ann"))
		bob := mustRegister(t, s, reg("bob"))
		cat := mustRegister(t, s, reg("cat"))
		// Hour 1: failed and successful logins.
		clk.Advance(time.Hour)
		for range 2 {
			_, err := s.Login(ctx, "ann", "Wrong-password-1")
			require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		}
		_, err := s.Login(ctx, typedEmail, "Wrong-password-1")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		bobSession := mustLogin(t, s, "bob")
		mustLogin(t, s, "ann")
		// Hour 2: a logout, an update.
		clk.Advance(time.Hour)
		require.NoError(t, s.DestroySession(ctx, bobSession.Token))
		_, err = s.UpdateUser(ctx, cat.ID, auth.UserUpdate{Phone: ptr("+14155550100"), IsAdmin: ptr(true)})
		require.NoError(t, err)
		// Hour 3: more than a default page of failures.
		clk.Advance(time.Hour)
		for range auth.DefaultPageSize {
			_, err := s.Login(ctx, "cat", "Wrong-password-1")
			require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		}
		// Hour 4: bob goes.
		clk.Advance(time.Hour)
		require.NoError(t, s.DeleteUser(ctx, bob.ID))

		all := allEvents(t, s)
		total := int64(len(all))
		require.Equal(t, seq(1, total), ids(all))
		hour := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) } // in UTC+2, with nanoseconds
		stored := func(h int) time.Time { return hour(h).UTC().Truncate(time.Microsecond) }

		page, err := s.AuditEvents(ctx, auth.AuditFilter{})
		require.NoError(t, err)
		assert.Len(t, page, auth.DefaultPageSize, "the default page size")
		page, err = s.AuditEvents(ctx, auth.AuditFilter{Cursor: total})
		require.NoError(t, err)
		assert.Empty(t, page, "after the newest")
		page, err = s.AuditEvents(ctx, auth.AuditFilter{NewestFirst: true, Cursor: 1})
		require.NoError(t, err)
		assert.Empty(t, page, "before the oldest")
		page, err = s.AuditEvents(ctx, auth.AuditFilter{NewestFirst: true, Limit: 1})
		require.NoError(t, err)
		require.Len(t, page, 1)
		assert.Equal(t, total, page[0].ID)
		assert.Equal(t, auth.EventUserDeleted, page[0].Type)

		for _, tc := range []struct {
			name string
			f    auth.AuditFilter
			// keep is what f selects; empty says the case expects nothing.
			keep  func(auth.AuditEvent) bool
			empty bool
		}{
			{name: "everything", keep: func(auth.AuditEvent) bool { return true }},
			{name: "a user", f: auth.AuditFilter{UserID: ann.ID}, keep: func(e auth.AuditEvent) bool { return e.UserID == ann.ID }},
			{name: "a deleted user", f: auth.AuditFilter{UserID: bob.ID}, keep: func(e auth.AuditEvent) bool { return e.UserPublicID == bob.PublicID }},
			{name: "an unknown user", f: auth.AuditFilter{UserID: 9999}, empty: true},
			{name: "one type", f: auth.AuditFilter{Types: []auth.EventType{auth.EventLoginSucceeded}}, keep: isType(auth.EventLoginSucceeded)},
			{
				name: "several types",
				f:    auth.AuditFilter{Types: []auth.EventType{auth.EventLoginFailed, auth.EventUserDeleted, auth.EventAdminGranted}},
				keep: isType(auth.EventLoginFailed, auth.EventUserDeleted, auth.EventAdminGranted),
			},
			{name: "a prefix of types", f: auth.AuditFilter{Types: []auth.EventType{"login"}}, empty: true},
			{name: "a prefix with a dot", f: auth.AuditFilter{Types: []auth.EventType{"login."}}, empty: true},
			{name: "a suffix of a type", f: auth.AuditFilter{Types: []auth.EventType{"failed"}}, empty: true},
			{name: "two types that make a third", f: auth.AuditFilter{Types: []auth.EventType{"user", "registered"}}, empty: true},
			{name: "an unknown type", f: auth.AuditFilter{Types: []auth.EventType{"user.registered.x"}}, empty: true},
			{name: "since", f: auth.AuditFilter{Since: stored(2)}, keep: timeIn(stored(2), time.Time{})},
			{name: "until", f: auth.AuditFilter{Until: stored(1)}, keep: timeIn(time.Time{}, stored(1))},
			{name: "since and until", f: auth.AuditFilter{Since: stored(1), Until: stored(3)}, keep: timeIn(stored(1), stored(3))},
			{name: "since in another zone", f: auth.AuditFilter{Since: stored(2).In(t0.Location())}, keep: timeIn(stored(2), time.Time{})},
			{name: "an empty range", f: auth.AuditFilter{Since: stored(2), Until: stored(2)}, empty: true},
			{name: "a range without events", f: auth.AuditFilter{Since: stored(5)}, empty: true},
			{
				name: "combined",
				f:    auth.AuditFilter{UserID: ann.ID, Types: []auth.EventType{auth.EventLoginFailed, auth.EventUserRegistered}, Since: stored(1), Until: stored(3)},
				keep: func(e auth.AuditEvent) bool {
					return e.UserID == ann.ID && isType(auth.EventLoginFailed, auth.EventUserRegistered)(e) && timeIn(stored(1), stored(3))(e)
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := []int64{}
				if !tc.empty {
					for _, e := range all {
						if tc.keep(e) {
							want = append(want, e.ID)
						}
					}
					require.NotEmpty(t, want, "the case selects something")
				}
				f := tc.f
				f.Limit = 2
				got := walk(t, s, f)
				assert.Equal(t, want, ids(got), "oldest first")
				for _, e := range got {
					assert.Equal(t, all[e.ID-1], e, "an event reads the same whatever the filter")
				}
				f.NewestFirst = true
				got = walk(t, s, f)
				slices.Reverse(want)
				assert.Equal(t, want, ids(got), "newest first")
			})
		}

		// Bounds read from the store's clock select the events recorded at
		// that reading: they are compared at the precision times are stored
		// at (microseconds), alike on both engines.
		t.Run("bounds with nanoseconds", func(t *testing.T) {
			require.NotZero(t, hour(1).Nanosecond()%1000, "the clock has nanoseconds")
			got := walk(t, s, auth.AuditFilter{Since: hour(1), Until: hour(2), Limit: 100})
			want := []int64{}
			for _, e := range all {
				if timeIn(stored(1), stored(2))(e) {
					want = append(want, e.ID)
				}
			}
			assert.Equal(t, want, ids(got))
		})

		for _, tc := range []struct {
			name   string
			f      auth.AuditFilter
			fields []string
		}{
			{"negative limit", auth.AuditFilter{Limit: -1}, []string{"limit"}},
			{"limit over the maximum", auth.AuditFilter{Limit: auth.MaxPageSize + 1}, []string{"limit"}},
			{"type in upper case", auth.AuditFilter{Types: []auth.EventType{"Login.Failed"}}, []string{"types"}},
			{"type with a comma", auth.AuditFilter{Types: []auth.EventType{"login.failed,user.deleted"}}, []string{"types"}},
			{"type with a space", auth.AuditFilter{Types: []auth.EventType{"login failed"}}, []string{"types"}},
			{"type with a wildcard", auth.AuditFilter{Types: []auth.EventType{"login.%"}}, []string{"types"}},
			{"empty type", auth.AuditFilter{Types: []auth.EventType{auth.EventLoginFailed, ""}}, []string{"types"}},
			{"type too long", auth.AuditFilter{Types: []auth.EventType{auth.EventType(strings.Repeat("a", 65))}}, []string{"types"}},
			{"both", auth.AuditFilter{Limit: -1, Types: []auth.EventType{"x y"}}, []string{"limit", "types"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.AuditEvents(ctx, tc.f)
				requireValidation(t, err, tc.fields...)
				assert.Nil(t, got)
			})
		}
		got, err := s.AuditEvents(ctx, auth.AuditFilter{Types: []auth.EventType{auth.EventType(strings.Repeat("a", 64))}, Limit: auth.MaxPageSize})
		require.NoError(t, err, "64 characters and MaxPageSize are allowed")
		assert.Empty(t, got)
	})
}

func isType(types ...auth.EventType) func(auth.AuditEvent) bool {
	return func(e auth.AuditEvent) bool { return slices.Contains(types, e.Type) }
}

// timeIn keeps since <= Time < until; a zero bound is no bound.
func timeIn(since, until time.Time) func(auth.AuditEvent) bool {
	return func(e auth.AuditEvent) bool {
		return (since.IsZero() || !e.Time.Before(since)) && (until.IsZero() || e.Time.Before(until))
	}
}

// TestAuditRetention checks that PurgeExpired deletes the events older than
// the retention, keeps the rest, records the purge, and leaves a chain that
// verifies from its new anchor.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		const retention = 48 * time.Hour
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk), func(c *auth.Config) { c.AuditRetention = retention })
		now := func() time.Time { return clk.Now().UTC().Truncate(time.Microsecond) }

		ann := mustRegister(t, s, reg("ann")) // 1
		_, err := s.Login(ctx, "ann", "Wrong-password-1")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials) // 2
		clk.Advance(time.Hour)
		bob := mustRegister(t, s, reg("bob")) // 3, exactly at the cutoff below: kept
		clk.Advance(retention)
		mustRegister(t, s, reg("cat")) // 4

		c, err := s.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), c.AuditEvents)
		events := allEvents(t, s)
		require.Equal(t, []int64{3, 4, 5}, ids(events))
		assert.Equal(t, []auth.EventType{auth.EventUserRegistered, auth.EventUserRegistered, auth.EventAuditPurged}, typesOf(events))
		assert.Equal(t, bob.ID, events[0].UserID)
		purged := events[2]
		assert.Equal(t, system, purged.Actor)
		assert.Zero(t, purged.UserID)
		assert.Equal(t, now(), purged.Time)
		assert.JSONEq(t, `{"through_id": 2, "events": 2}`, string(purged.Detail))
		gone, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: ann.ID})
		require.NoError(t, err)
		assert.Empty(t, gone, "ann's events are past the retention")
		r, err := s.VerifyAuditChain(ctx)
		require.NoError(t, err, "the chain verifies from its anchor")
		assert.Equal(t, auth.AuditChainReport{Events: 3, FirstID: 3, LastID: 5}, r)

		c, err = s.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.Zero(t, c.AuditEvents)
		assert.Equal(t, []int64{3, 4, 5}, ids(allEvents(t, s)), "a purge that deletes nothing records nothing")

		// A store that keeps events for ever, on the same database, purges
		// none of them however old.
		forever := newStore(t, dsn, withClock(clk), func(c *auth.Config) { c.AuditRetention = -1 })
		clk.Advance(1000 * 24 * time.Hour)
		c, err = forever.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.Zero(t, c.AuditEvents)
		assert.Equal(t, []int64{3, 4, 5}, ids(allEvents(t, s)))

		// Everything is old now, the first purge's event too.
		c, err = s.PurgeExpired(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(3), c.AuditEvents)
		events = allEvents(t, s)
		require.Equal(t, []int64{6}, ids(events))
		assert.JSONEq(t, `{"through_id": 5, "events": 3}`, string(events[0].Detail))
		mustRegister(t, s, reg("dan"))
		r, err = s.VerifyAuditChain(ctx)
		require.NoError(t, err)
		assert.Equal(t, auth.AuditChainReport{Events: 2, FirstID: 6, LastID: 7}, r)
	})
}

// TestAuditConcurrentWriters races audited writes, on PostgreSQL from two
// stores on one database: every successful operation leaves exactly one
// event, ids stay gapless, and the chain verifies.
func TestAuditConcurrentWriters(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		stores := []*auth.Store{newStore(t, dsn)}
		if strings.HasPrefix(dsn, "postgres") {
			stores = append(stores, newStore(t, dsn))
		}
		const (
			workers = 16
			rounds  = 3
		)
		var (
			mu     sync.Mutex
			counts = map[auth.EventType]int{}
			wg     sync.WaitGroup
			start  = make(chan struct{})
		)
		did := func(typ auth.EventType) {
			mu.Lock()
			defer mu.Unlock()
			counts[typ]++
		}
		for i := range workers {
			wg.Go(func() {
				s := stores[i%len(stores)]
				name := fmt.Sprintf("worker%02d", i)
				<-start
				if _, err := s.Register(ctx, reg(name)); assert.NoError(t, err) {
					did(auth.EventUserRegistered)
				}
				// One name for all: exactly one of these wins.
				_, err := s.Register(ctx, auth.Registration{Username: "racer", Email: name + ".racer@example.com", Password: "Racer-password-1"})
				if err == nil {
					did(auth.EventUserRegistered)
				} else {
					assert.ErrorIs(t, err, auth.ErrDuplicate)
				}
				for range rounds {
					if _, _, err := s.LoginSession(ctx, name, pw(name)); assert.NoError(t, err) {
						did(auth.EventLoginSucceeded)
					}
					if _, err := s.Login(ctx, name, "Wrong-password-1"); assert.ErrorIs(t, err, auth.ErrInvalidCredentials) {
						did(auth.EventLoginFailed)
					}
					if _, err := s.Login(ctx, name+"@example.org", "Wrong-password-1"); assert.ErrorIs(t, err, auth.ErrInvalidCredentials) {
						did(auth.EventLoginFailed)
					}
				}
			})
		}
		close(start)
		wg.Wait()

		s := stores[0]
		events := allEvents(t, s)
		total := 0
		for _, n := range counts {
			total += n
		}
		require.Equal(t, seq(1, int64(total)), ids(events), "one event per success, gapless")
		got := map[auth.EventType]int{}
		for _, e := range events {
			got[e.Type]++
		}
		assert.Equal(t, counts, got)
		assert.Equal(t, workers+1, got[auth.EventUserRegistered], "one racer won")
		for _, st := range stores {
			r, err := st.VerifyAuditChain(ctx)
			require.NoError(t, err)
			assert.Equal(t, auth.AuditChainReport{Events: int64(total), FirstID: 1, LastID: int64(total)}, r)
		}
	})
}

// TestAuditInvalidActor: an operation run with an actor that is not one is
// refused with ErrInvalidActor and writes nothing; format characters in a
// client's user agent are replaced, so that it can neither reorder nor
// split what a terminal shows.
func TestAuditInvalidActor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := auth.OpenMemory(ctx, testConfig())
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	for _, a := range []auth.Actor{{}, {Kind: "martian"}, {Kind: auth.ActorAdmin}, {Kind: auth.ActorUser, UserID: -1}} {
		_, err := s.Register(auth.WithActor(ctx, a), reg("alice"))
		require.ErrorIs(t, err, auth.ErrInvalidActor, "%+v", a)
	}
	_, err = s.UserByUsername(ctx, "alice")
	require.ErrorIs(t, err, auth.ErrNotFound, "nothing was written")

	ua := "evil\u202eexe.txt\u2028second line\u200d"
	_, err = s.Register(auth.WithClient(ctx, auth.Client{UserAgent: ua}), reg("alice"))
	require.NoError(t, err)
	events, err := s.AuditEvents(ctx, auth.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, "evil\uFFFDexe.txt\uFFFDsecond line\uFFFD", events[0].Client.UserAgent)
}
