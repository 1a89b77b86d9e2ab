package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/testdb"
)

// TestBufferedLog: an info line is written within logFlushInterval, a
// warning at once with what came before it, and Close writes the rest.
func TestBufferedLog(t *testing.T) {
	out := &testdb.Buffer{}
	buf := newBufferedLog(out)
	log := slog.New(flushOnWarn{slog.NewJSONHandler(buf, nil), buf})

	log.Info("request", "path", "/a")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), `"path":"/a"`) },
		testdb.Patience, time.Millisecond, "an info line is written within the interval")

	log.Info("request", "path", "/b")
	log.With("k", "v").Warn("trouble")
	s := out.String()
	assert.Contains(t, s, `"path":"/b"`, "written with the warning that followed it")
	assert.Contains(t, s, `"msg":"trouble"`, "a warning is written at once")
	assert.Contains(t, s, `"k":"v"`)

	log.Info("request", "path", "/c")
	require.NoError(t, buf.Close())
	assert.Contains(t, out.String(), `"path":"/c"`, "Close writes the rest")
}
