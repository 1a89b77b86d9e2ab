package authhttp

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// lazyDeadline is the context of a request to the service's routes: its
// parent, ended at deadline with the cause errRequestTimeout, exactly as
// context.WithDeadlineCause(parent, deadline, errRequestTimeout) would be,
// and canceled by stop as by that context's CancelFunc.
//
// It differs in one thing that cannot be observed through the Context
// interface: the timer, and the context that carries it, are made only
// once something needs them. Most requests never do: a session the
// session cache knows is answered without waiting on the context or asking
// whether it ended. For those, making a timer and cancelling it was the
// largest single cost of the middleware.
//
// Anything that could observe the deadline arms it first:
//
//   - Done, since a channel that closes at the deadline needs the timer
//     (database/sql, and every context derived from this one, call it);
//   - Err and Value once the deadline has passed, the parent has ended, or
//     stop has run, so that Err, context.Cause (which finds the cause
//     through Value) and Done always agree with one another.
//
// Before then, Err is nil and Value is the parent's, as they are for the
// context it stands for.
type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	armed   atomic.Pointer[armedDeadline]
	stopped atomic.Bool
	mu      sync.Mutex // serializes arm and stop
}

// armedDeadline is the context a lazyDeadline stands for, once made.
type armedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// newLazyDeadline returns a lazyDeadline of parent ending after timeout;
// its stop is context.WithTimeoutCause's CancelFunc.
func newLazyDeadline(parent context.Context, timeout time.Duration) *lazyDeadline {
	return &lazyDeadline{parent: parent, deadline: time.Now().Add(timeout)}
}

// arm returns the context c stands for, made on the first call.
func (c *lazyDeadline) arm() context.Context {
	if a := c.armed.Load(); a != nil {
		return a.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.armed.Load(); a != nil {
		return a.ctx
	}
	ctx, cancel := context.WithDeadlineCause(c.parent, c.deadline, errRequestTimeout)
	if c.stopped.Load() {
		cancel()
	}
	c.armed.Store(&armedDeadline{ctx: ctx, cancel: cancel})
	return ctx
}

// stop cancels c, as the CancelFunc of the context it stands for does.
func (c *lazyDeadline) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped.Store(true)
	if a := c.armed.Load(); a != nil {
		a.cancel()
	}
}

// settled reports whether c's answers no longer depend on arming it: it is
// armed already, or it has ended (or is about to) one way or another.
func (c *lazyDeadline) settled() bool {
	return c.armed.Load() != nil || c.stopped.Load() || !time.Now().Before(c.deadline)
}

func (c *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *lazyDeadline) Done() <-chan struct{} { return c.arm().Done() }

func (c *lazyDeadline) Err() error {
	if !c.settled() && c.parent.Err() == nil {
		return nil
	}
	return c.arm().Err()
}

func (c *lazyDeadline) Value(key any) any {
	if !c.settled() && c.parent.Err() == nil {
		return c.parent.Value(key)
	}
	return c.arm().Value(key)
}

func (c *lazyDeadline) String() string {
	return "authhttp.lazyDeadline(" + c.deadline.String() + ")"
}
