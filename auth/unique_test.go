package auth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// existing is the user every uniqueness case registers first.
var existing = auth.Registration{
	Username: "alice",
	Email:    "alice@x.com",
	Phone:    "+15551230001",
	Password: pw("alice"),
}

func TestRegisterUniqueness(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		reg   auth.Registration
		field string // "" when the registration must succeed
	}{
		{name: "same username", reg: auth.Registration{Username: "alice", Email: "other@x.com"}, field: "username"},
		{name: "username in another case is another user", reg: auth.Registration{Username: "Alice", Email: "other@x.com"}},
		{name: "same email", reg: auth.Registration{Username: "bob", Email: "alice@x.com"}, field: "email"},
		{name: "email in another case", reg: auth.Registration{Username: "bob", Email: "Alice@X.com"}, field: "email"},
		{name: "email in upper case", reg: auth.Registration{Username: "bob", Email: "ALICE@X.COM"}, field: "email"},
		{name: "same phone", reg: auth.Registration{Username: "bob", Email: "bob@x.com", Phone: "+15551230001"}, field: "phone"},
		{name: "another phone", reg: auth.Registration{Username: "bob", Email: "bob@x.com", Phone: "+15551230002"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				s := newStore(t, dsn)
				raw := testdb.Raw(t, dsn)
				first := mustRegister(t, s, existing)
				r := tc.reg // a copy: the engines' subtests share tc and run in parallel
				r.Password = pw("second")

				u, err := s.Register(ctx, r)

				if tc.field == "" {
					require.NoError(t, err)
					assert.NotEqual(t, first.ID, u.ID)
					assert.Equal(t, 2, countRows(t, raw, "users"))
					return
				}
				requireDuplicate(t, err, tc.field)
				assert.Equal(t, 1, countRows(t, raw, "users"), "a duplicate must write nothing")
				assert.Equal(t, 1, countRows(t, raw, "credentials"), "a duplicate must write nothing")
				_, err = s.Login(ctx, r.Email, r.Password)
				assert.ErrorIs(t, err, auth.ErrInvalidCredentials, "the refused user must not be able to log in")
			})
		})
	}
}

func TestUpdateUserUniqueness(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		update auth.UserUpdate
		field  string // "" when the update must succeed
	}{
		{name: "own username", update: auth.UserUpdate{Username: ptr("bob")}},
		{name: "own email", update: auth.UserUpdate{Email: ptr("bob@x.com")}},
		{name: "own email in another case", update: auth.UserUpdate{Email: ptr("BOB@x.com")}},
		{name: "own phone", update: auth.UserUpdate{Phone: ptr("+15551230002")}},
		{name: "all own values", update: auth.UserUpdate{Username: ptr("bob"), Email: ptr("bob@x.com"), Phone: ptr("+15551230002")}},
		{name: "another user's username in another case", update: auth.UserUpdate{Username: ptr("Alice")}},
		{name: "another user's username", update: auth.UserUpdate{Username: ptr("alice")}, field: "username"},
		{name: "another user's email", update: auth.UserUpdate{Email: ptr("alice@x.com")}, field: "email"},
		{name: "another user's email in another case", update: auth.UserUpdate{Email: ptr("Alice@X.com")}, field: "email"},
		{name: "another user's phone", update: auth.UserUpdate{Phone: ptr("+15551230001")}, field: "phone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				s := newStore(t, dsn)
				mustRegister(t, s, existing)
				bob := mustRegister(t, s, auth.Registration{
					Username: "bob", Email: "bob@x.com", Phone: "+15551230002", Password: pw("bob"),
				})

				got, err := s.UpdateUser(ctx, bob.ID, tc.update)

				if tc.field == "" {
					require.NoError(t, err)
					if tc.update.Username != nil {
						assert.Equal(t, *tc.update.Username, got.Username)
					}
					if tc.update.Email != nil {
						assert.Equal(t, *tc.update.Email, got.Email)
					}
					return
				}
				requireDuplicate(t, err, tc.field)
				after, err := s.User(ctx, bob.ID)
				require.NoError(t, err)
				assert.Equal(t, bob, after, "a refused update must change nothing")
			})
		})
	}
}
