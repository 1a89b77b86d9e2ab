package auth

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/testdb"
)

// TestNoSessionAfterDisable puts a disable exactly between a login's verify
// stage and its grant: the grant re-checks the account after locking its
// row, so the login gets no session, of any outcome, and its caller (who
// proved the password) learns that the account is disabled.
func TestNoSessionAfterDisable(t *testing.T) {
	t.Parallel()
	for name, out := range map[string]outcome{"user": outUser, "session": outSession, "device": outDevice} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				s := openInternal(t, dsn)
				u, err := s.Register(ctx, Registration{Username: "victim", Email: "victim@example.com", Password: "password-old"})
				require.NoError(t, err)

				v, err := s.authenticate(ctx, LoginAttempt{Identifier: "victim", Password: "password-old"})
				require.NoError(t, err)
				require.NoError(t, s.DisableUser(ctx, u.ID, "stolen laptop"))
				_, err = s.grant(ctx, v, out)
				assert.ErrorIs(t, err, ErrAccountDisabled)

				sessions, err := s.ListSessions(ctx, u.ID)
				require.NoError(t, err)
				assert.Empty(t, sessions, "the login racing the disable got no session")
			})
		})
	}
}

// TestNoChallengeAfterDisable: a disable between the password check and the
// challenge of a user with a second factor issues no challenge.
func TestNoChallengeAfterDisable(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := openInternal(t, dsn)
		u, err := s.Register(ctx, Registration{Username: "victim", Email: "victim@example.com", Password: "password-old"})
		require.NoError(t, err)
		v, err := s.authenticate(ctx, LoginAttempt{Identifier: "victim", Password: "password-old"})
		require.NoError(t, err)
		require.NoError(t, s.DisableUser(ctx, u.ID, ""))
		_, err = s.createChallenge(ctx, v, v.password.hash, "0000000000000000000000000000000000000000000000000000000000000000", 0)
		assert.ErrorIs(t, err, ErrAccountDisabled)
	})
}
