package auth

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"

	"github.com/credstore/credstore/internal/database"
)

// sessionCache remembers, in this process, what session lookups found: the
// user, the session and the user's second-factor status, by session token
// (its hash) and by session id (for access tokens). An authenticated
// request that finds its session there reads no database.
//
// It never answers with something that has changed, within these bounds:
//
//   - What this store writes (every write goes through inTx) makes it
//     forget everything before the write returns: a session revoked, a user
//     deleted or demoted, a second factor removed through this store is
//     refused or shown as it is to every request that starts afterwards.
//   - What other connections commit (another store, another process such as
//     the admin command line, another instance, an application's
//     transaction that committed a TxStore call) it learns from a
//     database.Watcher, within Config.SessionCacheMaxStale: an entry is
//     used only while the watcher confirms it has seen every change
//     committed before that long ago. On PostgreSQL the change normally
//     arrives within a millisecond, by LISTEN/NOTIFY.
//
// Changes are not tracked per entry: any change makes it forget every
// entry (a new generation). Requests that read a session keep working
// throughout; they just read the database until the entry is back.
type sessionCache struct {
	watch *database.Watcher
	max   int
	// gen counts the changes seen. A lookup that missed notes gen before
	// reading the database and stores what it read only if gen has not
	// moved since: a change that committed during the read may have been
	// missed by it.
	gen atomic.Uint64

	mu       sync.RWMutex
	entryGen uint64 // the generation of everything in entries
	entries  map[cacheKey]sessionProfile
}

// cacheKey names a session by the SHA-256 of its token (tokenSum), or by
// its id (access tokens carry the id); sum is zero for the latter.
type cacheKey struct {
	sum [sha256.Size]byte
	id  int64
}

// sessionProfile is what a session lookup returns.
type sessionProfile struct {
	user User
	sess Session
	tf   TwoFactorStatus
}

// newSessionCache returns the cache of a store on d, or nil when cfg
// disables it.
func newSessionCache(ctx context.Context, d *database.DB, cfg Config) (*sessionCache, error) {
	if cfg.SessionCacheSize < 0 {
		return nil, nil
	}
	c := &sessionCache{max: cfg.SessionCacheSize, entries: map[cacheKey]sessionProfile{}}
	w, err := d.Watch(ctx, cfg.SessionCacheMaxStale, c.changed)
	if err != nil {
		return nil, err
	}
	c.watch = w
	return c, nil
}

// changed makes the cache forget everything it holds, and what lookups in
// progress are about to store.
func (c *sessionCache) changed() {
	if c != nil {
		c.gen.Add(1)
	}
}

// get returns the entry for k, if the cache has a current one.
func (c *sessionCache) get(ctx context.Context, k cacheKey) (sessionProfile, bool) {
	if c == nil || !c.watch.Fresh(ctx) {
		return sessionProfile{}, false
	}
	g := c.gen.Load()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.entryGen != g {
		return sessionProfile{}, false
	}
	p, ok := c.entries[k]
	return p, ok
}

// generation returns the generation to give put after the database read
// that follows.
func (c *sessionCache) generation() uint64 {
	if c == nil {
		return 0
	}
	return c.gen.Load()
}

// put stores p under k, read from the database after generation returned
// g, unless something changed since.
func (c *sessionCache) put(k cacheKey, p sessionProfile, g uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != g {
		return
	}
	if c.entryGen != g || len(c.entries) >= c.max {
		// A new generation, or full: start again. A full cache holds
		// sessions of which many have not been seen for a while; the
		// ones in use come back at their next request.
		clear(c.entries)
		c.entryGen = g
	}
	p.sess.Token = "" // never keep a token
	c.entries[k] = p
}

func (c *sessionCache) close() error {
	if c == nil {
		return nil
	}
	return c.watch.Close()
}
