package auth

import "context"

// WaitCacheListening waits until the session cache of s has listened for
// changes on n PostgreSQL connections in all (database.Watcher's
// WaitListening), for the black-box tests that end that connection.
func WaitCacheListening(ctx context.Context, s *Store, n int) error {
	return s.cache.watch.WaitListening(ctx, n)
}
