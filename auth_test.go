package credstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// newTestStore opens a store on dsn with fast test hashing; opts adjust the
// config. The store is closed when t ends.
func newTestStore(t *testing.T, dsn string, opts ...func(*auth.Config)) *auth.Store {
	t.Helper()
	cfg := auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := auth.Open(context.Background(), dsn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// TestRequirementExamples walks through the examples of the requirement, in
// order, on one store.
func TestRequirementExamples(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newTestStore(t, dsn)

		// alice registers and gets id 1.
		alice, err := s.Register(ctx, auth.Registration{
			Username: "alice", Email: "alice@example.com", Password: "hunter2!",
		})
		require.NoError(t, err)
		assert.Equal(t, int64(1), alice.ID)
		assert.Equal(t, "alice", alice.Username)
		assert.Equal(t, "alice@example.com", alice.Email)

		// A second alice is a duplicate username.
		_, err = s.Register(ctx, auth.Registration{
			Username: "alice", Email: "alice2@example.com", Password: "hunter2!",
		})
		var dup *auth.DuplicateError
		require.ErrorAs(t, err, &dup)
		assert.Equal(t, "username", dup.Field)
		assert.ErrorIs(t, err, auth.ErrDuplicate)

		// bob with password "123" is invalid, and the error names the password.
		_, err = s.Register(ctx, auth.Registration{
			Username: "bob", Email: "bob@example.com", Password: "123",
		})
		var verr *auth.ValidationError
		require.ErrorAs(t, err, &verr)
		assert.Contains(t, verr.Fields, "password")
		assert.ErrorIs(t, err, auth.ErrValidation)

		// alice/"hunter2!" logs in and gets alice back.
		got, err := s.Login(ctx, "alice", "hunter2!")
		require.NoError(t, err)
		assert.Equal(t, alice, got)

		// alice with a wrong password is refused with the one login error.
		_, err = s.Login(ctx, "alice", "hunter3!")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		assert.Equal(t, "invalid username or password", err.Error())

		// An unknown user gets the same error.
		_, err = s.Login(ctx, "ghost", "hunter2!")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		assert.Equal(t, "invalid username or password", err.Error())
		assert.False(t, errors.Is(err, auth.ErrNotFound), "a failed login must not reveal that the user is missing")
	})
}
