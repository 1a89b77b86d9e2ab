package authhttp

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 description of the API v1, served at
// GET /openapi.json. Its paths and methods are those of v1Routes: a test
// fails when the two differ.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 description of the API v1 (JSON),
// as GET /openapi.json serves it. Its server URL is /api/v1, where
// credstore serve mounts the API.
func OpenAPIDocument() []byte { return append([]byte(nil), openAPIDocument...) }

// V1 returns the JSON API v1 (see docs/service.md, "API v1", and
// OpenAPIDocument), relative to where it is mounted:
//
//	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", h.V1()))
//
// It shares the Handler's options, session cookie, per-IP limits and
// middleware (client, access log, panics, deadline). Every reply is JSON
// but the QR code; every error is {"error": {"code", "message",
// "fields"}} (V1ErrorBody), with the codes of ErrorReplyFor, unknown
// paths and methods included.
//
// A request is authenticated by an "Authorization: Bearer <session token>"
// header or by the session cookie, as Authenticate does. Every request
// with an unsafe method (POST, PUT, PATCH, DELETE) that does not carry a
// bearer token is refused 403 cross_origin when it is a cross-origin
// browser request (http.CrossOriginProtection, with
// Options.TrustedOrigins): a cookie-authenticated one could be forged, and
// an anonymous one (a login, a registration) could log the visitor in as
// someone else.
func (h *Handler) V1() http.Handler { return h.v1 }

// v1OpenAPI serves OpenAPIDocument, as it is: JSON, but not of
// writeJSON.
func (h *Handler) v1OpenAPI(w http.ResponseWriter, _ *http.Request, _ form) error {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPIDocument)
	return nil
}
