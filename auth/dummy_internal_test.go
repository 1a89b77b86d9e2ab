package auth

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/internal/testdb"
)

// TestDummyHashCost is white-box because the property is about timing, which
// the suite does not measure: a login for an unknown user compares against
// the dummy hash, so the dummy must be hashed at the store's own cost for
// that login to take as long as a wrong password. (It is made at the
// minimum cost and labelled with the store's: bcrypt's work depends on the
// cost and salt only.)
func TestDummyHashCost(t *testing.T) {
	t.Parallel()
	for _, cost := range []int{4, 6} {
		testdb.Run(t, func(t *testing.T, dsn string) {
			t.Parallel()
			s, err := Open(context.Background(), dsn, Config{BcryptCost: cost, InsecureAllowLowBcryptCostForTesting: true})
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			got, err := bcrypt.Cost(s.dummy)
			require.NoError(t, err)
			assert.Equal(t, cost, got)
			// A well-formed hash: comparing runs bcrypt to the end and
			// finds a mismatch (a malformed one would fail early, fast).
			err = bcrypt.CompareHashAndPassword(s.dummy, []byte("credstore dummy password"))
			assert.ErrorIs(t, err, bcrypt.ErrMismatchedHashAndPassword)
		})
	}
}
