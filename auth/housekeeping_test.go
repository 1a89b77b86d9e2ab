package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// recordHandler hands every log record to a channel, so that a test waits
// for what the store logs instead of sleeping for it.
type recordHandler struct{ records chan<- slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.records <- r.Clone()
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// attrs returns a record's attributes by key, as text.
func attrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// housekeeping starts s.RunHousekeeping(ctx, every) with a cancel, and
// returns a function that cancels it, drains the records it logs meanwhile,
// and returns what it returned.
func housekeeping(s *auth.Store, every time.Duration, records <-chan slog.Record) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunHousekeeping(ctx, every) }()
	return func() error {
		cancel()
		for {
			select {
			case err := <-done:
				return err
			case <-records:
			}
		}
	}
}

// next returns the next record, failing the test when none comes within
// testdb.Patience: a bound against a hang, not a timing assumption.
func next(t *testing.T, records <-chan slog.Record) slog.Record {
	t.Helper()
	select {
	case r := <-records:
		return r
	case <-time.After(testdb.Patience):
		t.Fatal("no log record within testdb.Patience")
		return slog.Record{}
	}
}

// TestRunHousekeeping purges at once, then on every tick, logging the
// counts, until its context ends. The store's clock moves only when the test
// moves it, so what each run finds expired is known; the test waits for the
// records rather than for time, so a slow machine makes it slower, never
// wrong.
func TestRunHousekeeping(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		clk := testdb.NewClock(t0)
		records := make(chan slog.Record)
		s := newStore(t, dsn, withClock(clk), func(c *auth.Config) { c.Logger = slog.New(recordHandler{records}) })
		raw := testdb.Raw(t, dsn)
		alice := mustRegister(t, s, reg("alice"))
		first, err := s.CreateSession(ctx, alice.ID)
		require.NoError(t, err)
		clk.Advance(auth.DefaultSessionLifetime + time.Hour)
		live, err := s.CreateSession(ctx, alice.ID)
		require.NoError(t, err)
		tokens := []string{first.Token, live.Token}

		// An hour's interval: the record comes from the run made at once.
		stop := housekeeping(s, time.Hour, records)
		r := next(t, records)
		assert.Equal(t, slog.LevelInfo, r.Level)
		assert.Equal(t, "housekeeping", r.Message)
		a := attrs(r)
		assert.Equal(t, "1", a["sessions"], "the first run is at once, before any tick: %v", a)
		for _, k := range []string{"reset_tokens", "devices", "throttles", "audit_events", "challenges", "enrollments", "signing_keys"} {
			assert.Contains(t, a, k)
		}
		assert.Equal(t, 1, countRows(t, raw, "sessions"))
		assert.ErrorIs(t, stop(), context.Canceled)

		// The runs go on with the ticks: the next sessions to expire are
		// purged by one of them.
		stop = housekeeping(s, time.Millisecond, records)
		second, err := s.CreateSession(ctx, alice.ID)
		require.NoError(t, err)
		tokens = append(tokens, second.Token)
		clk.Advance(auth.DefaultSessionLifetime + time.Hour)
		for run := 1; ; run++ {
			r := next(t, records)
			require.Equal(t, "housekeeping", r.Message, "%v", attrs(r))
			for _, v := range attrs(r) {
				for _, tok := range tokens {
					assert.NotContains(t, v, tok)
				}
			}
			if attrs(r)["sessions"] == "2" {
				break
			}
			require.Equal(t, "0", attrs(r)["sessions"], "run %d", run)
		}
		assert.Equal(t, 0, countRows(t, raw, "sessions"))

		assert.ErrorIs(t, stop(), context.Canceled)
	})
}

// TestRunHousekeepingFailures: a run that fails is logged as an error, and
// the next tick runs again.
func TestRunHousekeepingFailures(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		records := make(chan slog.Record)
		s := newStore(t, dsn, func(c *auth.Config) { c.Logger = slog.New(recordHandler{records}) })
		raw := testdb.Raw(t, dsn)
		_, err := raw.Exec("DROP TABLE refresh_tokens") // which references sessions
		require.NoError(t, err)
		_, err = raw.Exec("DROP TABLE sessions")
		require.NoError(t, err)

		stop := housekeeping(s, time.Millisecond, records)
		for run := range 3 {
			r := next(t, records)
			assert.Equal(t, slog.LevelError, r.Level, "run %d", run)
			assert.Equal(t, "housekeeping failed", r.Message)
			assert.Contains(t, attrs(r)["err"], "purge expired")
		}
		assert.ErrorIs(t, stop(), context.Canceled)
	})
}

func TestRunHousekeepingInterval(t *testing.T) {
	t.Parallel()
	records := make(chan slog.Record, 1)
	s, err := auth.OpenMemory(context.Background(), auth.Config{
		BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, Logger: slog.New(recordHandler{records}),
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	for _, every := range []time.Duration{0, -time.Second} {
		t.Run(fmt.Sprint(every), func(t *testing.T) {
			err := s.RunHousekeeping(context.Background(), every)
			require.Error(t, err)
			assert.False(t, errors.Is(err, context.Canceled))
			assert.Empty(t, records, "nothing ran")
		})
	}
}
