// Package task stores tasks, each owned by one of credstore's users, in the
// application's own table beside credstore's (schema/, compiled by sqlc
// into package db).
//
// Every method takes the owner's user id, which a handler reads from the
// authenticated session (authhttp.CurrentUser), never from the request, and
// every query is scoped by it: a task of another owner is ErrNotFound, the
// same error as a task that does not exist, whatever id is asked for.
//
// Errors reuse credstore's, so that authhttp.WriteError answers them from
// its one table: invalid input is a *auth.ValidationError (400, by field),
// a missing task ErrNotFound, which matches auth.ErrNotFound (404).
//
// Regenerate package db after editing schema/ or queries/ (see README.md):
//
//	sqlc generate && sqlc vet && go test ./...
package task
