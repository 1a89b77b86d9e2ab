package database

import (
	"context"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIsUnavailable classifies constructed driver errors, bare and wrapped
// as callers wrap them ("begin: %w").
func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown (pg_terminate_backend, a fast restart)", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up or shutting down", &pgconn.PgError{Code: "57P03"}, true},
		{"disk full", &pgconn.PgError{Code: "53100"}, true},
		{"out of memory", &pgconn.PgError{Code: "53200"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"insufficient resources", &pgconn.PgError{Code: "53000"}, true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"connection does not exist", &pgconn.PgError{Code: "08003"}, true},
		{"database dropped", &pgconn.PgError{Code: "57P04"}, false},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, false},
		{"lock timeout", &pgconn.PgError{Code: "55P03"}, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"permission denied", &pgconn.PgError{Code: "42501"}, false},
		{"wrong password", &pgconn.PgError{Code: "28P01"}, false},
		{"unknown database", &pgconn.PgError{Code: "3D000"}, false},
		{"io error on the server", &pgconn.PgError{Code: "58030"}, false},
		{"bad connection", driver.ErrBadConn, true},
		{"EOF from the server", io.ErrUnexpectedEOF, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"broken pipe", os.NewSyscallError("write", syscall.EPIPE), true},
		{"context canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, false},
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutError{}}, false},
		{"untrusted certificate", x509.UnknownAuthorityError{}, false},
		{"no rows", sql.ErrNoRows, false},
		{"anything else", errors.New("terminating connection due to administrator command"), false},
		{"nil", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, IsUnavailable(tc.err), "%v", tc.err)
			if tc.err == nil {
				return
			}
			wrapped := fmt.Errorf("begin: %w", tc.err)
			assert.Equal(t, tc.want, IsUnavailable(wrapped), "wrapped")
			marked := Unavailable(wrapped)
			assert.Equal(t, tc.want, errors.Is(marked, ErrUnavailable), "Unavailable marks it exactly then")
			assert.ErrorIs(t, marked, tc.err, "and keeps the driver's error")
			if tc.want {
				assert.Same(t, marked, Unavailable(marked), "once")
			} else {
				assert.Same(t, wrapped, marked, "an error not marked is returned as it is")
			}
		})
	}
	assert.NoError(t, Unavailable(nil))
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// TestIsUnavailableConnect classifies pgconn's *ConnectError as the driver
// makes it: a port nobody listens on is unavailable, a server that refuses
// the password is not.
func TestIsUnavailableConnect(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().(*net.TCPAddr)
	require.NoError(t, l.Close()) // nobody listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pgconn.Connect(ctx, fmt.Sprintf("postgres://u:p@127.0.0.1:%d/x?sslmode=disable&connect_timeout=5", addr.Port))
	require.Error(t, err)
	var ce *pgconn.ConnectError
	require.ErrorAs(t, err, &ce)
	assert.True(t, IsUnavailable(err), "refused: %v", err)

	// A refused password inside a *ConnectError is the configuration's.
	assert.False(t, IsUnavailable(connectErrorWith(t, &pgconn.PgError{Severity: "FATAL", Code: "28P01"})))
	assert.True(t, IsUnavailable(connectErrorWith(t, &pgconn.PgError{Severity: "FATAL", Code: "57P03"})))
}

// connectErrorWith makes pgconn return a *ConnectError carrying pe, from a
// fake server that answers the start-up message with it.
func connectErrorWith(t *testing.T, pe *pgconn.PgError) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Read the start-up message (length-prefixed), then answer with an
		// ErrorResponse: 'E', length, fields S, V, C, M, and a terminator.
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
		if _, err := io.CopyN(io.Discard, c, int64(n-4)); err != nil {
			return
		}
		var body strings.Builder
		for _, f := range []struct {
			k byte
			v string
		}{{'S', pe.Severity}, {'V', pe.Severity}, {'C', pe.Code}, {'M', "refused"}} {
			body.WriteByte(f.k)
			body.WriteString(f.v)
			body.WriteByte(0)
		}
		body.WriteByte(0)
		m := body.Len() + 4
		_, _ = c.Write(append([]byte{'E', byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}, body.String()...))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = pgconn.Connect(ctx, fmt.Sprintf("postgres://u:p@%s/x?sslmode=disable", l.Addr()))
	require.Error(t, err)
	var ce *pgconn.ConnectError
	require.ErrorAs(t, err, &ce)
	var got *pgconn.PgError
	require.ErrorAs(t, err, &got)
	require.Equal(t, pe.Code, got.Code)
	return err
}

// TestIsUnavailableSQLite: a full disk (here the file's page limit) is
// unavailability, a file that is not a database is not.
func TestIsUnavailableSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, _ := openFile(t)
	conn, err := d.SQL().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "CREATE TABLE filler (b BLOB)")
	require.NoError(t, err)
	var pages int
	require.NoError(t, conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages))
	_, err = conn.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages+2))
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "INSERT INTO filler (b) VALUES (zeroblob(1000000))")
	require.Error(t, err, "the file is full")
	assert.True(t, IsUnavailable(err), "SQLITE_FULL: %v", err)

	path := filepath.Join(t.TempDir(), "garbage.db")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("not a database ", 512)), 0o600))
	_, err = OpenNoMigrate(ctx, path)
	require.Error(t, err)
	assert.False(t, IsUnavailable(err), "SQLITE_NOTADB: %v", err)
}
