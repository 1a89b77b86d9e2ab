package authhttp

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRouteTable checks what the one table promises of every row, so that
// a new route cannot forget it: a pattern served once per surface, an
// action, a per-IP limit on every anonymous route that changes state
// (each costs bcrypt work, an account or a reset message), a body only
// where the method carries one, and the second factor read only with a
// session. v1Routes is the table's API v1.
func TestRouteTable(t *testing.T) {
	t.Parallel()
	seen := map[dialect]map[string]bool{holberton: {}, apiV1: {}}
	var v1 []string
	for _, rt := range routes {
		pattern := rt.method + " " + rt.path
		assert.False(t, seen[rt.dialect][pattern], "%s served twice", pattern)
		seen[rt.dialect][pattern] = true
		assert.NotNil(t, rt.handle, pattern)
		if rt.access == accessPublic && unsafeMethod(rt.method) {
			assert.NotEqual(t, noLimit, rt.limit, "%s: anonymous and changes state, but has no per-IP limit", pattern)
		}
		if rt.method == "GET" {
			assert.Equal(t, noBody, rt.body.kind, "%s reads no body", pattern)
		}
		if rt.twoFactor {
			assert.NotEqual(t, accessPublic, rt.access, "%s: the second factor of which session?", pattern)
		}
		if rt.dialect == apiV1 {
			v1 = append(v1, pattern)
		}
	}
	var listed []string
	for _, rt := range v1Routes {
		listed = append(listed, rt.method+" "+rt.path)
	}
	assert.Equal(t, v1, listed)
	assert.Len(t, seen[holberton], 13, "the Holberton contract's routes (New)")
}
