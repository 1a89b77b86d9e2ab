// Command credstore runs the credstore user-authentication service.
//
//	credstore serve [flags]
//	credstore audit [verify] [flags]
//	credstore users <subcommand> [flags]
//	credstore backup [flags] FILE
//	credstore migrate status|up|down [flags]
//	credstore keys rotate [flags]
//
// serve listens on 127.0.0.1:5000 and keeps its data in credstore.db in the
// working directory unless told otherwise; run "credstore serve -h" for the
// flags and their environment-variable twins.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage: credstore <command> [flags]

commands:
  serve    run the HTTP authentication service
  audit    print the audit trail, or verify its hash chain (audit verify)
  users    administer users from the server's shell: create, list, get,
           update, delete, sessions, revoke-sessions, remove-2fa, import, export
  backup   copy a SQLite database to a file (VACUUM INTO)
  migrate  show the schema version, apply migrations or roll them back
  keys     re-encrypt secrets under the key file's current key, new token-signing key (keys rotate)

Run "credstore <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runIO(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args with an empty standard input and
// returns the exit status. It takes its environment and output as arguments
// so that tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runIO(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}

// runIO is run with a standard input: the users commands read passwords
// and confirmations from it, and prompt only when it is a terminal.
func runIO(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return audit(ctx, args[1:], getenv, stdout, stderr)
	case "users":
		return users(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "backup":
		return backup(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "keys":
		return keysCmd(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "credstore: unknown command %q\n\n%s", args[0], usage)
	return 2
}
