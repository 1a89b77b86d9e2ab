package auth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
)

// mustLogin starts a session for the user that reg(name) registered.
func mustLogin(t *testing.T, s *auth.Store, name string) auth.Session {
	t.Helper()
	_, sess, err := s.LoginSession(context.Background(), name+"@example.com", pw(name))
	require.NoError(t, err)
	require.NotEmpty(t, sess.Token)
	return sess
}
