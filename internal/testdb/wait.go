package testdb

import "time"

// Patience bounds a test's wait for an event (a reconnection, a log line,
// a goroutine reaching a point, a background run): the test waits for the
// event itself, and the bound only turns a hang into a failure. It is
// generous on purpose: a busy 2-core machine running the race detector can
// be many times slower than a quiet one, and no assertion may depend on
// that; only a real bug takes this long.
const Patience = 2 * time.Minute
