package authhttp

import (
	"context"
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadOpenAPI loads and validates the embedded description as OpenAPI 3.1.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPIDocument())
	require.NoError(t, err)
	require.True(t, doc.IsOpenAPI31OrLater(), "version %s", doc.OpenAPI)
	require.NoError(t, doc.Validate(context.Background()))
	return doc
}

// TestOpenAPIDocumentValid: the description loads and validates.
func TestOpenAPIDocumentValid(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			assert.NotEmpty(t, op.OperationID, "%s %s", method, path)
			assert.NotNil(t, op.Responses.Default(), "%s %s: a default error reply", method, path)
			assert.NotNil(t, op.Responses.Status(503), "%s %s: 503 under load", method, path)
			assert.NotNil(t, op.Security, "%s %s: security stated", method, path)
		}
	}
}

// TestOpenAPIRouteParity fails when a route is served without its
// description, or described without being served, or when a route's
// security differs from its access.
func TestOpenAPIRouteParity(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	var described []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described = append(described, method+" "+path)
		}
	}
	var served []string
	for _, rt := range v1Routes {
		served = append(served, rt.method+" "+rt.path)
		op := doc.Paths.Find(rt.path)
		if op == nil || op.GetOperation(rt.method) == nil {
			continue // reported below
		}
		sec := *op.GetOperation(rt.method).Security
		if rt.access == accessPublic {
			assert.Empty(t, sec, "%s %s is public", rt.method, rt.path)
		} else {
			assert.Len(t, sec, 2, "%s %s: cookie or bearer", rt.method, rt.path)
			_, has401 := op.GetOperation(rt.method).Responses.Map()["401"]
			assert.True(t, has401, "%s %s: 401 without a session", rt.method, rt.path)
		}
		if rt.access == accessAdmin {
			_, has403 := op.GetOperation(rt.method).Responses.Map()["403"]
			assert.True(t, has403, "%s %s: 403 for a non-administrator", rt.method, rt.path)
		}
	}
	sort.Strings(described)
	sort.Strings(served)
	assert.Equal(t, served, described, "served routes (v1Routes) and described operations differ")
}
