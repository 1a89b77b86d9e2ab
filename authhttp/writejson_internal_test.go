package authhttp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteJSONAsMarshal: a reply written from a pooled buffer is what
// json.Marshal gives and a newline, HTML escaping included, whatever the
// buffer held before (a large reply, then a small one) and whichever
// buffer the pool hands out; a value that cannot be encoded is a 500 that
// carries none of it.
func TestWriteJSONAsMarshal(t *testing.T) {
	values := []any{
		V1ErrorBody{Error: V1Error{Code: CodeMethodNotAllowed, Message: "method not allowed"}},
		map[string]string{"html": "<script>&</script>", "long": strings.Repeat("x", 2*maxPooledJSON)},
		ErrorBody{Message: "é\u2028"},
		[]int{1, 2, 3},
	}
	for range 3 {
		for _, v := range values {
			want, err := json.Marshal(v)
			require.NoError(t, err)
			w := httptest.NewRecorder()
			writeJSON(w, http.StatusTeapot, v)
			assert.Equal(t, http.StatusTeapot, w.Code)
			assert.Equal(t, string(want)+"\n", w.Body.String())
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		}
	}

	w := httptest.NewRecorder()
	writeJSON(w, http.StatusOK, map[string]any{"secret": "s3cret", "bad": make(chan int)})
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.Equal(t, `{"message":"internal server error"}`+"\n", w.Body.String())
}
