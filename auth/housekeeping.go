package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultHousekeepingInterval is a reasonable interval for RunHousekeeping:
// expired rows never authenticate anything, so purging them is only about
// keeping the tables small, and ten minutes keeps them so at little cost.
const DefaultHousekeepingInterval = 10 * time.Minute

// RunHousekeeping purges what has expired (PurgeExpired: sessions, reset
// and device tokens, login challenges, unconfirmed TOTP enrollments, idle
// throttle buckets, retired signing keys past their retention, audit events
// past Config.AuditRetention) at once and
// then every interval, until ctx ends. A running application starts it once,
// in a goroutine of its own:
//
//	go store.RunHousekeeping(ctx, auth.DefaultHousekeepingInterval)
//
// Each run is logged on Config.Logger: the counts at Info level, a failure at
// Error level (the run is then tried again at the next tick, never sooner).
// Nothing secret is logged: purging reads no token or password.
//
// It returns ctx's error when ctx ends (a run in progress is abandoned with
// it, and not logged as a failure), and at once, having done nothing, when
// every is not positive.
func (s *Store) RunHousekeeping(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("housekeeping: interval %v is not positive", every)
	}
	s.housekeep(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			s.housekeep(ctx)
		}
	}
}

// housekeep runs PurgeExpired once and logs what it did.
func (s *Store) housekeep(ctx context.Context) {
	log := s.cfg.Logger
	c, err := s.PurgeExpired(ctx)
	switch {
	case ctx.Err() != nil:
		// Ended while it ran: RunHousekeeping returns, nothing failed.
	case errors.Is(err, ErrUnavailable):
		// A restart or a full disk: the next run purges what this one
		// could not.
		log.WarnContext(ctx, "housekeeping skipped: database unavailable (transient)", "err", err.Error())
	case err != nil:
		log.ErrorContext(ctx, "housekeeping failed", "err", err.Error())
	default:
		log.InfoContext(ctx, "housekeeping", "sessions", c.Sessions, "reset_tokens", c.Resets,
			"devices", c.Devices, "throttles", c.Throttles, "audit_events", c.AuditEvents,
			"challenges", c.Challenges, "enrollments", c.Enrollments, "signing_keys", c.SigningKeys)
	}
}
