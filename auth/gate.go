package auth

import (
	"context"

	"github.com/credstore/credstore/internal/testhook"
)

// hashGate bounds the bcrypt work in flight. bcrypt is the one expensive
// step of the store, and it is CPU-bound: running more hashes at once than
// there are cores only makes every one of them slower, until a burst makes
// all of them miss their clients' deadlines together while all of their
// writes still commit. The gate lets MaxConcurrentHashes run, lets
// MaxQueuedHashes wait for a turn, and refuses the rest at once with
// ErrOverloaded, so a server can shed load with a fast 503 instead.
//
// Argon2 also holds its memory while it runs, so a turn is sized for the
// most memory one comparison may use (hasher.turnBytes), and
// Config.MaxHashMemory lowers the number of turns to what fits in it (see
// fillHashLimits): the memory in flight never exceeds the budget.
type hashGate struct {
	running chan struct{} // one token per hash in flight
	waiting chan struct{} // one token per caller queued for a turn
}

func newHashGate(concurrent, queued int) *hashGate {
	return &hashGate{
		running: make(chan struct{}, concurrent),
		waiting: make(chan struct{}, queued),
	}
}

// enter waits for a turn to run one hash and returns the function that
// ends it. It fails at once with ErrOverloaded when every turn is taken and
// the queue is full, and with ctx's error when ctx ends while it waits.
func (g *hashGate) enter(ctx context.Context) (leave func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	testhook.HashTurn(ctx)
	return func() { <-g.running }, nil
}

// wait takes a turn, queueing for one if there is room in the queue.
func (g *hashGate) wait(ctx context.Context) error {
	select {
	case g.running <- struct{}{}:
		return nil
	default:
	}
	select {
	case g.waiting <- struct{}{}:
	default:
		return ErrOverloaded
	}
	defer func() { <-g.waiting }()
	select {
	case g.running <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
