package database

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rebindCases are TestRebind's cases and FuzzRebind's seed corpus.
var rebindCases = []struct {
	name, in, want string
}{
	{"no parameters", "SELECT 1", "SELECT 1"},
	{"numbered", "SELECT * FROM users WHERE id = ?1", "SELECT * FROM users WHERE id = $1"},
	{"two digits", "UPDATE t SET a = ?1, b = ?9 WHERE id = ?10", "UPDATE t SET a = $1, b = $9 WHERE id = $10"},
	{"three digits", "SELECT ?123", "SELECT $123"},
	{"repeated", "VALUES (?1, ?6, ?6)", "VALUES ($1, $6, $6)"},
	{"out of order", "SELECT ?2, ?1", "SELECT $2, $1"},
	{"bare", "VALUES (?, ?, ?)", "VALUES ($1, $2, $3)"},
	{"bare after numbered follows SQLite", "SELECT ?3, ?", "SELECT $3, $4"},
	{"bare then numbered", "SELECT ?, ?1", "SELECT $1, $1"},
	{"at start and end", "?1", "$1"},
	{"no space", "a=?1AND b=?2", "a=$1 AND b=$2"},
	{"identifier before", "LIMIT?1", "LIMIT $1"},
	{"identifier before and after", "SELECT?1AS x", "SELECT $1 AS x"},
	{"two without space", "SELECT ?1?2", "SELECT $1 $2"},
	{"bare then identifier", "SELECT ?x", "SELECT $1 x"},
	{"bare before dollar quote", "?$$?", "$1 $$?"},
	{"dollar before bare", "a $?1 '$$ ?'", "a $ $1 '$$ ?'"},
	{"E after bare", `?e'\'?'`, `$1 e'\'?'`},
	{"parameter before E string", `?E'\'?', ?2`, `$1 E'\'?', $2`},
	{"in string literal", "SELECT 'who? ?1' , ?1", "SELECT 'who? ?1' , $1"},
	{"doubled quote in literal", "SELECT 'it''s ?1', ?2", "SELECT 'it''s ?1', $2"},
	{"empty literal", "SELECT '', ?1", "SELECT '', $1"},
	{"quoted identifier", `SELECT "odd?col" FROM t WHERE x = ?1`, `SELECT "odd?col" FROM t WHERE x = $1`},
	{"doubled quote in identifier", `SELECT "a""?" , ?1`, `SELECT "a""?" , $1`},
	{"line comment", "-- is it? ?1\nSELECT ?1", "-- is it? ?1\nSELECT $1"},
	{"line comment at end", "SELECT ?1 -- really?", "SELECT $1 -- really?"},
	{"sqlc header", "-- name: GetUser :one\nSELECT * FROM users WHERE id = ?1\n", "-- name: GetUser :one\nSELECT * FROM users WHERE id = $1\n"},
	{"block comment", "SELECT /* ?1 ? */ ?1", "SELECT /* ?1 ? */ $1"},
	{"nested block comment", "SELECT /* a /* ? */ ?1 */ ?2", "SELECT /* a /* ? */ ?1 */ $2"},
	{"unterminated block comment", "SELECT ?1 /* ?2", "SELECT $1 /* ?2"},
	{"minus is not a comment", "SELECT ?1 - ?2", "SELECT $1 - $2"},
	{"slash is not a comment", "SELECT ?1 / ?2", "SELECT $1 / $2"},
	{"escape string", `SELECT E'\'?1', ?1`, `SELECT E'\'?1', $1`},
	{"backslash in plain string", `SELECT 'C:\', ?1`, `SELECT 'C:\', $1`},
	{"identifier ending in e", `SELECT note'x?', ?1`, `SELECT note'x?', $1`},
	{"dollar quoted", "SELECT $$ ?1 $$, ?1", "SELECT $$ ?1 $$, $1"},
	{"tagged dollar quote", "SELECT $fn$ ? $$ ?1 $fn$, ?1", "SELECT $fn$ ? $$ ?1 $fn$, $1"},
	{"dollar parameter untouched", "SELECT $1, ?2", "SELECT $1, $2"},
	{"dollar inside identifier", "SELECT a$b, ?1", "SELECT a$b, $1"},
	{"unterminated literal", "SELECT '?1", "SELECT '?1"},
	{"bytes beyond ASCII", "SELECT 'é?', ?1 -- ü?", "SELECT 'é?', $1 -- ü?"},
}

func TestRebind(t *testing.T) {
	t.Parallel()
	for _, tt := range rebindCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, rebind(tt.in))
		})
	}
}

// FuzzRebind checks properties of rebind on any input: it never panics; a
// statement without '?' comes back unchanged; and the output is rebind's own
// fixed point: rebind finds no parameter left in it, so every '?' it still
// holds sits in a literal, a quoted identifier or a comment, as rebind reads
// the output. That last property fails when a rewrite changes how the text
// around it reads (a $ before the parameter opening a dollar quote, say).
func FuzzRebind(f *testing.F) {
	for _, tc := range rebindCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := rebind(in)
		if !strings.Contains(in, "?") {
			if out != in {
				t.Fatalf("rebind(%q) = %q: a statement without ? must be unchanged", in, out)
			}
			return
		}
		if again := rebind(out); again != out {
			t.Fatalf("not idempotent:\nin:    %q\nout:   %q\nagain: %q", in, out, again)
		}
	})
}

func TestRebindCache(t *testing.T) {
	t.Parallel()
	var c rebindCache
	plain := "SELECT 1"
	assert.Equal(t, plain, c.rebind(plain))
	assert.Empty(t, c.m, "a statement without ? is not cached")

	// Many goroutines rewriting more distinct statements than the cache
	// holds: every answer is right and the cache stops at its bound.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rebindCacheMax + 100 {
				q := fmt.Sprintf("SELECT ?1 /* %d */, '?' -- %d", i, g)
				want := fmt.Sprintf("SELECT $1 /* %d */, '?' -- %d", i, g)
				if got := c.rebind(q); got != want {
					t.Errorf("rebind(%q) = %q, want %q", q, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, c.m, rebindCacheMax)
	q := "SELECT ?1 /* 0 */, '?' -- 0"
	assert.Equal(t, "SELECT $1 /* 0 */, '?' -- 0", c.rebind(q), "answered again, from the cache or not")
}

func TestSplitPoolSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		wantDSN  string
		wantConn int
		wantLife string
		wantIdle string
		wantErr  bool
	}{
		{name: "defaults", in: "postgres://u:p@h/db", wantDSN: "postgres://u:p@h/db",
			wantConn: DefaultPoolMaxConns(), wantLife: DefaultPoolMaxConnLifetime.String(), wantIdle: DefaultPoolMaxConnIdleTime.String()},
		{name: "pool parameters removed, others kept", in: "postgres://u:p@h/db?sslmode=disable&pool_max_conns=7&pool_max_conn_lifetime=1h&pool_max_conn_idle_time=30s",
			wantDSN: "postgres://u:p@h/db?sslmode=disable", wantConn: 7, wantLife: "1h0m0s", wantIdle: "30s"},
		{name: "only pool parameters", in: "postgres://h/db?pool_max_conns=2", wantDSN: "postgres://h/db",
			wantConn: 2, wantLife: DefaultPoolMaxConnLifetime.String(), wantIdle: DefaultPoolMaxConnIdleTime.String()},
		{name: "? in the password", in: "postgres://u:a?b@h/db?pool_max_conns=3&sslmode=disable", wantDSN: "postgres://u:a?b@h/db?sslmode=disable",
			wantConn: 3, wantLife: DefaultPoolMaxConnLifetime.String(), wantIdle: DefaultPoolMaxConnIdleTime.String()},
		{name: "? in the password, no parameters", in: "postgres://u:a?b@h/db", wantDSN: "postgres://u:a?b@h/db",
			wantConn: DefaultPoolMaxConns(), wantLife: DefaultPoolMaxConnLifetime.String(), wantIdle: DefaultPoolMaxConnIdleTime.String()},
		{name: "other parameters passed on as written", in: "postgres://h/db?options=-c%20lock_timeout%3D1s&pool_max_conns=2&application_name=a+b&x",
			wantDSN:  "postgres://h/db?options=-c%20lock_timeout%3D1s&application_name=a+b&x",
			wantConn: 2, wantLife: DefaultPoolMaxConnLifetime.String(), wantIdle: DefaultPoolMaxConnIdleTime.String()},
		{name: "empty pairs dropped", in: "postgres://h/db?&sslmode=disable&&", wantDSN: "postgres://h/db?sslmode=disable",
			wantConn: DefaultPoolMaxConns(), wantLife: DefaultPoolMaxConnLifetime.String(), wantIdle: DefaultPoolMaxConnIdleTime.String()},
		{name: "bad escape in a pool parameter", in: "postgres://h/db?pool_max_conns=%zz", wantErr: true},
		{name: "zero connections", in: "postgres://h/db?pool_max_conns=0", wantErr: true},
		{name: "not a number", in: "postgres://h/db?pool_max_conns=many", wantErr: true},
		{name: "not a duration", in: "postgres://h/db?pool_max_conn_lifetime=5", wantErr: true},
		{name: "negative duration", in: "postgres://h/db?pool_max_conn_idle_time=-1m", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dsn, ps, err := splitPoolSettings(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantDSN, dsn)
			assert.Equal(t, tt.wantConn, ps.maxConns)
			assert.Equal(t, tt.wantLife, ps.maxLifetime.String())
			assert.Equal(t, tt.wantIdle, ps.maxIdleTime.String())
		})
	}
}

func TestIsPostgres(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]bool{
		"postgres://u:p@localhost/db":         true,
		"postgresql://localhost:5432/db":      true,
		"POSTGRES://localhost/db":             true,
		"credstore.db":                        false,
		"file:credstore.db?mode=rwc":          false,
		"postgres.db":                         false,
		"./postgres://weird-but-a-file-name":  false,
		"host=localhost dbname=db user=alice": false,
	} {
		assert.Equal(t, want, IsPostgres(dsn), dsn)
	}
}
