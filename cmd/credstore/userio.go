package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// terminal returns the file descriptor of standard input when it is a
// terminal.
func (c *userCmd) terminal() (int, bool) { return terminalFD(c.stdin) }

// terminalFD returns the file descriptor of r when it is a terminal.
func terminalFD(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
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
	answer, err := c.ask(false)
	if errors.Is(err, errInterrupted) {
		return err
	}
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
		p, err := c.ask(false)
		if errors.Is(err, errInterrupted) {
			return "", err
		}
		if err != nil && p == "" {
			return "", errors.New("-password-stdin: no password on standard input")
		}
		return p, nil
	}
	if _, ok := c.terminal(); !ok {
		return "", errors.New("standard input is not a terminal to type a password on: give -password-stdin")
	}
	fmt.Fprint(c.stderr, "New password: ")
	first, err := c.askHidden()
	if err != nil {
		return "", err
	}
	fmt.Fprint(c.stderr, "Repeat it: ")
	second, err := c.askHidden()
	if err != nil {
		return "", err
	}
	if first != second {
		return "", errors.New("the passwords do not match; nothing changed")
	}
	return first, nil
}

// askHidden reads a line typed without echo and ends the prompt's line
// (the Enter typed was not echoed either).
func (c *userCmd) askHidden() (string, error) {
	line, err := c.ask(true)
	if errors.Is(err, errInterrupted) {
		return "", err // its line ended already
	}
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return line, nil
}

// errInterrupted ends a command whose prompt was interrupted.
var errInterrupted = errors.New("interrupted")

// ask reads the answer to the command's prompt (askLine).
func (c *userCmd) ask(hidden bool) (string, error) {
	return askLine(c.ctx, c.stdin, c.stderr, hidden)
}

// askLine reads the answer to a prompt: a line of stdin, without echo when
// hidden (stdin is then a terminal). It returns at once, with
// errInterrupted, when the command is interrupted while it waits: by ctx
// (Ctrl-C and SIGTERM, through main's signal.NotifyContext) or, on a
// terminal, by Ctrl-\ (SIGQUIT, caught only while a prompt waits, since its
// default action would kill the process with echo still off). The terminal
// is then as it was before the prompt, the prompt's line is ended on
// stderr, and the read, which cannot be cancelled, is left to end with the
// process, which ends next.
func askLine(ctx context.Context, stdin io.Reader, stderr io.Writer, hidden bool) (string, error) {
	fd, onTerminal := terminalFD(stdin)
	var quit chan os.Signal
	if onTerminal {
		// Caught before echo goes off, so that it cannot come in between.
		quit = make(chan os.Signal, 1)
		signal.Notify(quit, syscall.SIGQUIT)
		defer signal.Stop(quit)
	}
	interrupted := func() (string, error) {
		fmt.Fprintln(stderr)
		return "", errInterrupted
	}
	if ctx.Err() != nil {
		return interrupted()
	}
	read := func() (string, error) { return readLine(stdin) }
	if hidden {
		restore, err := echoOff(fd)
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			// No termios here: term.ReadPassword turns echo off itself,
			// in the goroutine, and the state is restored from here.
			state, err := term.GetState(fd)
			if err != nil {
				return "", err
			}
			defer term.Restore(fd, state)
			read = func() (string, error) {
				p, err := term.ReadPassword(fd)
				return string(p), err
			}
		case err != nil:
			return "", err
		default:
			defer restore()
		}
	}
	type answer struct {
		line string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		line, err := read()
		answered <- answer{line, err}
	}()
	select {
	case a := <-answered:
		return a.line, a.err
	case <-ctx.Done():
	case <-quit:
	}
	return interrupted()
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
