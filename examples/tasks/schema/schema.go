// Package schema embeds the application's migrations, handed to credstore
// as auth.Config.AppMigrations: credstore applies them after its own, on a
// version track of their own (app_schema_migrations).
//
// Each engine has its own directory of numbered pairs, NNNN_name.up.sql and
// NNNN_name.down.sql. sqlc reads the same directories as its schema (it
// skips the .down.sql files), so the DDL that types the queries is the DDL
// applied on open.
package schema

import "embed"

// FS holds the migrations under sqlite/ and postgres/, the layout
// auth.Config.AppMigrations expects.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
