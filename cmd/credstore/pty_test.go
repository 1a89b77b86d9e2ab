//go:build linux

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// terminalRun is the binary running on a pseudo-terminal, and everything
// it wrote to it.
type terminalRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

func startOnTerminal(t *testing.T, bin string, args ...string) *terminalRun {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	ptmx, err := pty.Start(cmd)
	require.NoError(t, err)
	r := &terminalRun{t: t, cmd: cmd, ptmx: ptmx, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 1024)
		for {
			n, err := ptmx.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			if err != nil { // EIO once the program has exited
				return
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); ptmx.Close() })
	return r
}

func (r *terminalRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitFor waits until the program has written s.
func (r *terminalRun) waitFor(s string) {
	r.t.Helper()
	deadline := time.Now().Add(testdb.Patience)
	for !strings.Contains(r.output(), s) {
		if time.Now().After(deadline) {
			r.t.Fatalf("waiting for %q; the terminal shows %q", s, r.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// typeHidden types line once the terminal has stopped echoing: written
// earlier, the terminal itself would echo it, whatever the program does,
// so the test waits for the program to turn echo off rather than sleep.
func (r *terminalRun) typeHidden(line string) {
	r.t.Helper()
	r.waitEchoOff()
	_, err := r.ptmx.WriteString(line + "\n")
	require.NoError(r.t, err)
}

func (r *terminalRun) typeLine(line string) {
	r.t.Helper()
	_, err := r.ptmx.WriteString(line + "\n")
	require.NoError(r.t, err)
}

// wait returns the exit status.
func (r *terminalRun) wait() int {
	r.t.Helper()
	err := r.cmd.Wait()
	<-r.done
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	require.NoError(r.t, err)
	return 0
}

// TestPasswordPromptOnTerminal runs the real binary on a pseudo-terminal:
// the password is typed twice without echo, a mismatch is refused, and an
// admin grant is confirmed by typing y.
func TestPasswordPromptOnTerminal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "credstore")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	dsn := filepath.Join(dir, "credstore.db")
	common := []string{"-db", dsn, "-log-file", filepath.Join(dir, "users.log")}

	const first, second = "first secret 123", "second secret 456"
	r := startOnTerminal(t, bin, append([]string{"users", "create", "-email", "bob@example.com"}, common...)...)
	r.waitFor("New password: ")
	r.typeHidden(first)
	r.waitFor("Repeat it: ")
	r.typeHidden(second)
	assert.Equal(t, 1, r.wait())
	shown := r.output()
	assert.Contains(t, shown, "the passwords do not match")
	assert.NotContains(t, shown, first, "no echo")
	assert.NotContains(t, shown, second, "no echo")

	const password = "a good password 2026"
	r = startOnTerminal(t, bin, append([]string{"users", "create", "-email", "bob@example.com", "-admin"}, common...)...)
	r.waitFor("New password: ")
	r.typeHidden(password)
	r.waitFor("Repeat it: ")
	r.typeHidden(password)
	r.waitFor("Create bob@example.com as an administrator? [y/N] ")
	r.typeLine("y")
	require.Equal(t, 0, r.wait(), r.output())
	shown = r.output()
	assert.NotContains(t, shown, password, "no echo")
	assert.Regexp(t, `admin:\s+yes`, shown)

	store, err := auth.Open(context.Background(), dsn, auth.Config{})
	require.NoError(t, err)
	defer store.Close()
	u, err := store.Login(context.Background(), "bob@example.com", password)
	require.NoError(t, err, "the password typed is the one set")
	assert.True(t, u.IsAdmin)

	// Answering anything but y leaves the user in place.
	r = startOnTerminal(t, bin, append([]string{"users", "delete", "-id", "1", "-backup-dir", filepath.Join(dir, "b")}, common...)...)
	r.waitFor("[y/N] ")
	r.typeLine("n")
	assert.Equal(t, 1, r.wait())
	_, err = store.User(context.Background(), u.ID)
	assert.NoError(t, err)
}

// startHoldingTerminal is startOnTerminal with the test holding the
// terminal's own end open as well, so that the state the program leaves it
// in outlives the program (Linux resets a pseudo-terminal once its last
// user closes it) and holding returns it for the test to read. The output
// is read until the test ends rather than until the program exits.
func startHoldingTerminal(t *testing.T, bin string, args ...string) (r *terminalRun, tty *os.File) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	require.NoError(t, cmd.Start())
	r = &terminalRun{t: t, cmd: cmd, ptmx: ptmx, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 1024)
		for {
			n, err := ptmx.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); tty.Close(); ptmx.Close() })
	return r, tty
}

// waitEchoOff waits until the program has turned the terminal's echo off.
func (r *terminalRun) waitEchoOff() {
	r.t.Helper()
	deadline := time.Now().Add(testdb.Patience)
	for !r.echoOff() {
		if time.Now().After(deadline) {
			r.t.Fatal("the terminal still echoes at the password prompt")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *terminalRun) echoOff() bool {
	tio, err := unix.IoctlGetTermios(int(r.ptmx.Fd()), unix.TCGETS)
	require.NoError(r.t, err)
	return tio.Lflag&unix.ECHO == 0
}

// exited waits for the program to exit and returns its status; it fails
// the test when the program is still running after testdb.Patience.
func (r *terminalRun) exited() int {
	r.t.Helper()
	waited := make(chan error, 1)
	go func() { waited <- r.cmd.Wait() }()
	select {
	case err := <-waited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		require.NoError(r.t, err)
		return 0
	case <-time.After(testdb.Patience):
		r.t.Fatalf("still running after the interrupt; the terminal shows %q", r.output())
		return -1
	}
}

// TestInterruptAtPrompt: Ctrl-C or Ctrl-\ at the hidden password prompt or
// at a [y/N] question ends the command at once, with status 1, changing
// nothing, and leaves the terminal echoing.
func TestInterruptAtPrompt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "credstore")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	dsn := filepath.Join(dir, "credstore.db")
	common := []string{"-db", dsn, "-log-file", filepath.Join(dir, "users.log")}
	create := exec.Command(bin, append([]string{"users", "create", "-email", "ann@example.com", "-password-stdin"}, common...)...)
	create.Stdin = strings.NewReader("a good password 2026\n")
	out, err = create.CombinedOutput()
	require.NoError(t, err, "%s", out)

	for _, tc := range []struct {
		name   string
		prompt string
		args   []string
	}{
		{"password", "New password: ", []string{"users", "create", "-email", "bob@example.com"}},
		{"repeat", "Repeat it: ", []string{"users", "create", "-email", "bob@example.com"}},
		{"confirm", "[y/N] ", []string{"users", "delete", "-id", "1", "-backup-dir", filepath.Join(dir, "b")}},
	} {
		for _, key := range []struct{ name, b string }{{"ctrl-c", "\x03"}, {"ctrl-backslash", "\x1c"}} {
			t.Run(tc.name+"/"+key.name, func(t *testing.T) {
				r, _ := startHoldingTerminal(t, bin, append(tc.args, common...)...)
				if tc.name == "repeat" {
					r.waitFor("New password: ")
					r.typeHidden("a good password 2027")
				}
				r.waitFor(tc.prompt)
				if tc.name != "confirm" {
					r.waitEchoOff()
				}
				_, err := r.ptmx.WriteString(key.b)
				require.NoError(t, err)
				assert.Equal(t, 1, r.exited())
				r.waitFor("interrupted")
				assert.False(t, r.echoOff(), "the terminal echoes again")
			})
		}
	}
	store, err := auth.Open(context.Background(), dsn, auth.Config{})
	require.NoError(t, err)
	defer store.Close()
	users, err := store.ListUsers(context.Background(), auth.ListOptions{Limit: 10})
	require.NoError(t, err)
	require.Len(t, users, 1, "nothing created, nothing deleted")
	assert.Equal(t, "ann@example.com", users[0].Email)
}
