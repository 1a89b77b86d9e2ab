// Command tasks serves a small task list API: credstore's user routes under
// /auth/ and each user's own tasks under /tasks, on SQLite or PostgreSQL.
//
//	go run . -db tasks.db -addr 127.0.0.1:8080
//	go run . -db 'postgres://app:secret@127.0.0.1:5432/tasks?sslmode=disable'
//
// See README.md for the routes and for changing the schema.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	_ "modernc.org/sqlite"             // the "sqlite" driver

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"

	"example.com/tasks/schema"
	"example.com/tasks/server"
	"example.com/tasks/task"
)

func main() {
	dbFlag := flag.String("db", "tasks.db", "SQLite file, or a postgres:// URL")
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	secure := flag.Bool("secure-cookies", false, "mark cookies Secure (set it behind HTTPS)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dbFlag, *addr, *secure, log); err != nil {
		log.Error("tasks", "err", err.Error())
		os.Exit(1)
	}
}

// run serves until ctx ends, then finishes the requests in flight.
func run(ctx context.Context, dsn, addr string, secure bool, log *slog.Logger) error {
	pool, err := openPool(dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Users register with an email and a password; a username is optional.
	policy := auth.DefaultPolicy()
	policy.RequireUsername = false
	// credstore applies its migrations, then the application's (schema/).
	store, err := auth.OpenDB(ctx, pool, auth.Config{AppMigrations: schema.FS, Policy: &policy, Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	a, err := authhttp.New(store, authhttp.Options{Cookie: authhttp.CookieOptions{Secure: secure}, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           server.New(a, task.NewService(pool)),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// Expired sessions and tokens are purged until shutdown; housekeeping
	// ends before the store closes (defers run last first).
	hctx, stopHousekeeping := context.WithCancel(ctx)
	housekept := make(chan struct{})
	go func() {
		defer close(housekept)
		_ = store.RunHousekeeping(hctx, auth.DefaultHousekeepingInterval) // returns hctx's error
	}()
	defer func() { stopHousekeeping(); <-housekept }()

	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Password-reset messages are sent after their replies: let them go
	// before the store closes.
	if err := a.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// openPool opens the application's pool, which credstore and the task
// queries share: PostgreSQL for a postgres:// URL, else the SQLite file at
// dsn with the settings credstore needs (auth.SQLiteDSN).
func openPool(dsn string) (*sql.DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return sql.Open("pgx", dsn)
	}
	sqliteDSN, err := auth.SQLiteDSN(dsn)
	if err != nil {
		return nil, err
	}
	pool, err := sql.Open("sqlite", sqliteDSN)
	if err != nil {
		return nil, err
	}
	// SQLite writes one at a time; a few connections serve the readers.
	pool.SetMaxOpenConns(8)
	return pool, nil
}
