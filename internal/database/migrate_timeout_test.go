package database_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// TestMigrationIgnoresRequestTimeouts: a URL's statement timeout, tuned
// for requests (1 ms here), does not cut a migration short.
func TestMigrationIgnoresRequestTimeouts(t *testing.T) {
	t.Parallel()
	dsn := testdb.DSN(t, database.Postgres)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("statement_timeout", "1")
	u.RawQuery = q.Encode()
	d, err := database.Open(context.Background(), u.String())
	require.NoError(t, err)
	defer d.Close()
	v, err := d.Version(context.Background())
	require.NoError(t, err)
	latest, err := d.LatestVersion()
	require.NoError(t, err)
	require.Equal(t, latest, v)
}
