package auth

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatementsMapErrors: database errors reach the package's errors
// (mapError: no row is ErrNotFound, a unique violation a *DuplicateError)
// in two places no call site can skip: inTx maps whatever a transaction
// returns, and read maps a statement run outside one. This test holds the
// second by construction: outside a transaction (tx.q), no statement is
// called directly on the store's accessors (s.q); it is handed to read or
// read0 as a method value.
func TestStatementsMapErrors(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, name, src, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if recv, ok := sel.X.(*ast.SelectorExpr); ok && recv.Sel.Name == "q" {
				if owner, ok := recv.X.(*ast.Ident); ok && owner.Name != "tx" && sel.Sel.Name != "Close" {
					assert.Failf(t, "a statement skips read", "%s: %s.q.%s(...) is called directly; pass it to read or read0",
						fset.Position(call.Pos()), owner.Name, sel.Sel.Name)
				}
				checked++
			}
			if sel.Sel.Name == "queries" && len(call.Args) == 0 {
				assert.Failf(t, "a statement skips read", "%s: queries() hands out the accessors; use read or read0",
					fset.Position(call.Pos()))
			}
			return true
		})
	}
	assert.Greater(t, checked, 50, "the test found the package's statements")
}
