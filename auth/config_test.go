package auth_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// TestOpenRefusesBadConfig: a config is checked once, at Open, before the
// database is touched.
func TestOpenRefusesBadConfig(t *testing.T) {
	t.Parallel()
	policy := func(f func(*auth.Policy)) *auth.Policy {
		p := auth.DefaultPolicy()
		f(&p)
		return &p
	}
	cases := []struct {
		name string
		cfg  auth.Config
		want string // part of the error
	}{
		{name: "cost 10 without the insecure flag", cfg: auth.Config{BcryptCost: 10}, want: "bcrypt cost 10"},
		{name: "cost 11 without the insecure flag", cfg: auth.Config{BcryptCost: 11}, want: "bcrypt cost 11"},
		{name: "cost 4 without the insecure flag", cfg: auth.Config{BcryptCost: 4}, want: "bcrypt cost 4"},
		{name: "cost 3 even with the insecure flag", cfg: auth.Config{BcryptCost: 3, InsecureAllowLowBcryptCostForTesting: true}, want: "bcrypt cost 3"},
		{name: "negative cost", cfg: auth.Config{BcryptCost: -1}, want: "bcrypt cost -1"},
		{name: "cost 32", cfg: auth.Config{BcryptCost: 32}, want: "bcrypt cost 32"},
		{name: "unknown password hash", cfg: auth.Config{PasswordHash: "scrypt"}, want: `password hash "scrypt"`},
		{name: "argon2 memory below 19 MiB without the insecure flag", cfg: auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}}, want: "argon2 memory 64 KiB"},
		{name: "argon2 memory below 8 KiB per thread", cfg: auth.Config{Argon2: auth.Argon2Params{Memory: 15, Time: 1, Threads: 2}, InsecureAllowLowArgon2ParamsForTesting: true}, want: "argon2 memory 15 KiB"},
		{name: "argon2 without passes", cfg: auth.Config{Argon2: auth.Argon2Params{Memory: 64 * 1024, Threads: 1}}, want: "argon2 time 0"},
		{name: "argon2 17 passes", cfg: auth.Config{Argon2: auth.Argon2Params{Memory: 64 * 1024, Time: 17, Threads: 1}}, want: "argon2 time 17"},
		{name: "argon2 without threads", cfg: auth.Config{Argon2: auth.Argon2Params{Memory: 64 * 1024, Time: 1}}, want: "argon2 threads 0"},
		{name: "username minimum 0", cfg: auth.Config{Policy: policy(func(p *auth.Policy) { p.UsernameMinLen = 0 })}, want: "username length"},
		{name: "username maximum below minimum", cfg: auth.Config{Policy: policy(func(p *auth.Policy) { p.UsernameMaxLen = 2 })}, want: "username length"},
		{name: "username maximum above 64", cfg: auth.Config{Policy: policy(func(p *auth.Policy) { p.UsernameMaxLen = 65 })}, want: "username length"},
		{
			name: "username pattern without a rule",
			cfg:  auth.Config{Policy: policy(func(p *auth.Policy) { p.UsernamePattern = regexp.MustCompile(`^x+$`) })},
			want: "UsernameRule",
		},
		{name: "password minimum 0", cfg: auth.Config{Policy: policy(func(p *auth.Policy) { p.PasswordMinLen = 0 })}, want: "password minimum length"},
		{name: "password minimum above 72", cfg: auth.Config{Policy: policy(func(p *auth.Policy) { p.PasswordMinLen = 73 })}, want: "password minimum length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				s, err := auth.Open(context.Background(), dsn, tc.cfg)
				if s != nil {
					s.Close()
				}
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.want)

				s, err = auth.OpenMemory(context.Background(), tc.cfg)
				if s != nil {
					s.Close()
				}
				require.Error(t, err, "OpenMemory must check the config the same way")
				assert.Contains(t, err.Error(), tc.want)
			})
		})
	}
}

// TestPolicyIsCopied: changing a Policy after Open changes nothing in the
// store that was opened with it.
func TestPolicyIsCopied(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		p := auth.DefaultPolicy()
		s, err := auth.Open(context.Background(), dsn, auth.Config{
			Policy: &p, BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true,
		})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		p.PasswordMinLen = 30

		_, err = s.Register(context.Background(), reg("alice"))
		assert.NoError(t, err)
	})
}

// TestConfigThrottleAndRetention: the throttle policies, device lifetime
// and audit retention are checked when the store opens. The check comes
// before the database, so an in-memory store shows it for both engines.
func TestConfigThrottleAndRetention(t *testing.T) {
	t.Parallel()
	throttle := func(f func(p *auth.ThrottlePolicy)) auth.ThrottlePolicy {
		p := auth.DefaultLoginThrottle()
		f(&p)
		return p
	}
	cases := []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"no free failure", auth.Config{LoginThrottle: throttle(func(p *auth.ThrottlePolicy) { p.FreeFailures = 0 })}, "LoginThrottle: FreeFailures 0"},
		{"sub-second delay", auth.Config{ResetThrottle: throttle(func(p *auth.ThrottlePolicy) { p.BaseDelay = time.Millisecond })}, "ResetThrottle: BaseDelay"},
		{"maximum below base", auth.Config{LoginThrottle: throttle(func(p *auth.ThrottlePolicy) { p.MaxDelay = time.Millisecond })}, "MaxDelay"},
		{"maximum above a day", auth.Config{LoginThrottle: throttle(func(p *auth.ThrottlePolicy) { p.MaxDelay = 25 * time.Hour })}, "MaxDelay"},
		{"daily below free", auth.Config{LoginThrottle: throttle(func(p *auth.ThrottlePolicy) { p.DailyFailures = 4 })}, "DailyFailures 4"},
		{"device lifetime of a minute", auth.Config{DeviceLifetime: time.Minute}, "device lifetime"},
		{"audit retention of an hour", auth.Config{AuditRetention: time.Hour}, "audit retention"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := auth.OpenMemory(context.Background(), tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	s, err := auth.OpenMemory(context.Background(), auth.Config{AuditRetention: -1, BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
	require.NoError(t, err, "a negative retention keeps audit events for ever")
	require.NoError(t, s.Close())
}
