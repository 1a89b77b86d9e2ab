package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logFlushInterval is the longest a line of the service's log waits in
// its buffer.
const logFlushInterval = 100 * time.Millisecond

// bufferedLog batches the service's log lines into few writes: one line
// per request, each its own write(2), was the largest cost of an
// authenticated request after the session cache removed its database
// read (the access log is what a reverse proxy buffers too). A line
// waits at most logFlushInterval; a warning or an error is written at
// once, with everything before it (see flushOnWarn); Close writes the
// rest. A write error is kept and reported by Close.
type bufferedLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	err  error
	stop chan struct{}
	done chan struct{}
}

func newBufferedLog(w io.Writer) *bufferedLog {
	b := &bufferedLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(logFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.Flush()
			}
		}
	}()
	return b
}

func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err != nil && b.err == nil {
		b.err = err
	}
	return n, err
}

// Flush writes what the buffer holds.
func (b *bufferedLog) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.w.Flush(); err != nil && b.err == nil {
		b.err = err
	}
}

// Close stops the flushing and writes the rest; it returns the first
// write error, if any.
func (b *bufferedLog) Close() error {
	close(b.stop)
	<-b.done
	b.Flush()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// flushOnWarn is a slog.Handler that writes the buffer out after every
// record at level Warn or above, so that a problem is in the log at once.
type flushOnWarn struct {
	slog.Handler
	buf *bufferedLog
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.buf.Flush()
	}
	return err
}

func (h flushOnWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnWarn{h.Handler.WithAttrs(attrs), h.buf}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{h.Handler.WithGroup(name), h.buf}
}
