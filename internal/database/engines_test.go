package database_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// hash has the shape of a bcrypt hash, which is all the schema checks.
var hash = "$2a$04$" + strings.Repeat("a", 53)

func open(t *testing.T, dsn string) *database.DB {
	t.Helper()
	d, err := database.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// insertUser writes a user through raw SQL, past every check in Go, with
// SQLite-style parameters that both engines accept. The canonical email is
// lower(email), the canonical form of the plain ASCII addresses used here.
func insertUser(ctx context.Context, ex database.Executor, publicID string, username, email, phone any) (int64, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	var id int64
	err := ex.QueryRowContext(ctx, `INSERT INTO users (public_id, username, email, email_canonical, phone, is_admin, created_at, updated_at)
		VALUES (?1, ?2, ?3, lower(CAST(?3 AS TEXT)), ?4, FALSE, ?5, ?5) RETURNING id`, publicID, username, email, phone, now).Scan(&id)
	return id, err
}

// publicID is a distinct 36-character public id for the n-th user.
func publicID(n int) string {
	return fmt.Sprintf("00000000-0000-7000-8000-%012d", n)
}

// TestConstraintOfEveryEngine violates each kind of constraint through raw SQL on every
// engine and checks that both engines report it alike: same kind, and the
// same constraint name, which is what the auth package maps to a field.
func TestConstraintOfEveryEngine(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d := open(t, dsn)
		ex := d.Executor()
		alice, err := insertUser(ctx, ex, publicID(0), "alice", "alice@example.com", "+14155550100")
		require.NoError(t, err)
		_, err = ex.ExecContext(ctx, "INSERT INTO credentials (user_id, password_hash, password_changed_at) VALUES (?1, ?2, ?3)",
			alice, hash, time.Now().UTC())
		require.NoError(t, err)

		tests := []struct {
			name     string
			exec     func() error
			wantKind database.ConstraintKind
			wantName string // for foreign keys: only PostgreSQL names the key
		}{
			{"duplicate username", func() error {
				_, err := insertUser(ctx, ex, publicID(1), "alice", "other@example.com", nil)
				return err
			}, database.Unique, "users_username_key"},
			{"duplicate email in another case", func() error {
				_, err := insertUser(ctx, ex, publicID(2), "bob", "ALICE@Example.COM", nil)
				return err
			}, database.Unique, "users_email_canonical_key"},
			{"duplicate phone", func() error {
				_, err := insertUser(ctx, ex, publicID(3), "carol", "carol@example.com", "+14155550100")
				return err
			}, database.Unique, "users_phone_key"},
			{"duplicate public id", func() error {
				_, err := insertUser(ctx, ex, publicID(0), "dave", "dave@example.com", nil)
				return err
			}, database.Unique, "users_public_id_key"},
			{"second credential", func() error {
				_, err := ex.ExecContext(ctx, "INSERT INTO credentials (user_id, password_hash, password_changed_at) VALUES (?1, ?2, ?3)",
					alice, hash, time.Now().UTC())
				return err
			}, database.Unique, "credentials_user_id_key"},
			{"credential of no user", func() error {
				_, err := ex.ExecContext(ctx, "INSERT INTO credentials (user_id, password_hash, password_changed_at) VALUES (?1, ?2, ?3)",
					alice+1000, hash, time.Now().UTC())
				return err
			}, database.ForeignKey, "credentials_user_id_fkey"},
			{"phone not E.164", func() error {
				_, err := insertUser(ctx, ex, publicID(4), "erin", "erin@example.com", "0155")
				return err
			}, database.Check, "users_phone_check"},
			{"username with @", func() error {
				_, err := insertUser(ctx, ex, publicID(5), "f@g", "f@example.com", nil)
				return err
			}, database.Check, "users_username_check"},
			{"plaintext password", func() error {
				_, err := ex.ExecContext(ctx, "UPDATE credentials SET password_hash = ?1 WHERE user_id = ?2", "hunter2", alice)
				return err
			}, database.Check, "credentials_password_hash_check"},
			{"no email", func() error {
				_, err := insertUser(ctx, ex, publicID(6), "gina", nil, nil)
				return err
			}, database.NotNull, "users.email"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.exec()
				require.Error(t, err)
				v, ok := database.ConstraintOf(err)
				require.True(t, ok, "not recognised as a constraint violation: %v", err)
				assert.Equal(t, tt.wantKind, v.Kind)
				want := tt.wantName
				if tt.wantKind == database.ForeignKey && d.Engine() == database.SQLite {
					want = "" // SQLite does not say which key failed
				}
				assert.Equal(t, want, v.Name)
			})
		}

		_, ok := database.ConstraintOf(sql.ErrNoRows)
		assert.False(t, ok, "an error that is no violation")
		_, err = ex.ExecContext(ctx, "SELECT no_such_column FROM users")
		require.Error(t, err)
		_, ok = database.ConstraintOf(err)
		assert.False(t, ok, "a syntax error is no violation")
	})
}

// TestOpenConcurrently starts several instances on one fresh database at the
// same moment: all of them open it, and the schema is applied once.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		const instances = 4
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, instances)
			dbs   = make([]*database.DB, instances)
		)
		for i := range instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				dbs[i], errs[i] = database.Open(context.Background(), dsn)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "instance %d", i)
			t.Cleanup(func() { dbs[i].Close() })
		}
		latest, err := dbs[0].LatestVersion()
		require.NoError(t, err)
		var rows, maxVersion int
		require.NoError(t, dbs[0].SQL().QueryRow("SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&rows, &maxVersion))
		assert.Equal(t, latest, rows, "each migration recorded once")
		assert.Equal(t, latest, maxVersion)
	})
}

// TestMigrateDownAndUpEveryEngine runs the down steps to an empty schema and back.
func TestMigrateDownAndUpEveryEngine(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d := open(t, dsn)
		_, err := insertUser(ctx, d.Executor(), publicID(0), "alice", "alice@example.com", nil)
		require.NoError(t, err)

		require.NoError(t, d.MigrateTo(ctx, 0))
		v, err := d.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, 0, v)
		_, err = d.SQL().ExecContext(ctx, "SELECT 1 FROM users")
		assert.Error(t, err, "users is gone")

		require.NoError(t, d.Migrate(ctx))
		latest, err := d.LatestVersion()
		require.NoError(t, err)
		v, err = d.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, latest, v)
		var n int
		require.NoError(t, d.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n))
		assert.Zero(t, n, "the down step dropped the data; up starts empty")

		assert.Error(t, d.MigrateTo(ctx, latest+1), "no such version")
	})
}

// TestTimesRoundTrip stores a time given in another zone and reads back the
// same instant, in UTC, on every engine.
func TestTimesRoundTrip(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		d := open(t, dsn)
		zone := time.FixedZone("IST", 5*3600+1800)
		at := time.Date(2024, 2, 29, 23, 59, 58, 123456000, zone)
		id, err := insertUser(ctx, d.Executor(), publicID(0), "alice", "alice@example.com", nil)
		require.NoError(t, err)
		_, err = d.Executor().ExecContext(ctx, "UPDATE users SET created_at = ?1 WHERE id = ?2", at, id)
		require.NoError(t, err)
		var got time.Time
		require.NoError(t, d.Executor().QueryRowContext(ctx, "SELECT created_at FROM users WHERE id = ?1", id).Scan(&got))
		assert.True(t, at.Equal(got), "got %v, want %v", got, at)
		if d.Engine() == database.Postgres {
			// pgx would give the client's local zone; the connection is
			// set up to give UTC. (On SQLite the auth package calls UTC.)
			assert.Equal(t, time.UTC, got.Location())
		}
	})
}

// TestInTxRetriesRealDeadlock makes two transactions lock two rows in
// opposite order, each waiting until the other holds its first row, so that
// PostgreSQL must abort one of them as a deadlock victim (after its
// deadlock_timeout, 1s by default). InTx runs the victim again, and both
// commit, each update applied once.
func TestInTxRetriesRealDeadlock(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := open(t, testdb.EmptyDSN(t, database.Postgres))
	_, err := d.SQL().ExecContext(ctx, "CREATE TABLE deadlock_rows (id integer PRIMARY KEY, n integer NOT NULL)")
	require.NoError(t, err)
	_, err = d.SQL().ExecContext(ctx, "INSERT INTO deadlock_rows (id, n) VALUES (1, 0), (2, 0)")
	require.NoError(t, err)

	var holding sync.WaitGroup // each transaction's first attempt holds its first row
	holding.Add(2)
	bothHold := make(chan struct{})
	go func() { holding.Wait(); close(bothHold) }()

	update := func(ex database.Executor, id int) error {
		_, err := ex.ExecContext(ctx, "UPDATE deadlock_rows SET n = n + 1 WHERE id = ?1", id)
		return err
	}
	run := func(first, second int, attempts *atomic.Int32) error {
		return d.InTx(ctx, func(ex database.Executor) error {
			n := attempts.Add(1)
			if err := update(ex, first); err != nil {
				return err
			}
			if n == 1 {
				holding.Done()
				select {
				case <-bothHold:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return update(ex, second)
		})
	}
	var attemptsA, attemptsB atomic.Int32
	errs := make(chan error, 2)
	go func() { errs <- run(1, 2, &attemptsA) }()
	go func() { errs <- run(2, 1, &attemptsB) }()
	for range 2 {
		require.NoError(t, <-errs, "both transactions commit")
	}
	// At least one was a deadlock victim and ran again. Usually exactly
	// one; on a busy server the deadlock checks of both can run before
	// either victim has left, and both run again (seen once in CI with four
	// CPU-burning loops beside it): what matters is that every attempt
	// that failed ran again and the effects below are applied once.
	assert.GreaterOrEqual(t, attemptsA.Load()+attemptsB.Load(), int32(3), "a deadlock victim ran again")

	rows, err := d.SQL().QueryContext(ctx, "SELECT n FROM deadlock_rows ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	var ns []int
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		ns = append(ns, n)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []int{2, 2}, ns, "each transaction's two updates, once")
}

// withParams returns dsn with the URL parameters kv added.
func withParams(t *testing.T, dsn string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	// PostgreSQL URLs decode %XX only, as libpq does: a '+' stays a '+'.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

func show(t *testing.T, d *database.DB, setting string) string {
	t.Helper()
	var v string
	require.NoError(t, d.SQL().QueryRow("SHOW "+setting).Scan(&v))
	return v
}

// TestPostgresTimeouts: every connection gets credstore's lock, statement
// and idle-in-transaction timeouts, unless the URL sets them.
func TestPostgresTimeouts(t *testing.T) {
	t.Parallel()
	dsn := testdb.EmptyDSN(t, database.Postgres)

	d := open(t, dsn)
	assert.Equal(t, "10s", show(t, d, "lock_timeout"))
	assert.Equal(t, "30s", show(t, d, "statement_timeout"))
	assert.Equal(t, "1min", show(t, d, "idle_in_transaction_session_timeout"))

	d = open(t, withParams(t, dsn, "lock_timeout", "200ms", "statement_timeout", "0"))
	assert.Equal(t, "200ms", show(t, d, "lock_timeout"), "the URL's value")
	assert.Equal(t, "0", show(t, d, "statement_timeout"), "the URL turns it off")
	assert.Equal(t, "1min", show(t, d, "idle_in_transaction_session_timeout"), "the default for the rest")

	d = open(t, withParams(t, dsn, "options", "-c lock_timeout=3s"))
	assert.Equal(t, "3s", show(t, d, "lock_timeout"), "set through options")
	assert.Equal(t, "30s", show(t, d, "statement_timeout"))
}

// TestPostgresLockTimeout: a statement without a deadline that waits behind
// a row lock another session holds fails once lock_timeout has passed (set
// low through the URL here) rather than waiting as long as the lock is held.
func TestPostgresLockTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := open(t, withParams(t, testdb.EmptyDSN(t, database.Postgres), "lock_timeout", "200ms"))
	id, err := insertUser(ctx, d.Executor(), publicID(0), "alice", "alice@example.com", nil)
	require.NoError(t, err)

	holder, err := d.SQL().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer holder.Rollback() //nolint:errcheck
	_, err = holder.ExecContext(ctx, "SELECT id FROM users WHERE id = $1 FOR UPDATE", id)
	require.NoError(t, err)

	start := time.Now()
	_, err = d.Executor().ExecContext(ctx, "UPDATE users SET email = ?1 WHERE id = ?2", "alice2@example.com", id)
	require.Error(t, err, "blocked behind the row lock")
	assert.Equal(t, "55P03", database.SQLState(err), "lock_not_available: %v", err)
	assert.Less(t, time.Since(start), 5*time.Second)
}
