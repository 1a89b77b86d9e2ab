package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ChangesChannel is the PostgreSQL channel on which the triggers of
// migration 0007 notify every change to what a session lookup reads: users,
// sessions (except the use time, last_seen_at) and second factors.
const ChangesChannel = "credstore_auth_changed"

// WatcherApplicationName is the application_name of the PostgreSQL
// connection that listens, as pg_stat_activity shows it.
const WatcherApplicationName = "credstore session cache"

// changeCounterQuery reads SQLite's count of those changes, which the
// triggers of migration 0007 keep in auth_changes.
const changeCounterQuery = "SELECT n FROM auth_changes WHERE id = 1"

// Watcher tells a cache of session lookups about the changes that other
// connections commit to what those lookups read: another pool in this
// process, another process (the admin command line), another instance, or
// an application's own transaction committing after credstore's part of
// it. It calls changed once or more for each such change, and Fresh
// reports whether the cache may answer now.
//
// The guarantee is a bound: when Fresh returns true at time t, changed has
// been called for every change committed before t - maxStale.
//
//   - On SQLite, Fresh itself confirms it: when the last confirmation is
//     older than maxStale, it reads the change counter (one indexed read),
//     calls changed if the counter moved, and returns true. Concurrent
//     callers wait for the one read.
//   - On PostgreSQL a goroutine listens on ChangesChannel on a connection of
//     its own, calls changed for each notification as it arrives (normally
//     within a millisecond of the commit), and pings the server every
//     maxStale/2: once the ping returns, every notification committed before
//     it was sent has arrived. Fresh reads the time of the last such
//     confirmation and never waits. While the connection is down Fresh
//     returns false (the cache then reads the database every time); after
//     it is made again changed is called once, since notifications were
//     missed.
type Watcher struct {
	engine   Engine
	maxStale time.Duration
	changed  func()
	base     time.Time // confirmed is measured from base, on the monotonic clock
	// confirmed is when, in nanoseconds since base, the last confirmation
	// began: every change committed before it has been passed to changed.
	confirmed atomic.Int64

	// SQLite.
	mu   sync.Mutex
	stmt *sql.Stmt
	last int64

	// PostgreSQL.
	stop context.CancelFunc
	done chan struct{}
	// listens counts the connections the watcher has listened on;
	// listened is closed, and replaced, each time it grows.
	lmu      sync.Mutex
	listens  int
	listened chan struct{}
}

// Watch starts watching the changes committed to what session lookups
// read; changed is called for each one (it must be cheap and must not
// block). Close stops it.
func (d *DB) Watch(ctx context.Context, maxStale time.Duration, changed func()) (*Watcher, error) {
	if maxStale <= 0 {
		return nil, errors.New("watch changes: maxStale must be positive")
	}
	w := &Watcher{engine: d.engine, maxStale: maxStale, changed: changed, base: time.Now()}
	// Not confirmed yet: the first Fresh on SQLite reads the counter.
	w.confirmed.Store(-int64(maxStale) - 1)
	if d.engine == SQLite {
		stmt, err := d.sql.PrepareContext(ctx, changeCounterQuery)
		if err != nil {
			return nil, fmt.Errorf("watch changes: %w", err)
		}
		w.stmt = stmt
		return w, nil
	}
	cfg := d.pgConfig
	if cfg == nil {
		var err error
		if cfg, err = poolConfig(ctx, d.sql); err != nil {
			return nil, fmt.Errorf("watch changes: read the pool's connection settings: %w", err)
		}
	}
	// The settings of the migration connection: none of the request
	// timeouts, which would end a connection that mostly waits.
	lc := migrationConfig(cfg).Config.Copy()
	lc.RuntimeParams["application_name"] = WatcherApplicationName
	lc.OnNotification = func(*pgconn.PgConn, *pgconn.Notification) { changed() }
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.stop, w.done, w.listened = stop, make(chan struct{}), make(chan struct{})
	go w.listen(runCtx, lc)
	return w, nil
}

func (w *Watcher) now() int64 { return int64(time.Since(w.base)) }

// Fresh reports whether every change committed before maxStale ago has
// been passed to changed. On SQLite it may read the counter to make it so;
// it returns false when that read fails (ctx ended, database gone).
func (w *Watcher) Fresh(ctx context.Context) bool {
	now := w.now()
	if now-w.confirmed.Load() <= int64(w.maxStale) {
		return true
	}
	if w.engine != SQLite {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if now-w.confirmed.Load() <= int64(w.maxStale) {
		return true // confirmed by the caller we waited for
	}
	start := w.now()
	var n int64
	if err := w.stmt.QueryRowContext(ctx).Scan(&n); err != nil {
		return false
	}
	if n != w.last {
		w.last = n
		w.changed()
	}
	w.confirmed.Store(start)
	return true
}

// WaitListening waits until the watcher has listened on n connections in
// all, or ctx ends: the first one is made after Watch returns, and one more
// after each connection that failed. It lets a test that ends the
// connection on purpose wait for the moment it is back, however slow the
// machine. On SQLite, which listens on nothing, it returns at once.
func (w *Watcher) WaitListening(ctx context.Context, n int) error {
	if w.engine == SQLite {
		return nil
	}
	for {
		w.lmu.Lock()
		got, listened := w.listens, w.listened
		w.lmu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-listened:
		case <-ctx.Done():
			return fmt.Errorf("wait for the watcher to listen (%d of %d connections): %w", got, n, context.Cause(ctx))
		}
	}
}

// Close stops watching.
func (w *Watcher) Close() error {
	if w.stop != nil {
		w.stop()
		<-w.done
	}
	if w.stmt != nil {
		return w.stmt.Close()
	}
	return nil
}

// listen keeps a connection listening on ChangesChannel until ctx ends,
// making it again after any failure (after a pause growing from 50 ms to
// 5 s).
func (w *Watcher) listen(ctx context.Context, cfg *pgconn.Config) {
	defer close(w.done)
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		if w.listenOnce(ctx, cfg) {
			pause = 50 * time.Millisecond // it worked for a while
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// listenOnce connects, listens and confirms until the connection fails or
// ctx ends. It reports whether it got as far as listening.
func (w *Watcher) listenOnce(ctx context.Context, cfg *pgconn.Config) bool {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgconn.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return false
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing to do about it
	start := w.now()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = conn.Exec(lctx, "LISTEN "+ChangesChannel).ReadAll()
	cancel()
	if err != nil {
		return false
	}
	// Notifications were not delivered while nobody listened.
	w.changed()
	w.confirmed.Store(start)
	w.lmu.Lock()
	w.listens++
	close(w.listened)
	w.listened = make(chan struct{})
	w.lmu.Unlock()
	for {
		wctx, cancel := context.WithTimeout(ctx, w.maxStale/2)
		err := conn.WaitForNotification(wctx) // OnNotification has called changed
		cancel()
		switch {
		case ctx.Err() != nil:
			return true
		case err == nil:
			continue
		case !pgconn.Timeout(err) || conn.IsClosed():
			return true
		}
		// The server sends a listening session its notifications before
		// it answers: once the ping returns, every change committed before
		// it was sent has been passed to changed.
		start := w.now()
		pctx, cancel := context.WithTimeout(ctx, w.maxStale)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true
		}
		w.confirmed.Store(start)
	}
}
