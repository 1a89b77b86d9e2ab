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
