package testdb

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
)

// recordingTB is a testing.TB whose cleanups, logs and failures are
// collected instead of acted on, so a test can run testdb's cleanup itself
// and see whether it would have failed the test.
type recordingTB struct {
	testing.TB // the real test, for everything not overridden

	mu       sync.Mutex
	cleanups []func()
	logs     []string
	failures []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *recordingTB) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.TB.FailNow()
}

func (r *recordingTB) Fatal(args ...any) {
	r.Error(args...)
	r.TB.FailNow()
}

// runCleanups runs the collected cleanups last-in first-out, as testing does.
func (r *recordingTB) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	db, err := adminDB(t, PostgresURL(t))
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
	return n == 1
}

func nameOf(t *testing.T, dsn string) string {
	t.Helper()
	i := strings.LastIndex(dsn, "/")
	require.Positive(t, i, dsn)
	name, _, _ := strings.Cut(dsn[i+1:], "?")
	return name
}

func TestDatabaseNames(t *testing.T) {
	t.Parallel()
	now := time.Unix(1767225600, 0)
	a, err := dbName(now)
	require.NoError(t, err)
	b, err := dbName(now)
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "names are random")
	assert.Regexp(t, `^credstore_test_1767225600_[0-9a-f]{16}$`, a)
	assert.LessOrEqual(t, len(a), 63, "PostgreSQL's identifier limit")
	at, ok := createdAt(a)
	require.True(t, ok)
	assert.True(t, now.Equal(at), "got %v", at)

	for _, name := range []string{
		"credstore_test_e01dd97f09d0cbee", // an older testdb's name: no time in it
		"credstore_test_1767225600",
		"credstore_test_1767225600_xyz",
		"credstore_test_-5_0123456789abcdef",
		"credstore_test_now_0123456789abcdef",
		"credstore_1767225600_0123456789abcdef",
		"postgres",
	} {
		_, ok := createdAt(name)
		assert.False(t, ok, name)
	}
}

// TestCleanupClosesPoolsFirst opens a Raw pool through a longer-lived test
// than the one that owns the database, so that its own cleanup would run
// only after the drop: the drop must close it first and succeed without
// FORCE, and nothing may be logged or failed.
func TestCleanupClosesPoolsFirst(t *testing.T) {
	t.Parallel()
	PostgresURL(t)
	rec := &recordingTB{TB: t}
	dsn := postgresDSN(rec, true)
	name := nameOf(t, dsn)
	require.True(t, databaseExists(t, name))

	raw := Raw(t, dsn) // cleanup on t: after rec's drop
	require.NoError(t, raw.Ping())
	// Hold a connection in a transaction as well, as a test might.
	tx, err := raw.Begin()
	require.NoError(t, err)
	_, err = tx.Exec("SELECT 1")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())

	start := time.Now()
	rec.runCleanups()
	assert.Empty(t, rec.failures)
	assert.Empty(t, rec.logs, "dropped with a plain DROP DATABASE, no FORCE, no failure")
	assert.Less(t, time.Since(start), 3*time.Second, "no waiting for sessions to leave")
	assert.False(t, databaseExists(t, name), "dropped")
	assert.ErrorContains(t, raw.Ping(), "database is closed", "Raw's pool was closed before the drop")
}

// TestCleanupNeverFails: a drop that cannot succeed is logged, not a test
// failure. template0 can be dropped by nobody, superuser included, so the
// test is safe whatever the role.
func TestCleanupNeverFails(t *testing.T) {
	t.Parallel()
	db, err := adminDB(t, PostgresURL(t))
	require.NoError(t, err)
	rec := &recordingTB{TB: t}
	dropOrLog(rec, db, "postgres://unused/template0", "template0")
	assert.Empty(t, rec.failures)
	require.Len(t, rec.logs, 1)
	assert.Contains(t, rec.logs[0], "could not drop database template0")
	assert.True(t, databaseExists(t, "template0"))
}

func TestDropDatabaseRetriesWhileInUse(t *testing.T) {
	t.Parallel()
	rec := &recordingTB{TB: t}
	dsn := postgresDSN(rec, true)
	t.Cleanup(rec.runCleanups)
	name := nameOf(t, dsn)
	db, err := adminDB(t, PostgresURL(t))
	require.NoError(t, err)

	// A session of the test's own that leaves shortly after the first
	// attempt has begun: plain DROP waits for it, no FORCE needed.
	d, err := database.Open(context.Background(), dsn)
	require.NoError(t, err)
	require.NoError(t, d.SQL().Ping())
	time.AfterFunc(500*time.Millisecond, func() { d.Close() })
	forced, err := dropDatabase(context.Background(), db, name, dropRetryFor)
	require.NoError(t, err)
	assert.False(t, forced)
	assert.False(t, databaseExists(t, name))
}

// TestSweep drops test databases older than LeftoverAge and leaves younger
// ones, which a test binary running beside this one may be using.
func TestSweep(t *testing.T) {
	t.Parallel()
	db, err := adminDB(t, PostgresURL(t))
	require.NoError(t, err)
	now := time.Now()
	old, err := dbName(now.Add(-LeftoverAge - time.Minute))
	require.NoError(t, err)
	young, err := dbName(now.Add(-LeftoverAge + 5*time.Minute))
	require.NoError(t, err)
	for _, name := range []string{old, young} {
		_, err := db.Exec("CREATE DATABASE " + name)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = dropDatabase(context.Background(), db, name, 0) })
	}
	var logs []string
	sweep(db, now, func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) })
	assert.Empty(t, logs)
	assert.False(t, databaseExists(t, old), "an hour-old leftover is swept")
	assert.True(t, databaseExists(t, young), "a young database may be in use")
}
