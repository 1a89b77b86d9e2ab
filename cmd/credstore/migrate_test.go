package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/database"
	"github.com/credstore/credstore/internal/testdb"
)

// fakeTerminal is standard input that says it is a terminal, with what the
// operator types.
type fakeTerminal struct{ io.Reader }

func (fakeTerminal) IsTerminal() bool { return true }

// TestMigrateCommand: status on a new database migrates nothing; up
// applies everything; down asks on a terminal, refuses without one unless
// -yes, and rolls back exactly N; on every engine.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	testdb.RunEmpty(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		env := func(k string) string {
			if k == "CREDSTORE_DB" {
				return dsn
			}
			return ""
		}
		cli := func(stdin io.Reader, args ...string) (int, string, string) {
			var stdout, stderr bytes.Buffer
			code := migrate(ctx, args, env, stdin, &stdout, &stderr)
			return code, stdout.String(), stderr.String()
		}
		version := func() int {
			d, err := database.OpenNoMigrate(ctx, dsn)
			require.NoError(t, err)
			defer d.Close()
			v, err := d.Version(ctx)
			require.NoError(t, err)
			return v
		}
		none := strings.NewReader("")
		d, err := database.OpenNoMigrate(ctx, dsn)
		require.NoError(t, err)
		ms, err := d.Migrations(ctx)
		require.NoError(t, err)
		require.NoError(t, d.Close())
		latest := len(ms)
		require.GreaterOrEqual(t, latest, 5)
		name := func(v int) string { return fmt.Sprintf("%04d_%s", v, ms[v-1].Name) }

		code, out, errOut := cli(none, "status")
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, fmt.Sprintf("schema version: 0 (latest %d, %d pending)", latest, latest))
		assert.Contains(t, out, "0001_users")
		assert.Equal(t, latest, strings.Count(out, "pending")-1)
		assert.Equal(t, 0, version(), "status migrates nothing")

		code, out, errOut = cli(none, "up")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, fmt.Sprintf("migrated from version 0 to %d\n", latest), out)
		assert.Equal(t, latest, version())
		code, out, _ = cli(none, "up")
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "nothing to apply")

		code, out, _ = cli(none, "status")
		assert.Equal(t, 0, code)
		assert.Equal(t, latest, strings.Count(out, " applied "))
		assert.NotContains(t, out, " pending\n")

		code, _, errOut = cli(none, "down")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "pass -yes")
		assert.Equal(t, latest, version(), "refused without a terminal")

		code, _, errOut = cli(fakeTerminal{strings.NewReader("no\n")}, "down")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, name(latest))
		assert.Contains(t, errOut, "not rolled back")
		assert.Equal(t, latest, version())

		code, out, errOut = cli(fakeTerminal{strings.NewReader("yes\n")}, "down")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, fmt.Sprintf("rolled back %s: schema version %d\n", name(latest), latest-1), out)
		assert.Equal(t, latest-1, version())

		code, out, errOut = cli(none, "down", "-yes", "2")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, fmt.Sprintf("rolled back %s, %s: schema version %d\n", name(latest-1), name(latest-2), latest-3), out)
		assert.Equal(t, latest-3, version())

		code, _, errOut = cli(none, "down", "-yes", fmt.Sprint(latest-2))
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, fmt.Sprintf("schema is at version %d", latest-3))
		assert.Equal(t, latest-3, version())

		code, out, errOut = cli(none, "down", "-yes", fmt.Sprint(latest-3))
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, 0, version())
		assert.Contains(t, out, "schema version 0")

		code, _, errOut = cli(none, "up")
		require.Equal(t, 0, code, errOut)
		assert.Equal(t, latest, version())

		for _, args := range [][]string{{}, {"sideways"}, {"down", "0"}, {"down", "x"}, {"up", "3"}, {"status", "-nosuchflag"}} {
			code, _, _ := cli(none, args...)
			assert.Equal(t, 2, code, "%q", args)
		}
	})
}
