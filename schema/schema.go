// Package schema embeds the hand-written migrations of every engine.
//
// Each engine has its own directory of numbered pairs, NNNN_name.up.sql and
// NNNN_name.down.sql. sqlc reads the same directory as its schema (it skips the
// .down.sql files), so the DDL that types the queries is the DDL applied on
// open.
package schema

import "embed"

// FS holds the migrations, under sqlite/ and postgres/ (the directory is
// named after the engine, database.SQLite and database.Postgres).
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
