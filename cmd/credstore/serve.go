package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
	"github.com/credstore/credstore/internal/database"
)

// defaultResetIPLimit is serve's per-IP limit of password-reset requests:
// on by default, unlike the login and registration limits, because one
// client flooding the reset route with unknown addresses would otherwise
// make everybody's reset requests fail (503). 30 a minute is far above what
// a person sends.
var defaultResetIPLimit = authhttp.Limit{N: 30, Per: time.Minute}

// serveConfig is the configuration of "credstore serve".
type serveConfig struct {
	Addr             string
	DB               string
	BcryptCost       int
	PasswordHash     string
	SecureCookies    bool
	CookieName       string // "": authhttp.DefaultCookieName
	ExposeResetToken bool
	TrustedOrigins   []string // origins whose cross-origin browser requests may change state

	// Per-IP limits of logins and registrations (zero: off), and the
	// proxies whose X-Forwarded-For names the client they count.
	LoginIPLimit    authhttp.Limit
	RegisterIPLimit authhttp.Limit
	ResetIPLimit    authhttp.Limit
	TrustedProxies  []netip.Prefix

	// AuditRetention is auth.Config.AuditRetention: 0 for auth's default,
	// negative to keep audit events for ever.
	AuditRetention time.Duration

	// SessionCacheSize is auth.Config.SessionCacheSize: 0 for auth's
	// default, negative for no cache.
	SessionCacheSize int

	// KeyFile holds the keys that encrypt TOTP secrets ("" for the
	// default: see serveConfig.keyFile); TOTPIssuer names the service in
	// authenticator apps.
	KeyFile    string
	TOTPIssuer string

	// SMTP delivery of reset tokens; without SMTPAddr they are printed to
	// standard output (the console sender).
	SMTPAddr        string
	SMTPFrom        string
	SMTPUser        string
	SMTPPassword    string // from the environment only: a flag shows in ps
	SMTPImplicitTLS bool
}

// Timeouts of the HTTP server: a slow or stuck client cannot hold a
// connection (or a goroutine) for long. requestTimeout bounds a handler's
// work (authhttp.Options.RequestTimeout): past it the work is abandoned
// before it commits and the reply is 503. writeTimeout, counted like it from
// the end of the request's headers, leaves 5 s more to write that reply;
// were it shorter, the client would lose the connection without a word
// while the work still committed.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	requestTimeout    = authhttp.DefaultRequestTimeout
	writeTimeout      = requestTimeout + 5*time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 20 * time.Second
)

// parseServe reads the flags of serve. Every flag has an environment twin
// that sets its default; a flag given on the command line wins.
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	fs := flag.NewFlagSet("credstore serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var envErr error
	str := func(env, def string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return def
	}
	boolean := func(env string) bool {
		v := getenv(env)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			envErr = errors.Join(envErr, fmt.Errorf("%s=%q: not a boolean", env, v))
		}
		return b
	}
	integer := func(env string, def int) int {
		v := getenv(env)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			envErr = errors.Join(envErr, fmt.Errorf("%s=%q: not an integer", env, v))
		}
		return n
	}
	var c serveConfig
	fs.StringVar(&c.Addr, "addr", str("CREDSTORE_ADDR", "127.0.0.1:5000"), "listen address (env CREDSTORE_ADDR); port 0 picks a free port")
	fs.StringVar(&c.DB, "db", str("CREDSTORE_DB", "credstore.db"), "SQLite path or file: URI, or postgres:// URL (env CREDSTORE_DB)")
	fs.IntVar(&c.BcryptCost, "bcrypt-cost", integer("CREDSTORE_BCRYPT_COST", auth.DefaultBcryptCost), "bcrypt cost of new password hashes, 12 to 31 (env CREDSTORE_BCRYPT_COST)")
	fs.Func("password-hash", "`algorithm` of new password hashes: bcrypt or argon2id (64 MiB, t=7, p=2); a login rehashes a password stored with the other one (env CREDSTORE_PASSWORD_HASH)", passwordHash(&c.PasswordHash))
	fs.IntVar(&c.SessionCacheSize, "session-cache-size", integer("CREDSTORE_SESSION_CACHE_SIZE", 0), "session lookups remembered in this process; 0: auth's default (10000), -1: none, as behind PgBouncer in transaction mode (env CREDSTORE_SESSION_CACHE_SIZE)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", boolean("CREDSTORE_SECURE_COOKIES"), "mark the session and device cookies Secure; set it behind HTTPS (env CREDSTORE_SECURE_COOKIES)")
	fs.StringVar(&c.CookieName, "cookie-name", str("CREDSTORE_COOKIE_NAME", ""), "name of the session cookie; empty: session_id. Behind HTTPS, __Host-session_id binds it to this host, so that no sibling subdomain can set one (needs -secure-cookies) (env CREDSTORE_COOKIE_NAME)")
	fs.BoolVar(&c.ExposeResetToken, "expose-reset-token", boolean("CREDSTORE_EXPOSE_RESET_TOKEN"), "return reset tokens in the POST /reset_password reply, for tests; never in production (env CREDSTORE_EXPOSE_RESET_TOKEN)")
	fs.Func("trusted-origins", "comma-separated origins (https://app.example.com) whose cross-origin browser requests may register, log in or reset; others get 403 (env CREDSTORE_TRUSTED_ORIGINS)", func(v string) error {
		c.TrustedOrigins = splitOrigins(v)
		return nil
	})
	c.TrustedOrigins = splitOrigins(getenv("CREDSTORE_TRUSTED_ORIGINS"))
	fs.StringVar(&c.SMTPAddr, "smtp-addr", str("CREDSTORE_SMTP_ADDR", ""), "SMTP server host:port for reset messages; empty prints them to standard output (env CREDSTORE_SMTP_ADDR)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", str("CREDSTORE_SMTP_FROM", ""), "sender address of reset messages (env CREDSTORE_SMTP_FROM)")
	fs.StringVar(&c.SMTPUser, "smtp-user", str("CREDSTORE_SMTP_USER", ""), "SMTP user name; the password comes from env CREDSTORE_SMTP_PASSWORD only (env CREDSTORE_SMTP_USER)")
	fs.BoolVar(&c.SMTPImplicitTLS, "smtp-implicit-tls", boolean("CREDSTORE_SMTP_IMPLICIT_TLS"), "connect with TLS (port 465) instead of STARTTLS (env CREDSTORE_SMTP_IMPLICIT_TLS)")
	c.SMTPPassword = getenv("CREDSTORE_SMTP_PASSWORD")
	fs.StringVar(&c.KeyFile, "key-file", str("CREDSTORE_KEY_FILE", ""), "`file` of the keys that encrypt TOTP secrets, mode 0600; default: for SQLite <db path>.keys, created if absent; for PostgreSQL none, and two-factor authentication is off (env CREDSTORE_KEY_FILE)")
	fs.StringVar(&c.TOTPIssuer, "totp-issuer", str("CREDSTORE_TOTP_ISSUER", "credstore"), "the service's name in authenticator apps (env CREDSTORE_TOTP_ISSUER)")
	// parsed reads a flag's environment twin with the flag's own parser.
	parsed := func(env string, parse func(string) error) {
		if v := getenv(env); v != "" {
			if err := parse(v); err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s: %w", env, err))
			}
		}
	}
	limitFlag := func(name, env, what string, dst *authhttp.Limit) {
		parse := func(v string) (err error) { *dst, err = parseLimit(v); return err }
		parsed(env, parse)
		fs.Func(name, "per-IP `rate` limit of "+what+": N/s, N/m or N/h (20/m), N at once then one every period/N; over it 429; empty: none (env "+env+")", parse)
	}
	limitFlag("login-ip-limit", "CREDSTORE_LOGIN_IP_LIMIT", "logins (POST /sessions)", &c.LoginIPLimit)
	limitFlag("register-ip-limit", "CREDSTORE_REGISTER_IP_LIMIT", "registrations (POST /users)", &c.RegisterIPLimit)
	c.ResetIPLimit = defaultResetIPLimit
	limitFlag("reset-ip-limit", "CREDSTORE_RESET_IP_LIMIT", "password resets (POST and PUT /reset_password, /api/v1/password-reset), default "+defaultResetIPLimit.String()+"; set -trusted-proxies behind a proxy", &c.ResetIPLimit)
	proxies := func(v string) (err error) { c.TrustedProxies, err = parseProxies(v); return err }
	parsed("CREDSTORE_TRUSTED_PROXIES", proxies)
	fs.Func("trusted-proxies", "comma-separated `addresses` or CIDR networks of the reverse proxies in front of the service, whose X-Forwarded-For is believed; empty: none, the header is ignored (env CREDSTORE_TRUSTED_PROXIES)", proxies)
	parsed("CREDSTORE_PASSWORD_HASH", passwordHash(&c.PasswordHash))
	retention := func(v string) (err error) { c.AuditRetention, err = parseRetention(v); return err }
	parsed("CREDSTORE_AUDIT_RETENTION", retention)
	fs.Func("audit-retention", "how long audit events are kept: a Go `duration` (8760h) or days (365d), at least a day; negative: for ever; empty or 0: 365d (env CREDSTORE_AUDIT_RETENTION)", retention)
	if envErr != nil {
		return c, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.SMTPAddr != "" && c.SMTPFrom == "" {
		return c, errors.New("-smtp-addr needs -smtp-from")
	}
	check := http.NewCrossOriginProtection() // the very check authhttp.New applies
	for _, o := range c.TrustedOrigins {
		if err := check.AddTrustedOrigin(o); err != nil {
			return c, fmt.Errorf("-trusted-origins: %w", err)
		}
	}
	return c, nil
}

// passwordHash is the parser of -password-hash: bcrypt or argon2id; unset
// ("") is auth's default, bcrypt.
func passwordHash(dst *string) func(string) error {
	return func(v string) error {
		if v != auth.HashBcrypt && v != auth.HashArgon2id {
			return fmt.Errorf("password hash %q: want bcrypt or argon2id", v)
		}
		*dst = v
		return nil
	}
}

// parseLimit reads a per-IP limit: "" for none, else N/s, N/m or N/h with
// N ≥ 1, in bursts of N.
func parseLimit(v string) (authhttp.Limit, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return authhttp.Limit{}, nil
	}
	bad := fmt.Errorf("limit %q: want N/s, N/m or N/h with N at least 1, as 20/m", v)
	count, unit, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		return authhttp.Limit{}, bad
	}
	per, ok := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	if !ok {
		return authhttp.Limit{}, bad
	}
	return authhttp.Limit{N: n, Per: per}, nil
}

// parseProxies reads comma-separated addresses ("10.0.0.1", "::1") and
// CIDR networks ("10.0.0.0/8"); an address is the network of itself alone.
func parseProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for e := range strings.SplitSeq(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR network", e)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR network", e)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// minAuditRetention is the shortest retention auth accepts.
const minAuditRetention = 24 * time.Hour

// parseRetention reads an audit retention: a Go duration ("8760h") or a
// whole number of days ("365d"); "" or 0 for auth's default; negative to
// keep events for ever. A positive one below a day is refused here rather
// than by auth.Open, so that it is a usage error like every bad flag.
func parseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		const maxDays = math.MaxInt64 / (24 * time.Hour) // about 292 years
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > int64(maxDays) || n < -int64(maxDays) {
			return 0, fmt.Errorf("audit retention %q: want a duration (8760h) or whole days (365d)", v)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("audit retention %q: want a duration (8760h) or whole days (365d)", v)
		}
	}
	if d > 0 && d < minAuditRetention {
		return 0, fmt.Errorf("audit retention %q: below one day (negative keeps events for ever)", v)
	}
	return d, nil
}

// auditRetention is how the log shows c.AuditRetention: the retention in
// force.
func (c serveConfig) auditRetention() string {
	switch {
	case c.AuditRetention < 0:
		return "forever"
	case c.AuditRetention == 0:
		return auth.DefaultAuditRetention.String()
	}
	return c.AuditRetention.String()
}

// splitOrigins splits a comma-separated list of origins, dropping spaces
// and empty entries.
func splitOrigins(v string) []string {
	var out []string
	for o := range strings.SplitSeq(v, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// serve runs the service until ctx ends, then shuts down gracefully:
// requests in flight finish (within shutdownTimeout) before it returns.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c, err := parseServe(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "credstore serve: %v\n", err)
		return 2
	}
	buf := newBufferedLog(stderr)
	defer buf.Close()
	log := slog.New(flushOnWarn{slog.NewJSONHandler(buf, nil), buf})
	if err := runServer(ctx, c, log, stdout); err != nil {
		log.Error("serve failed", "err", err.Error())
		return 1
	}
	return 0
}

func runServer(ctx context.Context, c serveConfig, log *slog.Logger, stdout io.Writer) error {
	if err := lostKeyFile(ctx, c); err != nil {
		return err
	}
	keys, err := loadKeys(c, log, time.Now(), rand.Reader)
	if err != nil {
		return err
	}
	keysStamp := keyFileStamp(c.keyFile()) // what watchKeyFile compares with
	cfg := storeConfig(c, keys, stdout)
	cfg.Logger = log
	store, err := auth.Open(ctx, c.DB, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if keys != nil {
		reencrypt(ctx, store, keys, log)
	}
	logAuditHead(ctx, store, log)

	handler, err := authhttp.New(store, authhttp.Options{
		Cookie:           authhttp.CookieOptions{Name: c.CookieName, Secure: c.SecureCookies},
		ExposeResetToken: c.ExposeResetToken,
		RequestTimeout:   requestTimeout,
		TrustedOrigins:   c.TrustedOrigins,
		TrustedProxies:   c.TrustedProxies,
		LoginLimit:       c.LoginIPLimit,
		RegisterLimit:    c.RegisterIPLimit,
		ResetLimit:       c.ResetIPLimit,
		Logger:           log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	// The API v1 beside the Holberton routes, which keep their paths, and
	// the public keys of its access tokens where other services look.
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", handler.V1()))
	mux.Handle("/.well-known/jwks.json", handler.JWKS())
	mux.Handle("/", handler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "db", database.Redact(c.DB), "bcrypt_cost", c.BcryptCost, "password_hash", cmp.Or(c.PasswordHash, auth.HashBcrypt),
		"secure_cookies", c.SecureCookies, "expose_reset_token", c.ExposeResetToken, "smtp", c.SMTPAddr != "",
		"trusted_origins", c.TrustedOrigins, "trusted_proxies", c.TrustedProxies,
		"login_ip_limit", c.LoginIPLimit.String(), "register_ip_limit", c.RegisterIPLimit.String(), "reset_ip_limit", c.ResetIPLimit.String(),
		"audit_retention", c.auditRetention(), "two_factor", keys != nil, "key_file", c.keyFile(),
		"totp_issuer", c.TOTPIssuer)
	if c.SMTPAddr != "" {
		log.Info("reset messages are sent by SMTP", "smtp_addr", c.SMTPAddr, "smtp_from", c.SMTPFrom,
			"smtp_implicit_tls", c.SMTPImplicitTLS)
	} else {
		// The console sender writes live reset tokens to standard output,
		// which log collectors keep: anyone who reads those logs could reset
		// any password. Fine on a developer's machine, and only there.
		log.Warn("reset messages, live tokens included, are printed to standard output: for local use only; set -smtp-addr in production")
	}
	if c.ExposeResetToken {
		log.Warn("reset tokens are returned to whoever asks: for tests only")
	}

	// Housekeeping and the key file's watch end before the store closes
	// (defers run last first).
	hctx, stopHousekeeping := context.WithCancel(ctx)
	housekept := make(chan struct{})
	go func() {
		defer close(housekept)
		_ = store.RunHousekeeping(hctx, auth.DefaultHousekeepingInterval) // returns hctx's error
	}()
	defer func() { stopHousekeeping(); <-housekept }()
	if keys != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			watchKeyFile(hctx, c, store, log, hup, keysStamp)
		}()
		defer func() { signal.Stop(hup); stopHousekeeping(); <-watched }()
	}
	headLogged := make(chan struct{})
	go func() {
		defer close(headLogged)
		logAuditHeads(hctx, store, log)
	}()
	defer func() { stopHousekeeping(); <-headLogged }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Reset messages are delivered after their replies: finish them before
	// the store closes.
	if err := handler.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: reset messages: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// auditHeadInterval is how often serve logs the audit chain's head.
const auditHeadInterval = time.Hour

// logAuditHead logs the audit chain's head: a record outside the database,
// for "credstore audit verify -head", that a role able to delete the newest
// events cannot rewrite (docs/postgres.md). serve logs it before it listens
// and then every auditHeadInterval (logAuditHeads).
func logAuditHead(ctx context.Context, store *auth.Store, log *slog.Logger) {
	if h, err := store.AuditChainHead(ctx); err == nil {
		log.Info("audit chain head", "head", h.String())
	} else if ctx.Err() == nil {
		log.Warn("audit chain head unreadable", "err", err.Error())
	}
}

// logAuditHeads logs the head every auditHeadInterval until ctx ends.
func logAuditHeads(ctx context.Context, store *auth.Store, log *slog.Logger) {
	t := time.NewTicker(auditHeadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			logAuditHead(ctx, store, log)
		}
	}
}

// storeConfig is the store's configuration for c: the service's policy
// (usernames optional: the API registers by email), reset delivery by SMTP
// or to stdout, the audit retention, the TOTP keys (nil: two-factor off)
// and issuer, and auth's defaults for the rest (the hash queue, the
// throttles).
func storeConfig(c serveConfig, keys *auth.Keyring, stdout io.Writer) auth.Config {
	var sender auth.Sender = &auth.ConsoleSender{W: stdout}
	if c.SMTPAddr != "" {
		sender = &auth.SMTPSender{
			Addr: c.SMTPAddr, From: c.SMTPFrom, Username: c.SMTPUser, Password: c.SMTPPassword,
			ImplicitTLS: c.SMTPImplicitTLS,
		}
	}
	policy := auth.DefaultPolicy()
	policy.RequireUsername = false
	return auth.Config{
		Policy:           &policy,
		BcryptCost:       c.BcryptCost,
		PasswordHash:     c.PasswordHash,
		ResetSender:      sender,
		AuditRetention:   c.AuditRetention,
		SecretKeys:       keys,
		TOTPIssuer:       c.TOTPIssuer,
		SessionCacheSize: c.SessionCacheSize,
	}
}
