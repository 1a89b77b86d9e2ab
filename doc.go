// Package credstore is the root of the credstore module, which keeps user
// credentials safe and runs the authentication a Go backend needs.
//
// The module is laid out as sqlc's examples are:
//
//   - schema/  hand-written DDL, as numbered migrations per engine
//   - queries/ hand-written SQL queries
//   - db/      Go accessors that sqlc generates from the two (never edit)
//   - auth/    the package to import: register, log in, manage users
//
// Import github.com/credstore/credstore/auth; this package holds only the
// black-box tests of the public API.
package credstore
