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
	deadline := time.Now().Add(testdb.Patience)
	for {
		tio, err := unix.IoctlGetTermios(int(r.ptmx.Fd()), unix.TCGETS)
		require.NoError(r.t, err)
		if tio.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatal("the terminal still echoes at the password prompt")
		}
		time.Sleep(5 * time.Millisecond)
	}
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
