package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"
)

// terminal returns the file descriptor of standard input when it is a
// terminal.
func (c *userCmd) terminal() (int, bool) {
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// errNoTerminal refuses what would need an answer nobody can give.
var errNoTerminal = errors.New("standard input is not a terminal to confirm on: refusing; give -yes to proceed")

// confirm asks question on the terminal and returns nil for a yes, and
// without asking for -yes. Without a terminal and -yes it refuses.
func (c *userCmd) confirm(question string) error {
	if c.o.yes {
		return nil
	}
	if _, ok := c.terminal(); !ok {
		return errNoTerminal
	}
	fmt.Fprintf(c.stderr, "%s [y/N] ", question)
	answer, err := readLine(c.stdin)
	if err != nil && answer == "" {
		return errRefused
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errRefused
}

// readPassword reads a new password: the first line of standard input with
// -password-stdin, else typed twice on the terminal without echo. Its
// errors never repeat what was typed.
func (c *userCmd) readPassword() (string, error) {
	if c.o.passwordStdin {
		p, err := readLine(c.stdin)
		if err != nil && p == "" {
			return "", errors.New("-password-stdin: no password on standard input")
		}
		return p, nil
	}
	fd, ok := c.terminal()
	if !ok {
		return "", errors.New("standard input is not a terminal to type a password on: give -password-stdin")
	}
	fmt.Fprint(c.stderr, "New password: ")
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(c.stderr, "Repeat it: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the passwords do not match; nothing changed")
	}
	return string(first), nil
}

// readLine reads one line a byte at a time, so that nothing after it is
// taken from r (a terminal read next by term.ReadPassword), without its
// line ending.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimSuffix(b.String(), "\r"), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			return strings.TrimSuffix(b.String(), "\r"), err
		}
	}
}

// openManagementLog opens (creating it, mode 0600, and its directory) the
// file that records every change the users commands make, as JSON lines.
func openManagementLog(path string) (*slog.Logger, *logFile, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("log file: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	// Each record is one write of a whole line, which O_APPEND keeps whole
	// beside other processes' records.
	lf := &logFile{f: f}
	return slog.New(slog.NewJSONHandler(lf, nil)), lf, nil
}

// logFile is the management log's file, keeping the first write error:
// slog drops the errors of its handler's writes, and a change that was
// made but not logged must not pass unnoticed.
type logFile struct {
	f   *os.File
	err error
}

func (l *logFile) Write(p []byte) (int, error) {
	n, err := l.f.Write(p)
	if err != nil && l.err == nil {
		l.err = err
	}
	return n, err
}

// Close closes the file and returns the first error of any write or of the
// close.
func (l *logFile) Close() error {
	return errors.Join(l.err, l.f.Close())
}

// record appends the outcome of a change to the management log: who (the
// OS user), which command, which user and which fields (names only: never
// a value, so never a password), and how it ended. err's text is safe to
// keep: auth's errors never repeat a value.
func (c *userCmd) record(id int64, fields []string, outcome string, err error, backupFile string) {
	if c.log == nil {
		return
	}
	attrs := []any{"os_user", c.osUser, "command", c.name, "outcome", outcome}
	if id != 0 {
		attrs = append(attrs, "user_id", id)
	}
	if fields == nil {
		fields = []string{}
	}
	attrs = append(attrs, "fields", fields)
	if backupFile != "" {
		attrs = append(attrs, "backup", backupFile)
	}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	c.log.Info("user management", attrs...)
	if c.logF.err != nil && !c.logWarned {
		c.logWarned = true
		fmt.Fprintf(c.stderr, "credstore %s: warning: could not append to the management log %s (%v); the database's audit trail is unaffected\n",
			c.name, c.o.logFile, c.logF.err)
	}
}
