package auth

import (
	"fmt"
	"time"
)

// ThrottlePolicy says how many failed attempts a key (an account, or an
// identifier that names none) gets, and how long it waits after them.
//
// The first FreeFailures consecutive failures cost nothing. After failure
// number FreeFailures+k (k = 0, 1, 2, …) the key waits BaseDelay·2^k, at most
// MaxDelay, before its next attempt is evaluated; an attempt during the wait
// is refused with *ThrottledError before any password work. On top of that,
// at most DailyFailures failures are evaluated in the 24 hours that follow a
// key's first failure. A success resets the key. Nothing ever locks a key
// for good: the longest wait is MaxDelay, or the rest of the 24 hours.
type ThrottlePolicy struct {
	FreeFailures  int
	BaseDelay     time.Duration
	MaxDelay      time.Duration
	DailyFailures int
}

// ThrottleWindow is the period DailyFailures counts over, and how long a key
// without failures is remembered.
const ThrottleWindow = 24 * time.Hour

// DefaultLoginThrottle is the policy of logins and of ChangePassword's
// current password: 5 free failures, then 1 s, 2 s, 4 s … up to 15 minutes,
// and at most 100 failures in 24 hours. (The delays alone would allow about
// 110 in the first day: 15 in the first 17 minutes, then 4 an hour.)
func DefaultLoginThrottle() ThrottlePolicy {
	return ThrottlePolicy{FreeFailures: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute, DailyFailures: 100}
}

// DefaultResetThrottle is the policy of password-reset requests, each of
// which counts: 3 at once, then 1 minute, 2, 4 … up to an hour, and at most
// 10 in 24 hours, so nobody can flood a mailbox.
func DefaultResetThrottle() ThrottlePolicy {
	return ThrottlePolicy{FreeFailures: 3, BaseDelay: time.Minute, MaxDelay: time.Hour, DailyFailures: 10}
}

func (p ThrottlePolicy) check(name string) error {
	switch {
	case p.FreeFailures < 1:
		return fmt.Errorf("config: %s: FreeFailures %d is below 1", name, p.FreeFailures)
	case p.BaseDelay < time.Second:
		return fmt.Errorf("config: %s: BaseDelay %v is below one second", name, p.BaseDelay)
	case p.MaxDelay < p.BaseDelay:
		return fmt.Errorf("config: %s: MaxDelay %v is below BaseDelay %v", name, p.MaxDelay, p.BaseDelay)
	case p.MaxDelay > ThrottleWindow:
		return fmt.Errorf("config: %s: MaxDelay %v is above %v", name, p.MaxDelay, ThrottleWindow)
	case p.DailyFailures < p.FreeFailures:
		return fmt.Errorf("config: %s: DailyFailures %d is below FreeFailures %d", name, p.DailyFailures, p.FreeFailures)
	}
	return nil
}

// delay is the wait after the key's n-th consecutive failure.
func (p ThrottlePolicy) delay(n int64) time.Duration {
	if n < int64(p.FreeFailures) {
		return 0
	}
	d := p.BaseDelay
	for k := int64(p.FreeFailures); k < n; k++ {
		if d >= p.MaxDelay {
			break
		}
		d *= 2
	}
	return min(d, p.MaxDelay)
}
