// Command sqlcvetdb makes the PostgreSQL database that
// `sqlc vet -f sqlc.postgres.yaml` prepares every query against.
//
// sqlc does not apply migrations to a database given by URI, so CI creates
// one, migrated by credstore's own code, and points sqlc at it:
//
//	export CREDSTORE_SQLC_VET_URL=$(go run ./internal/tools/sqlcvetdb create)
//	sqlc vet -f sqlc.postgres.yaml
//	go run ./internal/tools/sqlcvetdb drop "$CREDSTORE_SQLC_VET_URL"
//
// The server is the one in CREDSTORE_TEST_POSTGRES_URL; the database gets a
// random name, so runs sharing a server do not collide.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/credstore/credstore/internal/database"
)

const (
	prefix         = "credstore_sqlc_vet_"
	postgresURLEnv = "CREDSTORE_TEST_POSTGRES_URL" // as internal/testdb reads it
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sqlcvetdb:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	server := os.Getenv(postgresURLEnv)
	if server == "" {
		return errors.New(postgresURLEnv + " is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return err
	}
	defer admin.Close()

	switch {
	case len(args) == 1 && args[0] == "create":
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		name := prefix + hex.EncodeToString(b[:])
		u, err := withDatabase(server, name)
		if err != nil {
			return err
		}
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			return fmt.Errorf("create database: %w", err)
		}
		d, err := database.Open(ctx, u)
		if err != nil {
			admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") //nolint:errcheck // reporting the first error
			return err
		}
		if err := d.Close(); err != nil {
			return err
		}
		fmt.Println(u)
		return nil
	case len(args) == 2 && args[0] == "drop":
		u, err := url.Parse(args[1])
		if err != nil {
			return errors.New("drop: not a URL")
		}
		name := strings.TrimPrefix(u.Path, "/")
		if !strings.HasPrefix(name, prefix) || strings.ContainsFunc(name[len(prefix):], func(r rune) bool {
			return !strings.ContainsRune("0123456789abcdef", r)
		}) {
			return fmt.Errorf("drop: %q is not a database this command made", name)
		}
		_, err = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	return errors.New("usage: sqlcvetdb create | sqlcvetdb drop URL")
}

// withDatabase returns server's URL naming database name instead.
func withDatabase(server, name string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL", postgresURLEnv)
	}
	u.Path = "/" + name
	return u.String(), nil
}
