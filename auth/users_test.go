package auth_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

func TestGetUser(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		alice, err := s.RegisterAdmin(ctx, auth.Registration{
			Username: "alice", Email: "Alice@Example.com", Phone: "+15551230001", Password: pw("alice"),
		})
		require.NoError(t, err)
		bob := mustRegister(t, s, reg("bob"))
		assert.True(t, alice.IsAdmin)
		assert.False(t, bob.IsAdmin)
		assert.Equal(t, "+15551230001", alice.Phone)
		assert.Equal(t, "Alice@Example.com", alice.Email, "the email is stored as given")

		found := []struct {
			name string
			get  func() (auth.User, error)
			want auth.User
		}{
			{"by id", func() (auth.User, error) { return s.User(ctx, alice.ID) }, alice},
			{"by id, another user", func() (auth.User, error) { return s.User(ctx, bob.ID) }, bob},
			{"by public id", func() (auth.User, error) { return s.UserByPublicID(ctx, alice.PublicID) }, alice},
			{"by username", func() (auth.User, error) { return s.UserByUsername(ctx, "alice") }, alice},
			{"by email as stored", func() (auth.User, error) { return s.UserByEmail(ctx, "Alice@Example.com") }, alice},
			{"by email in lower case", func() (auth.User, error) { return s.UserByEmail(ctx, "alice@example.com") }, alice},
			{"by email in upper case", func() (auth.User, error) { return s.UserByEmail(ctx, "ALICE@EXAMPLE.COM") }, alice},
		}
		for _, tc := range found {
			t.Run(tc.name, func(t *testing.T) {
				got, err := tc.get()
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
			})
		}

		missing := []struct {
			name string
			get  func() (auth.User, error)
		}{
			{"id", func() (auth.User, error) { return s.User(ctx, 999) }},
			{"id 0", func() (auth.User, error) { return s.User(ctx, 0) }},
			{"public id", func() (auth.User, error) { return s.UserByPublicID(ctx, "01900000-0000-7000-8000-000000000000") }},
			{"public id not a uuid", func() (auth.User, error) { return s.UserByPublicID(ctx, "nope") }},
			{"username", func() (auth.User, error) { return s.UserByUsername(ctx, "ghost") }},
			{"username in another case", func() (auth.User, error) { return s.UserByUsername(ctx, "ALICE") }},
			{"empty username", func() (auth.User, error) { return s.UserByUsername(ctx, "") }},
			{"email", func() (auth.User, error) { return s.UserByEmail(ctx, "ghost@example.com") }},
			{"empty email", func() (auth.User, error) { return s.UserByEmail(ctx, "") }},
		}
		for _, tc := range missing {
			t.Run("missing "+tc.name, func(t *testing.T) {
				_, err := tc.get()
				assert.ErrorIs(t, err, auth.ErrNotFound)
			})
		}
	})
}

// TestGetUserWithoutUsername: under a policy where usernames are optional,
// users without one have Username "" and cannot be found by "".
func TestGetUserWithoutUsername(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		p := auth.DefaultPolicy()
		p.RequireUsername = false
		s := newStore(t, dsn, withPolicy(p))
		a := mustRegister(t, s, auth.Registration{Email: "a@example.com", Password: pw("a")})
		mustRegister(t, s, auth.Registration{Email: "b@example.com", Password: pw("b")})
		assert.Equal(t, "", a.Username)
		assert.Equal(t, "", a.Phone)
		_, err := s.UserByUsername(ctx, "")
		assert.ErrorIs(t, err, auth.ErrNotFound)
		_, err = s.Login(ctx, "", pw("a"))
		assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
		got, err := s.Login(ctx, "a@example.com", pw("a"))
		require.NoError(t, err)
		assert.Equal(t, a, got)
	})
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestPublicIDs: public ids are UUIDv7 strings carrying the store clock's
// millisecond, so they sort in registration order.
func TestPublicIDs(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		var ids []string
		seen := map[string]bool{}
		for i := range 6 {
			u := mustRegister(t, s, reg(fmt.Sprintf("user%d", i)))
			require.Regexp(t, uuidV7, u.PublicID)
			ms, err := hex.DecodeString(strings.ReplaceAll(u.PublicID, "-", "")[:12])
			require.NoError(t, err)
			var unixMilli int64
			for _, b := range ms {
				unixMilli = unixMilli<<8 | int64(b)
			}
			assert.Equal(t, clk.Now().UnixMilli(), unixMilli, "the id carries the clock's millisecond")
			assert.False(t, seen[u.PublicID], "public ids are unique")
			seen[u.PublicID] = true
			ids = append(ids, u.PublicID)
			clk.Advance(time.Millisecond)
		}
		assert.True(t, sort.StringsAreSorted(ids), "public ids must sort in registration order: %v", ids)
	})
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		var want []auth.User
		for i := range 7 {
			want = append(want, mustRegister(t, s, reg(fmt.Sprintf("user%d", i))))
		}

		var got []auth.User
		var sizes []int
		after := int64(0)
		for range 10 { // bounded: a bug must not loop forever
			page, err := s.ListUsers(ctx, auth.ListOptions{AfterID: after, Limit: 3})
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			sizes = append(sizes, len(page))
			got = append(got, page...)
			after = page[len(page)-1].ID
		}
		assert.Equal(t, []int{3, 3, 1}, sizes)
		assert.Equal(t, want, got, "every user once, in id order: no gaps, no repeats")

		all, err := s.ListUsers(ctx, auth.ListOptions{})
		require.NoError(t, err)
		assert.Equal(t, want, all, "Limit 0 is the default page size")

		full, err := s.ListUsers(ctx, auth.ListOptions{Limit: auth.MaxPageSize})
		require.NoError(t, err)
		assert.Len(t, full, 7)

		past, err := s.ListUsers(ctx, auth.ListOptions{AfterID: want[6].ID})
		require.NoError(t, err)
		assert.Empty(t, past)

		// Keyset pages stay consistent while users come and go: deleting a
		// user on an earlier page does not shift the next one.
		first, err := s.ListUsers(ctx, auth.ListOptions{Limit: 3})
		require.NoError(t, err)
		require.NoError(t, s.DeleteUser(ctx, first[1].ID))
		second, err := s.ListUsers(ctx, auth.ListOptions{AfterID: first[2].ID, Limit: 3})
		require.NoError(t, err)
		assert.Equal(t, want[3:6], second)

		for _, limit := range []int{-1, auth.MaxPageSize + 1} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				_, err := s.ListUsers(ctx, auth.ListOptions{Limit: limit})
				requireValidation(t, err, "limit")
			})
		}
	})
}

// TestListUsersByPublicID pages by public id, across pages, in public-id
// order even where it differs from the id order (a clock set back), with
// the admin filter in both orders, and refuses malformed cursors.
func TestListUsersByPublicID(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		// Registration times out of id order: 0, +3 ms, -5 ms, +3 ms (the
		// same millisecond as the second, so their random bits decide), ...
		steps := []time.Duration{0, 3, -5, 0, 7, -1, 2, 0, -9, 4}
		var users []auth.User
		for i, step := range steps {
			clk.Advance(step * time.Millisecond)
			r := reg(fmt.Sprintf("user%d", i))
			register := s.Register
			if i%3 == 1 {
				register = s.RegisterAdmin
			}
			u, err := register(ctx, r)
			require.NoError(t, err)
			users = append(users, u)
		}
		byPublicID := append([]auth.User(nil), users...)
		sort.Slice(byPublicID, func(i, j int) bool { return byPublicID[i].PublicID < byPublicID[j].PublicID })
		require.NotEqual(t, users, byPublicID, "the test needs the two orders to differ")
		for i := 1; i < len(byPublicID); i++ {
			assert.False(t, byPublicID[i].CreatedAt.Before(byPublicID[i-1].CreatedAt.Truncate(time.Millisecond)),
				"public ids are in registration-time order, to the millisecond")
		}
		var admins []auth.User
		for _, u := range byPublicID {
			if u.IsAdmin {
				admins = append(admins, u)
			}
		}
		require.Len(t, admins, 3)

		pages := func(opts auth.ListOptions) (got []auth.User, sizes []int) {
			for range 20 { // bounded: a bug must not loop forever
				page, err := s.ListUsers(ctx, opts)
				require.NoError(t, err)
				if len(page) == 0 {
					return got, sizes
				}
				got, sizes = append(got, page...), append(sizes, len(page))
				opts.AfterPublicID = strings.ToUpper(page[len(page)-1].PublicID) // any case
			}
			t.Fatal("too many pages")
			return nil, nil
		}
		got, sizes := pages(auth.ListOptions{Order: auth.ByPublicID, Limit: 4})
		assert.Equal(t, []int{4, 4, 2}, sizes)
		assert.Equal(t, byPublicID, got, "every user once, in public-id order")
		got, sizes = pages(auth.ListOptions{Order: auth.ByPublicID, AdminsOnly: true, Limit: 2})
		assert.Equal(t, []int{2, 1}, sizes)
		assert.Equal(t, admins, got)

		// The id order filters administrators in SQL as well.
		page, err := s.ListUsers(ctx, auth.ListOptions{AdminsOnly: true, Limit: 2})
		require.NoError(t, err)
		assert.Equal(t, []auth.User{users[1], users[4]}, page)
		page, err = s.ListUsers(ctx, auth.ListOptions{AdminsOnly: true, AfterID: users[4].ID})
		require.NoError(t, err)
		assert.Equal(t, []auth.User{users[7]}, page)

		// The cursor need not name a user still there.
		require.NoError(t, s.DeleteUser(ctx, byPublicID[3].ID))
		page, err = s.ListUsers(ctx, auth.ListOptions{Order: auth.ByPublicID, AfterPublicID: byPublicID[3].PublicID, Limit: 2})
		require.NoError(t, err)
		assert.Equal(t, byPublicID[4:6], page)

		for _, tc := range []struct {
			name  string
			opts  auth.ListOptions
			field string
		}{
			{"malformed cursor", auth.ListOptions{Order: auth.ByPublicID, AfterPublicID: "42"}, "after_public_id"},
			{"cursor with a stray character", auth.ListOptions{Order: auth.ByPublicID, AfterPublicID: byPublicID[0].PublicID[:35] + "g"}, "after_public_id"},
			{"SQL in the cursor", auth.ListOptions{Order: auth.ByPublicID, AfterPublicID: "' OR 1=1 --"}, "after_public_id"},
			{"public-id cursor in id order", auth.ListOptions{AfterPublicID: byPublicID[0].PublicID}, "after_public_id"},
			{"id cursor in public-id order", auth.ListOptions{Order: auth.ByPublicID, AfterID: 1}, "after_id"},
			{"unknown order", auth.ListOptions{Order: 7}, "order"},
			{"bad limit in public-id order", auth.ListOptions{Order: auth.ByPublicID, Limit: -1}, "limit"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				page, err := s.ListUsers(ctx, tc.opts)
				requireValidation(t, err, tc.field)
				assert.Nil(t, page)
			})
		}
	})
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	optional := auth.DefaultPolicy()
	optional.RequireUsername = false
	cases := []struct {
		name   string
		policy auth.Policy
		update auth.UserUpdate
		check  func(t *testing.T, before, after auth.User)
	}{
		{
			name:   "username",
			policy: auth.DefaultPolicy(),
			update: auth.UserUpdate{Username: ptr("alice2")},
			check:  func(t *testing.T, _, u auth.User) { assert.Equal(t, "alice2", u.Username) },
		},
		{
			name:   "email",
			policy: auth.DefaultPolicy(),
			update: auth.UserUpdate{Email: ptr("new@example.org")},
			check:  func(t *testing.T, _, u auth.User) { assert.Equal(t, "new@example.org", u.Email) },
		},
		{
			name:   "email case only",
			policy: auth.DefaultPolicy(),
			update: auth.UserUpdate{Email: ptr("ALICE@example.com")},
			check:  func(t *testing.T, _, u auth.User) { assert.Equal(t, "ALICE@example.com", u.Email) },
		},
		{
			name:   "phone",
			policy: auth.DefaultPolicy(),
			update: auth.UserUpdate{Phone: ptr("+442071234567")},
			check:  func(t *testing.T, _, u auth.User) { assert.Equal(t, "+442071234567", u.Phone) },
		},
		{
			name:   "clear optional phone",
			policy: auth.DefaultPolicy(),
			update: auth.UserUpdate{Phone: ptr("")},
			check:  func(t *testing.T, _, u auth.User) { assert.Equal(t, "", u.Phone) },
		},
		{
			name:   "clear optional username",
			policy: optional,
			update: auth.UserUpdate{Username: ptr("")},
			check:  func(t *testing.T, _, u auth.User) { assert.Equal(t, "", u.Username) },
		},
		{
			name:   "make admin",
			policy: auth.DefaultPolicy(),
			update: auth.UserUpdate{IsAdmin: ptr(true)},
			check:  func(t *testing.T, _, u auth.User) { assert.True(t, u.IsAdmin) },
		},
		{
			name:   "everything at once",
			policy: auth.DefaultPolicy(),
			update: auth.UserUpdate{Username: ptr("alice_b"), Email: ptr("b@example.net"), Phone: ptr("+33123456789"), IsAdmin: ptr(true)},
			check: func(t *testing.T, _, u auth.User) {
				assert.Equal(t, "alice_b", u.Username)
				assert.Equal(t, "b@example.net", u.Email)
				assert.Equal(t, "+33123456789", u.Phone)
				assert.True(t, u.IsAdmin)
			},
		},
		{
			name:   "nothing",
			policy: auth.DefaultPolicy(),
			update: auth.UserUpdate{},
			check: func(t *testing.T, before, u auth.User) {
				before.UpdatedAt = u.UpdatedAt
				assert.Equal(t, before, u, "only updated_at moves")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				clk := testdb.NewClock(t0)
				s := newStore(t, dsn, withPolicy(tc.policy), withClock(clk))
				r := reg("alice")
				r.Phone = "+15551230001"
				before := mustRegister(t, s, r)
				other := mustRegister(t, s, reg("bob"))
				clk.Advance(90 * time.Second)

				got, err := s.UpdateUser(ctx, before.ID, tc.update)

				require.NoError(t, err)
				tc.check(t, before, got)
				assert.Equal(t, before.ID, got.ID)
				assert.Equal(t, before.PublicID, got.PublicID)
				assert.Equal(t, before.CreatedAt, got.CreatedAt, "created_at never moves")
				assert.Equal(t, clk.Now().UTC().Truncate(time.Microsecond), got.UpdatedAt, "updated_at moves on every update")
				assert.Equal(t, got, mustUser(t, s, before.ID), "the returned user is what is stored")
				assert.Equal(t, other, mustUser(t, s, other.ID), "other users are untouched")
				_, err = s.Login(ctx, got.Email, pw("alice"))
				assert.NoError(t, err, "the password survives an update")
			})
		})
	}
}

func TestUpdateUserMissing(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		s := newStore(t, dsn)
		_, err := s.UpdateUser(context.Background(), 999, auth.UserUpdate{Username: ptr("nobody")})
		assert.ErrorIs(t, err, auth.ErrNotFound)
	})
}

// TestUpdateUserWithPassword: fields and a new password change together in
// one transaction, or not at all.
func TestUpdateUserWithPassword(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		alice := mustRegister(t, s, reg("alice"))
		mustRegister(t, s, reg("bob"))
		_, keep, err := s.LoginSession(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		_, other, err := s.LoginSession(ctx, "alice", pw("alice"))
		require.NoError(t, err)

		// A duplicate address stops the password too.
		_, err = s.UpdateUser(ctx, alice.ID, auth.UserUpdate{Email: ptr(reg("bob").Email), Password: ptr("New-password-1")})
		requireDuplicate(t, err, auth.FieldEmail)
		_, err = s.Login(ctx, "alice", pw("alice"))
		assert.NoError(t, err, "the old password still works")

		// A password the policy refuses stops the fields, before any hashing.
		_, err = s.UpdateUser(ctx, alice.ID, auth.UserUpdate{Username: ptr("alice2"), Password: ptr("short")})
		requireValidation(t, err, auth.FieldPassword)
		got, err := s.User(ctx, alice.ID)
		require.NoError(t, err)
		assert.Equal(t, "alice", got.Username)

		// Both together.
		updated, err := s.UpdateUser(ctx, alice.ID, auth.UserUpdate{
			Username: ptr("alice2"), Password: ptr("New-password-1"), KeepSessionID: keep.ID,
		})
		require.NoError(t, err)
		assert.Equal(t, "alice2", updated.Username)
		_, err = s.Login(ctx, "alice2", pw("alice"))
		assert.ErrorIs(t, err, auth.ErrInvalidCredentials, "the old password is gone")
		_, err = s.Login(ctx, "alice2", "New-password-1")
		assert.NoError(t, err)
		_, _, err = s.SessionUser(ctx, keep.Token)
		assert.NoError(t, err, "the caller's session is kept")
		_, _, err = s.SessionUser(ctx, other.Token)
		assert.ErrorIs(t, err, auth.ErrInvalidSession, "every other session ended")

		events, err := s.AuditEvents(ctx, auth.AuditFilter{UserID: alice.ID, Types: []auth.EventType{auth.EventPasswordSet, auth.EventUserUpdated}})
		require.NoError(t, err)
		require.Len(t, events, 2)
		assert.Equal(t, auth.EventUserUpdated, events[0].Type)
		assert.Equal(t, auth.EventPasswordSet, events[1].Type)
		assert.Equal(t, events[0].Time, events[1].Time, "one transaction, one time")
	})
}

// TestUpdateUserFreesValues: a username or phone given up can be taken by
// another user, and email changes free the old address.
func TestUpdateUserFreesValues(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		r := reg("alice")
		r.Phone = "+15551230001"
		alice := mustRegister(t, s, r)
		_, err := s.UpdateUser(ctx, alice.ID, auth.UserUpdate{
			Username: ptr("alice_old"), Email: ptr("old@example.com"), Phone: ptr(""),
		})
		require.NoError(t, err)
		_, err = s.Login(ctx, "alice", pw("alice"))
		assert.ErrorIs(t, err, auth.ErrInvalidCredentials, "the old username no longer logs in")
		_, err = s.Login(ctx, "alice_old", pw("alice"))
		assert.NoError(t, err)

		r2 := reg("alice")
		r2.Phone = "+15551230001"
		_, err = s.Register(ctx, r2)
		assert.NoError(t, err, "alice's former username, email and phone are free")
	})
}

func TestLogin(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		alice := mustRegister(t, s, auth.Registration{Username: "alice", Email: "Alice@Example.com", Password: pw("alice")})
		mustRegister(t, s, reg("bob"))

		cases := []struct {
			name       string
			identifier string
			password   string
			ok         bool
		}{
			{"username", "alice", pw("alice"), true},
			{"email as stored", "Alice@Example.com", pw("alice"), true},
			{"email in lower case", "alice@example.com", pw("alice"), true},
			{"email in upper case", "ALICE@EXAMPLE.COM", pw("alice"), true},
			{"username in another case", "Alice", pw("alice"), false},
			{"wrong password", "alice", pw("bob"), false},
			{"wrong password by email", "alice@example.com", "wrong", false},
			{"password in another case", "alice", strings.ToUpper(pw("alice")), false},
			{"password with a trailing space", "alice", pw("alice") + " ", false},
			{"empty password", "alice", "", false},
			{"empty identifier", "", pw("alice"), false},
			{"unknown username", "ghost", pw("alice"), false},
			{"unknown email", "ghost@example.com", pw("alice"), false},
			{"identifier too long", strings.Repeat("a", 300), pw("alice"), false},
			{"email without a domain", "alice@", pw("alice"), false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Login(ctx, tc.identifier, tc.password)
				if tc.ok {
					require.NoError(t, err)
					assert.Equal(t, alice, got)
					return
				}
				require.ErrorIs(t, err, auth.ErrInvalidCredentials)
				assert.Equal(t, "invalid username or password", err.Error(), "one message for every failure")
				assert.Equal(t, auth.User{}, got)
			})
		}
	})
}

// TestTimesRoundTrip: times come back exactly as the store's clock gave
// them, in UTC and truncated to microseconds, whichever way they are read.
func TestTimesRoundTrip(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		s := newStore(t, dsn, withClock(clk))
		want := t0.UTC().Truncate(time.Microsecond)
		require.NotEqual(t, t0.Nanosecond(), want.Nanosecond(), "the clock must have sub-microsecond digits to drop")

		u := mustRegister(t, s, reg("alice"))
		assert.Equal(t, want, u.CreatedAt)
		assert.Equal(t, want, u.UpdatedAt)
		assert.Equal(t, time.UTC, u.CreatedAt.Location())

		reads := map[string]func() (auth.User, error){
			"User":     func() (auth.User, error) { return s.User(ctx, u.ID) },
			"by email": func() (auth.User, error) { return s.UserByEmail(ctx, u.Email) },
			"Login":    func() (auth.User, error) { return s.Login(ctx, "alice", pw("alice")) },
			"ListUsers": func() (auth.User, error) {
				us, err := s.ListUsers(ctx, auth.ListOptions{})
				if err != nil || len(us) != 1 {
					return auth.User{}, fmt.Errorf("list: %d users, %v", len(us), err)
				}
				return us[0], nil
			},
		}
		for name, read := range reads {
			t.Run(name, func(t *testing.T) {
				got, err := read()
				require.NoError(t, err)
				assert.Equal(t, want, got.CreatedAt)
				assert.Equal(t, want, got.UpdatedAt)
				assert.Equal(t, time.UTC, got.CreatedAt.Location())
			})
		}

		raw := testdb.Raw(t, dsn)
		_, changed := storedHash(t, raw, u.ID)
		assert.True(t, want.Equal(changed), "password_changed_at %v, want %v", changed, want)
	})
}

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// failing is a randomness source that fails.
type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

// TestPublicIDFromInjectedSources: with the clock and randomness injected
// the public id is fully determined, and its version and variant bits are
// set whatever the random bytes are.
func TestPublicIDFromInjectedSources(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(time.UnixMilli(0x0123456789ab))
		s := newStore(t, dsn, withClock(clk), func(c *auth.Config) { c.Rand = zeros{} })
		u := mustRegister(t, s, reg("alice"))
		assert.Equal(t, "01234567-89ab-7000-8000-000000000000", u.PublicID)

		broken := newStore(t, dsn, func(c *auth.Config) { c.Rand = failing{} })
		_, err := broken.Register(ctx, reg("bob"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "entropy exhausted")
		_, err = s.UserByUsername(ctx, "bob")
		assert.ErrorIs(t, err, auth.ErrNotFound, "nothing is written without a public id")
	})
}

// TestListUsersSearch: Search keeps the users whose canonical email or
// username starts with it, case-insensitively, in both orders; its
// characters are never wildcards; bad input is a validation error.
func TestListUsersSearch(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		for _, r := range []auth.Registration{
			{Username: "Alice", Email: "alice@example.com", Password: pw("a")},
			{Username: "al_bert", Email: "Bert@Example.com", Password: pw("b")},
			{Username: "carol", Email: "c%rol@example.org", Password: pw("c")},
			{Username: "dan", Email: "dan@bücher.example", Password: pw("d")},
		} {
			mustRegister(t, s, r)
		}
		found := func(search string, order auth.ListOrder) []string {
			t.Helper()
			list, err := s.ListUsers(ctx, auth.ListOptions{Search: search, Order: order})
			require.NoError(t, err)
			var emails []string
			for _, u := range list {
				emails = append(emails, u.Email)
			}
			return emails
		}
		for _, order := range []auth.ListOrder{auth.ByID, auth.ByPublicID} {
			assert.Equal(t, []string{"alice@example.com", "Bert@Example.com"}, found("AL", order), "usernames, any case")
			assert.Equal(t, []string{"Bert@Example.com"}, found("bert@ex", order), "the canonical address")
			assert.Equal(t, []string{"c%rol@example.org"}, found("c%", order), "% is a character, not a wildcard")
			assert.Empty(t, found("_", order), "_ is a character, not a wildcard")
			assert.Equal(t, []string{"dan@bücher.example"}, found("dan@xn--", order), "an IDN domain as its A-label")
			assert.Len(t, found("", order), 4)
		}
		_, err := s.ListUsers(ctx, auth.ListOptions{Search: "a\x00"})
		requireValidation(t, err, "search")
		_, err = s.ListUsers(ctx, auth.ListOptions{Search: "\xff"})
		requireValidation(t, err, "search")
		_, err = s.ListUsers(ctx, auth.ListOptions{Search: strings.Repeat("a", auth.MaxSearchLen+1)})
		requireValidation(t, err, "search")
	})
}
