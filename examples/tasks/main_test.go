package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// patience bounds each wait for an event below: only a hang takes this
// long, however busy the machine.
const patience = 2 * time.Minute

// TestRun: the program migrates a new SQLite database, serves both route
// sets, and stops cleanly when its context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	var logs lines
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, filepath.Join(t.TempDir(), "tasks.db"), "127.0.0.1:0", false, slog.New(slog.NewJSONHandler(&logs, nil)))
	}()
	var addr string
	require.Eventually(t, func() bool {
		for _, l := range logs.all() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	}, patience, 10*time.Millisecond, "listening: %v", logs.all())

	for path, status := range map[string]int{"/tasks": http.StatusUnauthorized, "/auth/": http.StatusOK} {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, status, resp.StatusCode, path)
	}
	// Housekeeping purges once at start, in its own goroutine: wait for
	// it rather than assume it beat the requests above.
	require.Eventually(t, func() bool {
		return strings.Contains(strings.Join(logs.all(), ""), `"msg":"housekeeping"`)
	}, patience, 10*time.Millisecond, "housekeeping ran: %v", logs.all())
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(patience):
		t.Fatal("run did not return")
	}
	assert.Contains(t, strings.Join(logs.all(), ""), `"msg":"stopped"`)
}

// lines is a log destination safe for the server's goroutines and the
// test's.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (w *lines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.l = append(w.l, string(p))
	return len(p), nil
}

func (w *lines) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.l...)
}
