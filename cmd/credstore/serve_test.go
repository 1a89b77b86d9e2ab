package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/testdb"
)

func TestParseServe(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    serveConfig
		wantErr bool
		// resetOff: the case turns the reset limit off; every other case
		// that leaves want.ResetIPLimit zero expects serve's default.
		resetOff bool
	}{
		{
			name: "defaults: a fresh clone serves credstore.db on 127.0.0.1:5000",
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore"},
		},
		{
			name: "environment twins",
			env: map[string]string{
				"CREDSTORE_ADDR": "127.0.0.1:8080", "CREDSTORE_DB": "/var/lib/credstore.db",
				"CREDSTORE_BCRYPT_COST": "13", "CREDSTORE_SECURE_COOKIES": "true", "CREDSTORE_EXPOSE_RESET_TOKEN": "1",
			},
			want: serveConfig{Addr: "127.0.0.1:8080", DB: "/var/lib/credstore.db", BcryptCost: 13, TOTPIssuer: "credstore", SecureCookies: true, ExposeResetToken: true},
		},
		{
			name: "flags win over the environment",
			args: []string{"-addr", ":9000", "-db", "x.db", "-bcrypt-cost", "14", "-secure-cookies=false", "-expose-reset-token"},
			env:  map[string]string{"CREDSTORE_ADDR": "127.0.0.1:8080", "CREDSTORE_SECURE_COOKIES": "true"},
			want: serveConfig{Addr: ":9000", DB: "x.db", BcryptCost: 14, TOTPIssuer: "credstore", ExposeResetToken: true},
		},
		{
			name: "argon2id from the environment",
			env:  map[string]string{"CREDSTORE_PASSWORD_HASH": "argon2id"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore", PasswordHash: "argon2id"},
		},
		{
			name: "bcrypt by flag over the environment",
			args: []string{"-password-hash", "bcrypt"},
			env:  map[string]string{"CREDSTORE_PASSWORD_HASH": "argon2id"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore", PasswordHash: "bcrypt"},
		},
		{
			name:     "the reset limit, off by flag",
			args:     []string{"-reset-ip-limit", ""},
			want:     serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore"},
			resetOff: true,
		},
		{
			name: "the reset limit, from the environment",
			env:  map[string]string{"CREDSTORE_RESET_IP_LIMIT": "5/m"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore", ResetIPLimit: authhttp.Limit{N: 5, Per: time.Minute}},
		},
		{
			name: "a __Host- cookie name, by flag and by environment",
			args: []string{"-cookie-name", "__Host-session_id", "-secure-cookies"},
			env:  map[string]string{"CREDSTORE_COOKIE_NAME": "other"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore", SecureCookies: true, CookieName: "__Host-session_id"},
		},
		{
			name: "SMTP password from the environment only",
			args: []string{"-smtp-addr", "mail.example.com:587", "-smtp-from", "noreply@example.com", "-smtp-user", "u"},
			env:  map[string]string{"CREDSTORE_SMTP_PASSWORD": "s3cret"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore",
				SMTPAddr: "mail.example.com:587", SMTPFrom: "noreply@example.com", SMTPUser: "u", SMTPPassword: "s3cret"},
		},
		{
			name: "trusted origins from the environment",
			env:  map[string]string{"CREDSTORE_TRUSTED_ORIGINS": "https://app.example.com, https://admin.example.com:8443,"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore",
				TrustedOrigins: []string{"https://app.example.com", "https://admin.example.com:8443"}},
		},
		{
			name: "trusted origins: the flag wins",
			args: []string{"-trusted-origins", "https://app.example.com"},
			env:  map[string]string{"CREDSTORE_TRUSTED_ORIGINS": "https://old.example.com"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore", TrustedOrigins: []string{"https://app.example.com"}},
		},
		{
			name: "per-IP limits, proxies and audit retention from the environment",
			env: map[string]string{
				"CREDSTORE_LOGIN_IP_LIMIT": "20/m", "CREDSTORE_REGISTER_IP_LIMIT": "5/h",
				"CREDSTORE_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,::1, 2001:db8::1/32,", "CREDSTORE_AUDIT_RETENTION": "30d",
			},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore",
				LoginIPLimit: authhttp.Limit{N: 20, Per: time.Minute}, RegisterIPLimit: authhttp.Limit{N: 5, Per: time.Hour},
				TrustedProxies: []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
					netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("2001:db8::/32"),
				},
				AuditRetention: 30 * 24 * time.Hour},
		},
		{
			name: "per-IP limits, proxies and audit retention: the flags win",
			args: []string{"-login-ip-limit", "2/s", "-register-ip-limit", "", "-trusted-proxies", "172.16.0.0/12", "-audit-retention", "8760h"},
			env: map[string]string{
				"CREDSTORE_LOGIN_IP_LIMIT": "20/m", "CREDSTORE_REGISTER_IP_LIMIT": "5/h",
				"CREDSTORE_TRUSTED_PROXIES": "10.0.0.0/8", "CREDSTORE_AUDIT_RETENTION": "30d",
			},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore",
				LoginIPLimit: authhttp.Limit{N: 2, Per: time.Second}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")},
				AuditRetention: 8760 * time.Hour},
		},
		{
			name: "audit retention for ever",
			args: []string{"-audit-retention", "-1s"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore", AuditRetention: -time.Second},
		},
		{
			name: "audit retention in negative days, and 0 is auth's default",
			env:  map[string]string{"CREDSTORE_AUDIT_RETENTION": "-1d"},
			args: []string{"-audit-retention", "0"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, TOTPIssuer: "credstore"},
		},
		{
			name: "key file and TOTP issuer from the environment",
			env:  map[string]string{"CREDSTORE_KEY_FILE": "/etc/credstore/keys", "CREDSTORE_TOTP_ISSUER": "Example"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, KeyFile: "/etc/credstore/keys", TOTPIssuer: "Example"},
		},
		{
			name: "key file and TOTP issuer: the flags win",
			args: []string{"-key-file", "/run/secrets/keys", "-totp-issuer", "Example Corp"},
			env:  map[string]string{"CREDSTORE_KEY_FILE": "/etc/credstore/keys", "CREDSTORE_TOTP_ISSUER": "Example"},
			want: serveConfig{Addr: "127.0.0.1:5000", DB: "credstore.db", BcryptCost: 12, KeyFile: "/run/secrets/keys", TOTPIssuer: "Example Corp"},
		},
		{name: "limit without a period", args: []string{"-login-ip-limit", "20"}, wantErr: true},
		{name: "limit per day", args: []string{"-login-ip-limit", "20/d"}, wantErr: true},
		{name: "limit of zero", args: []string{"-register-ip-limit", "0/m"}, wantErr: true},
		{name: "negative limit", args: []string{"-register-ip-limit", "-1/m"}, wantErr: true},
		{name: "limit not a number", env: map[string]string{"CREDSTORE_LOGIN_IP_LIMIT": "many/m"}, wantErr: true},
		{name: "limit with two periods", env: map[string]string{"CREDSTORE_REGISTER_IP_LIMIT": "20/m/s"}, wantErr: true},
		{name: "trusted proxy: a host name", args: []string{"-trusted-proxies", "proxy.example.com"}, wantErr: true},
		{name: "trusted proxy: a prefix too long", env: map[string]string{"CREDSTORE_TRUSTED_PROXIES": "10.0.0.0/33"}, wantErr: true},
		{name: "trusted proxy: with a port", args: []string{"-trusted-proxies", "10.0.0.1:80"}, wantErr: true},
		{name: "trusted proxy: with a zone", args: []string{"-trusted-proxies", "fe80::1%eth0"}, wantErr: true},
		{name: "audit retention below a day", args: []string{"-audit-retention", "23h"}, wantErr: true},
		{name: "audit retention: not a duration", env: map[string]string{"CREDSTORE_AUDIT_RETENTION": "a year"}, wantErr: true},
		{name: "audit retention: days and hours", args: []string{"-audit-retention", "1d12h"}, wantErr: true},
		{name: "audit retention: past 292 years", args: []string{"-audit-retention", "200000d"}, wantErr: true},
		{name: "trusted origin with a path", args: []string{"-trusted-origins", "https://app.example.com/login"}, wantErr: true},
		{name: "trusted origin without a scheme", env: map[string]string{"CREDSTORE_TRUSTED_ORIGINS": "app.example.com"}, wantErr: true},
		{name: "bad boolean in the environment", env: map[string]string{"CREDSTORE_SECURE_COOKIES": "maybe"}, wantErr: true},
		{name: "bad integer in the environment", env: map[string]string{"CREDSTORE_BCRYPT_COST": "twelve"}, wantErr: true},
		{name: "unknown flag", args: []string{"-port", "5000"}, wantErr: true},
		{name: "stray argument", args: []string{"now"}, wantErr: true},
		{name: "SMTP without a sender address", args: []string{"-smtp-addr", "mail.example.com:587"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseServe(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			if tc.want.ResetIPLimit == (authhttp.Limit{}) && !tc.resetOff {
				tc.want.ResetIPLimit = defaultResetIPLimit // on unless a case turns it off
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 2, run(t.Context(), nil, func(string) string { return "" }, io.Discard, io.Discard))
	assert.Equal(t, 2, run(t.Context(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, io.Discard))
	assert.Equal(t, 0, run(t.Context(), []string{"serve", "-h"}, func(string) string { return "" }, io.Discard, io.Discard))
}

// startLog runs serve with args until it has logged "listening", stops it,
// and returns its log lines. Its database is a fresh SQLite file unless
// args say otherwise (the last -db wins).
func startLog(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	lines, _ := startLogEnv(t, nil, args...)
	return lines
}

// startLogEnv is startLog with an environment, and the log as written too.
func startLogEnv(t *testing.T, env map[string]string, args ...string) ([]map[string]any, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stderr := &testdb.Buffer{}
	args = append([]string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "c.db")}, args...)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, io.Discard, stderr) }()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), `"msg":"listening"`) }, testdb.Patience, 10*time.Millisecond,
		"the server starts: %s", stderr)
	cancel()
	require.Equal(t, 0, <-done, stderr.String())
	var lines []map[string]any
	for l := range strings.Lines(stderr.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	return lines, stderr.String()
}

// logged returns the first line whose message contains msg, or nil.
func logged(lines []map[string]any, msg string) map[string]any {
	for _, l := range lines {
		if s, _ := l["msg"].(string); strings.Contains(s, msg) {
			return l
		}
	}
	return nil
}

// TestResetDeliveryLogged: the log says at start where reset messages
// go, and warns when it is standard output, where log collectors would keep
// live tokens.
func TestResetDeliveryLogged(t *testing.T) {
	t.Parallel()
	t.Run("console", func(t *testing.T) {
		t.Parallel()
		lines := startLog(t)
		l := logged(lines, "standard output")
		require.NotNil(t, l, "a warning names standard output: %v", lines)
		assert.Equal(t, "WARN", l["level"])
		assert.Contains(t, l["msg"], "for local use only")
		assert.Nil(t, logged(lines, "sent by SMTP"))
	})
	t.Run("SMTP", func(t *testing.T) {
		t.Parallel()
		lines := startLog(t, "-smtp-addr", "mail.example.com:587", "-smtp-from", "noreply@example.com")
		l := logged(lines, "sent by SMTP")
		require.NotNil(t, l, "an info line names the SMTP server: %v", lines)
		assert.Equal(t, "INFO", l["level"])
		assert.Equal(t, "mail.example.com:587", l["smtp_addr"])
		assert.Nil(t, logged(lines, "standard output"), "no console warning")
	})
}

// TestSettingsLogged: the "listening" line states the per-IP limits, the
// trusted proxies and the audit retention in force.
func TestSettingsLogged(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		l := logged(startLog(t), "listening")
		require.NotNil(t, l)
		assert.Equal(t, "off", l["login_ip_limit"])
		assert.Equal(t, "off", l["register_ip_limit"])
		assert.Nil(t, l["trusted_proxies"])
		assert.Equal(t, "8760h0m0s", l["audit_retention"])
		assert.Equal(t, "bcrypt", l["password_hash"])
	})
	t.Run("set", func(t *testing.T) {
		t.Parallel()
		l := logged(startLog(t, "-login-ip-limit", "20/m", "-register-ip-limit", "5/h",
			"-trusted-proxies", "10.0.0.0/8,::1", "-audit-retention", "-1s"), "listening")
		require.NotNil(t, l)
		assert.Equal(t, "20/m", l["login_ip_limit"])
		assert.Equal(t, "5/h", l["register_ip_limit"])
		assert.Equal(t, []any{"10.0.0.0/8", "::1/128"}, l["trusted_proxies"])
		assert.Equal(t, "forever", l["audit_retention"])
	})
}

// TestServeUsageErrors: a bad value of the new flags, or of their
// environment twins, stops serve at start with status 2 and a message
// that names it.
func TestServeUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		says string
	}{
		{[]string{"serve", "-login-ip-limit", "20"}, nil, `limit "20": want N/s, N/m or N/h`},
		{[]string{"serve"}, map[string]string{"CREDSTORE_REGISTER_IP_LIMIT": "0/m"}, `CREDSTORE_REGISTER_IP_LIMIT: limit "0/m"`},
		{[]string{"serve", "-trusted-proxies", "10.0.0.0/8,proxy"}, nil, `trusted proxy "proxy": not an address or CIDR network`},
		{[]string{"serve", "-audit-retention", "1h"}, nil, `audit retention "1h": below one day`},
		{[]string{"serve", "-password-hash", "scrypt"}, nil, `password hash "scrypt": want bcrypt or argon2id`},
		{[]string{"serve"}, map[string]string{"CREDSTORE_PASSWORD_HASH": "md5"}, `CREDSTORE_PASSWORD_HASH: password hash "md5"`},
	} {
		stderr := &testdb.Buffer{}
		code := run(t.Context(), tc.args, func(k string) string { return tc.env[k] }, io.Discard, stderr)
		assert.Equal(t, 2, code, "%v %v", tc.args, tc.env)
		assert.Contains(t, stderr.String(), tc.says)
	}
}

// TestStoreConfig: the service keeps auth's hash gate defaults, and
// delivers reset messages by SMTP when configured.
func TestStoreConfig(t *testing.T) {
	t.Parallel()
	cfg := storeConfig(serveConfig{BcryptCost: 12, TOTPIssuer: "credstore"}, nil, io.Discard)
	assert.Zero(t, cfg.MaxQueuedHashes, "auth's default: four per core")
	assert.Nil(t, cfg.SecretKeys, "no key file: two-factor off")
	assert.Equal(t, "credstore", cfg.TOTPIssuer)
	assert.Zero(t, cfg.MaxConcurrentHashes, "auth's default: one per core")
	assert.False(t, cfg.Policy.RequireUsername, "the API registers by email")
	assert.IsType(t, &auth.ConsoleSender{}, cfg.ResetSender)
	assert.Zero(t, cfg.AuditRetention, "auth's default")
	keys := &auth.Keyring{Current: "k1", Keys: map[string][]byte{"k1": make([]byte, 32)}}
	cfg = storeConfig(serveConfig{BcryptCost: 12, SMTPAddr: "mail.example.com:587", SMTPFrom: "a@example.com", AuditRetention: -1}, keys, io.Discard)
	assert.IsType(t, &auth.SMTPSender{}, cfg.ResetSender)
	assert.Same(t, keys, cfg.SecretKeys)
	assert.Equal(t, time.Duration(-1), cfg.AuditRetention)
	cfg = storeConfig(serveConfig{BcryptCost: 12, PasswordHash: auth.HashArgon2id}, nil, io.Discard)
	assert.Equal(t, auth.HashArgon2id, cfg.PasswordHash)
}

// TestServeLogsAuditHead: serve logs the audit chain's head at start, in
// the form "credstore audit verify -head" takes.
func TestServeLogsAuditHead(t *testing.T) {
	t.Parallel()
	lines, raw := startLogEnv(t, nil)
	l := logged(lines, "audit chain head")
	require.NotNil(t, l, raw)
	_, err := auth.ParseAuditHead(l["head"].(string))
	require.NoError(t, err, "%v", l["head"])
}

// TestServeHousekeeps: serve purges expired rows from the start, through
// auth's RunHousekeeping, logging on the service's log, and stops it cleanly.
func TestServeHousekeeps(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	stderr := &testdb.Buffer{}
	args := []string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "c.db")}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, io.Discard, stderr) }()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), `"msg":"housekeeping"`) }, testdb.Patience,
		10*time.Millisecond, "the first run is at start: %s", stderr)
	cancel()
	require.Equal(t, 0, <-done, stderr.String())
	assert.NotContains(t, stderr.String(), "housekeeping failed")
}

// startServe runs "credstore serve" on a free port with args until ctx
// ends, and returns its address once it listens, its log, and its exit
// status to come.
func startServe(ctx context.Context, t *testing.T, args ...string) (string, *testdb.Buffer, <-chan int) {
	t.Helper()
	stderr := &testdb.Buffer{}
	args = append([]string{"serve", "-addr", "127.0.0.1:0"}, args...)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, io.Discard, stderr) }()
	var addr string
	require.Eventually(t, func() bool {
		for l := range strings.Lines(stderr.String()) {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "listening" {
				addr, _ = m["addr"].(string)
			}
		}
		return addr != ""
	}, testdb.Patience, 10*time.Millisecond, "the server starts: %s", stderr)
	return addr, stderr, done
}

// TestServeMountsAPIv1: credstore serve answers the API v1 under /api/v1,
// in its error shape, beside the Holberton routes at the root.
func TestServeMountsAPIv1(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, stderr, done := startServe(ctx, t, "-db", filepath.Join(t.TempDir(), "c.db"))
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	status, doc := get("/api/v1/openapi.json")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "3.1.0", doc["openapi"])
	status, body := get("/api/v1/me")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "authentication_required", body["error"].(map[string]any)["code"])
	status, body = get("/.well-known/jwks.json")
	assert.Equal(t, http.StatusOK, status)
	if keys, ok := body["keys"].([]any); assert.True(t, ok, "%v", body) && assert.Len(t, keys, 1) {
		assert.Equal(t, "EdDSA", keys[0].(map[string]any)["alg"])
	}
	status, body = get("/")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "Bienvenue", body["message"], "the Holberton routes stay at the root")
	cancel()
	require.Equal(t, 0, <-done, stderr.String())
}
