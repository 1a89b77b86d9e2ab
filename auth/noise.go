package auth

import (
	"sync"
	"time"
)

// noiseWindow is how often at most the audit trail records an event of a
// kind that anyone can cause without an account, such as a reset request
// for an address that has none.
const noiseWindow = time.Minute

// eventWindow keeps an anonymous flood of one kind of event out of the
// audit trail, which is kept for a year: the first event of each window is
// recorded, with how many of the previous window were not, and the rest of
// the window only counted. A flood then costs the trail one event a minute
// per process, whatever its rate. The count lives in this process's
// memory; an event whose transaction rolls back after admit is counted as
// recorded.
type eventWindow struct {
	mu      sync.Mutex
	start   time.Time // of the current window; zero before the first event
	skipped int64     // events of the current window not recorded
}

// admit reports whether an event at now is recorded and, if it is, how many
// were not since the last one that was.
func (w *eventWindow) admit(now time.Time) (record bool, skipped int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.start.IsZero() || now.Sub(w.start) >= noiseWindow || now.Before(w.start) {
		skipped, w.start, w.skipped = w.skipped, now, 0
		return true, skipped
	}
	w.skipped++
	return false, 0
}
