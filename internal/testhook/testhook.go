// Package testhook lets a test see, and hold, a moment inside a request
// that it cannot otherwise observe: that a request has its turn at the
// password-hash gate, say. A test puts Hooks on the context of the request
// it sends (wrapping the handler, or the call to the store), and waits for
// the moment instead of guessing how long it takes to come.
//
// The package is internal: only credstore's own tests can set a hook. A
// context without Hooks costs one context lookup at each point.
package testhook

import "context"

// Hooks are the moments a test can observe. A nil field is no hook.
type Hooks struct {
	// HashTurn is called when a caller has its turn at auth's password-hash
	// gate, just before it hashes or compares a password, with the
	// caller's context. It may block (to hold the turn); the turn is held
	// until it returns.
	HashTurn func(ctx context.Context)
	// WriteBusy is called when a write transaction found SQLite's write
	// lock busy beyond the busy timeout and is about to wait its turn
	// again (database.DB.InTx).
	WriteBusy func(ctx context.Context)
	// Yield is called when a bulk writer (database.Yielding) has committed
	// and pauses, leaving the write lock free, before its next
	// transaction. It runs within the pause.
	Yield func(ctx context.Context)
}

type key struct{}

// With returns ctx carrying h.
func With(ctx context.Context, h *Hooks) context.Context {
	return context.WithValue(ctx, key{}, h)
}

// HashTurn calls the HashTurn hook that ctx carries, if any.
func HashTurn(ctx context.Context) {
	if h, ok := ctx.Value(key{}).(*Hooks); ok && h.HashTurn != nil {
		h.HashTurn(ctx)
	}
}

// WriteBusy calls the WriteBusy hook that ctx carries, if any.
func WriteBusy(ctx context.Context) {
	if h, ok := ctx.Value(key{}).(*Hooks); ok && h.WriteBusy != nil {
		h.WriteBusy(ctx)
	}
}

// Yield calls the Yield hook that ctx carries, if any.
func Yield(ctx context.Context) {
	if h, ok := ctx.Value(key{}).(*Hooks); ok && h.Yield != nil {
		h.Yield(ctx)
	}
}
