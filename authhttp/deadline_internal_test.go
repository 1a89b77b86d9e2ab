package authhttp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/credstore/credstore/internal/testdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLazyDeadlineAsWithDeadlineCause: whatever happens to it (nothing, its
// deadline passing, its parent ending, stop), and whether or not anything
// waited on it before, a lazyDeadline answers Err, context.Cause, Deadline
// and Value as context.WithDeadlineCause's context does, and so do the
// contexts derived from it; and it arms no timer while nothing needs one.
func TestLazyDeadlineAsWithDeadlineCause(t *testing.T) {
	type key struct{}
	errGone := errors.New("client gone")
	// Contexts that must not end during a comparison get an hour; the
	// others end after timeout, and are compared once both have ended.
	const timeout = 30 * time.Millisecond

	// pair makes the lazy context and the standard one, from one parent
	// and with one deadline.
	pair := func(parent context.Context, timeout time.Duration) (lazy *lazyDeadline, stop func(), std context.Context, cancel context.CancelFunc) {
		lazy = newLazyDeadline(parent, timeout)
		stop = lazy.stop
		std, cancel = context.WithDeadlineCause(parent, lazy.deadline, errRequestTimeout)
		t.Cleanup(cancel)
		t.Cleanup(stop)
		return lazy, stop, std, cancel
	}
	same := func(t *testing.T, lazy *lazyDeadline, std context.Context) {
		t.Helper()
		assert.Equal(t, std.Err(), lazy.Err())
		assert.Equal(t, context.Cause(std), context.Cause(lazy))
		ld, lok := lazy.Deadline()
		sd, sok := std.Deadline()
		assert.Equal(t, sok, lok)
		assert.True(t, sd.Equal(ld), "deadline %v, want %v", ld, sd)
		assert.Equal(t, std.Value(key{}), lazy.Value(key{}))
	}
	wait := func(t *testing.T, ctx context.Context) {
		t.Helper()
		select {
		case <-ctx.Done():
		case <-time.After(testdb.Patience):
			t.Fatal("the context did not end")
		}
	}
	afterDeadline := func(lazy *lazyDeadline) { time.Sleep(time.Until(lazy.deadline) + time.Millisecond) }

	for _, waited := range []bool{false, true} {
		name := map[bool]string{false: "unobserved", true: "observed"}[waited]
		observe := func(lazy *lazyDeadline) {
			if waited {
				_ = lazy.Done()
			}
		}
		t.Run(name+"/live", func(t *testing.T) {
			lazy, _, std, _ := pair(context.WithValue(context.Background(), key{}, "v"), time.Hour)
			observe(lazy)
			same(t, lazy, std)
			assert.NoError(t, lazy.Err())
			assert.Equal(t, waited, lazy.armed.Load() != nil, "armed only when waited on")
		})
		t.Run(name+"/deadline passes", func(t *testing.T) {
			lazy, _, std, _ := pair(context.Background(), timeout)
			observe(lazy)
			afterDeadline(lazy)
			wait(t, std)
			if waited {
				wait(t, lazy) // its own timer: it fires apart from std's
			}
			same(t, lazy, std)
			assert.ErrorIs(t, lazy.Err(), context.DeadlineExceeded)
			assert.ErrorIs(t, context.Cause(lazy), errRequestTimeout)
			wait(t, lazy)
		})
		t.Run(name+"/parent ends", func(t *testing.T) {
			parent, cancelParent := context.WithCancelCause(context.Background())
			lazy, _, std, _ := pair(parent, time.Hour)
			observe(lazy)
			cancelParent(errGone)
			wait(t, std)
			same(t, lazy, std)
			assert.ErrorIs(t, context.Cause(lazy), errGone)
			wait(t, lazy)
		})
		t.Run(name+"/stopped", func(t *testing.T) {
			lazy, stop, std, cancel := pair(context.Background(), timeout)
			observe(lazy)
			stop()
			cancel()
			same(t, lazy, std)
			assert.ErrorIs(t, lazy.Err(), context.Canceled)
			wait(t, lazy)
			afterDeadline(lazy)
			same(t, lazy, std)
		})
		t.Run(name+"/derived", func(t *testing.T) {
			lazy, _, _, _ := pair(context.Background(), timeout)
			observe(lazy)
			child, cancelChild := context.WithCancel(lazy)
			defer cancelChild()
			ran := make(chan struct{})
			context.AfterFunc(lazy, func() { close(ran) })
			wait(t, child)
			<-ran
			assert.ErrorIs(t, child.Err(), context.DeadlineExceeded)
			assert.ErrorIs(t, context.Cause(child), errRequestTimeout)
			assert.False(t, time.Now().Before(lazy.deadline), "ended at its deadline, not before")
		})
	}

	t.Run("parent's earlier deadline", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		lazy, _, std, _ := pair(parent, 2*time.Hour)
		same(t, lazy, std)
		d, _ := parent.Deadline()
		ld, _ := lazy.Deadline()
		assert.True(t, d.Equal(ld), "the parent's deadline")

		parent, cancel = context.WithTimeout(context.Background(), timeout)
		defer cancel()
		lazy, _, std, _ = pair(parent, time.Hour)
		wait(t, std)
		wait(t, lazy)
		same(t, lazy, std)
		assert.ErrorIs(t, lazy.Err(), context.DeadlineExceeded)
	})

	t.Run("concurrent", func(t *testing.T) {
		for range 50 {
			lazy := newLazyDeadline(context.Background(), time.Millisecond)
			stop := lazy.stop
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					switch i % 4 {
					case 0:
						<-lazy.Done()
					case 1:
						for lazy.Err() == nil {
							time.Sleep(100 * time.Microsecond)
						}
					case 2:
						_ = lazy.Value(key{})
						_ = context.Cause(lazy)
					case 3:
						stop()
					}
				})
			}
			wg.Wait()
			require.Error(t, lazy.Err())
			select {
			case <-lazy.Done():
			default:
				t.Fatal("Err is set, Done is not closed")
			}
		}
	})
}
