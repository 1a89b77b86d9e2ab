package authhttp

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/testdb"
)

func TestPanicBecomesJSON500(t *testing.T) {
	t.Parallel()
	log := &testdb.Buffer{}
	a := &Handler{log: slog.New(slog.NewJSONHandler(log, nil)), opts: Options{Now: time.Now}}
	h := a.accessLog(a.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("internal detail: table users is on fire")
	})))
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/boom")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, map[string]any{"message": "internal server error"}, body, "no internals in the reply")
	assert.Contains(t, log.String(), "table users is on fire", "the panic is logged for the operator")
	assert.Contains(t, log.String(), `"status":500`, "and the access log shows the 500")
}
