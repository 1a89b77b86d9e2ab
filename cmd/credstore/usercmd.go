package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/credstore/credstore/auth"
)

// The flag groups a users subcommand takes beside -db and -key-file.
const (
	withLog      = 1 << iota // -log-file: the command changes something
	withBackup               // -backup-dir, -no-backup: it destroys something
	withConfirm              // -yes: it asks first
	withPassword             // -password-stdin, -policy, -bcrypt-cost, -password-hash
)

// userOpts are the flags the users subcommands share.
type userOpts struct {
	db, keyFile, logFile, backupDir, policy string
	passwordHash                            string
	bcryptCost, backupKeep                  int
	yes, noBackup, passwordStdin            bool
}

// userCmd is one run of a users subcommand: its flags, its input and
// output, and once opened the store and the management log.
type userCmd struct {
	name   string // "users create"
	ctx    context.Context
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	fs     *flag.FlagSet
	o      userOpts
	envErr error

	// args is how many arguments follow the flags (users import FILE).
	args int

	store *auth.Store
	log   *slog.Logger // nil for the commands that change nothing
	logF  *logFile
	// logWarned: the log's write error was reported once already.
	logWarned bool
	osUser    string
}

// allowLowBcryptCost lets tests hash at cost 4; nothing else sets it.
var allowLowBcryptCost bool

func newUserCmd(ctx context.Context, name, usage string, groups int, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) *userCmd {
	c := &userCmd{name: "users " + name, ctx: ctx, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("credstore users "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage+"\nflags:\n"); fs.PrintDefaults() }
	c.fs = fs
	fs.StringVar(&c.o.db, "db", envOr(getenv, "CREDSTORE_DB", "credstore.db"), "SQLite path or file: URI, or postgres:// URL (env CREDSTORE_DB)")
	fs.StringVar(&c.o.keyFile, "key-file", getenv("CREDSTORE_KEY_FILE"), "`file` of the TOTP keys, as serve reads it; default: for SQLite <db path>.keys when it exists (env CREDSTORE_KEY_FILE)")
	if groups&withLog != 0 {
		fs.StringVar(&c.o.logFile, "log-file", envOr(getenv, "CREDSTORE_USERS_LOG", filepath.Join("logs", "user_management.log")), "`file` the change is recorded in as a JSON line, mode 0600, its directory created (env CREDSTORE_USERS_LOG)")
	}
	if groups&withBackup != 0 {
		fs.StringVar(&c.o.backupDir, "backup-dir", envOr(getenv, "CREDSTORE_BACKUP_DIR", "backups"), "`directory` of the SQLite backup taken before the change (env CREDSTORE_BACKUP_DIR)")
		fs.BoolVar(&c.o.noBackup, "no-backup", false, "change without a backup first (after taking one yourself, when the command could not)")
		keep := defaultBackupKeep
		if v := getenv("CREDSTORE_BACKUP_KEEP"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				c.envErr = fmt.Errorf("CREDSTORE_BACKUP_KEEP=%q: not a whole number of at least 0", v)
			}
			keep = n
		}
		fs.IntVar(&c.o.backupKeep, "backup-keep", keep, "how many backups the -backup-dir keeps: the oldest beyond the newest `N` are deleted after each new one; 0 keeps every one (env CREDSTORE_BACKUP_KEEP)")
	}
	if groups&withConfirm != 0 {
		fs.BoolVar(&c.o.yes, "yes", false, "do not ask for confirmation (needed when standard input is not a terminal)")
	}
	if groups&withPassword != 0 {
		fs.BoolVar(&c.o.passwordStdin, "password-stdin", false, "read the password from the first line of standard input instead of prompting")
		fs.StringVar(&c.o.policy, "policy", envOr(getenv, "CREDSTORE_USERS_POLICY", "long"), "password and username `rules`, comma-separated presets: default (passwords of 8+ characters), long (12+ characters mixing letters and digits), alnum (usernames of letters, digits and _ only) (env CREDSTORE_USERS_POLICY)")
		cost := auth.DefaultBcryptCost
		if v := getenv("CREDSTORE_BCRYPT_COST"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				c.envErr = fmt.Errorf("CREDSTORE_BCRYPT_COST=%q: not an integer", v)
			}
			cost = n
		}
		fs.IntVar(&c.o.bcryptCost, "bcrypt-cost", cost, "bcrypt cost of the new password hash, 12 to 31 (env CREDSTORE_BCRYPT_COST)")
		parse := passwordHash(&c.o.passwordHash)
		if v := getenv("CREDSTORE_PASSWORD_HASH"); v != "" {
			if err := parse(v); err != nil {
				c.envErr = fmt.Errorf("CREDSTORE_PASSWORD_HASH: %w", err)
			}
		}
		fs.Func("password-hash", "`algorithm` of new password hashes: bcrypt or argon2id (env CREDSTORE_PASSWORD_HASH)", parse)
	}
	return c
}

// parse reads args; a non-zero code is the exit status to return at once.
func (c *userCmd) parse(args []string) int {
	if c.envErr != nil {
		fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, c.envErr)
		return 2
	}
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return -1
		}
		return 2
	}
	if c.fs.NArg() > c.args {
		return c.usageError(fmt.Sprintf("unexpected argument %q", c.fs.Arg(c.args)))
	}
	if c.fs.NArg() < c.args {
		return c.usageError("missing argument")
	}
	if c.o.policy != "" {
		if _, err := policyOf(c.o.policy); err != nil {
			return c.usageError(err.Error())
		}
	}
	if c.o.backupKeep < 0 {
		return c.usageError("-backup-keep must be at least 0")
	}
	return 0
}

func (c *userCmd) usageError(msg string) int {
	fmt.Fprintf(c.stderr, "credstore %s: %s (see -h)\n", c.name, msg)
	return 2
}

// given reports which flags the command line set.
func (c *userCmd) given() map[string]bool {
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// policyOf reads -policy: presets applied to auth.DefaultPolicy, with the
// username optional as serve has it (the API registers by email).
func policyOf(v string) (auth.Policy, error) {
	p := auth.DefaultPolicy()
	p.RequireUsername = false
	for name := range strings.SplitSeq(v, ",") {
		switch strings.TrimSpace(name) {
		case "default", "":
		case "long":
			p = p.WithLongPasswords()
		case "alnum":
			p = p.WithAlnumUsernames()
		default:
			return p, fmt.Errorf("-policy: unknown preset %q: want default, long or alnum", name)
		}
	}
	return p, nil
}

// open opens the store serve uses, with the key file serve reads when
// there is one (it is never created here), and for a command that changes
// something, the management log and the OS user its changes are recorded
// under. A command that changes nothing (logged false) opens the database
// as it is (auth.OpenExisting): it never creates or migrates it, and
// refuses one whose schema is not this build's. It prints its error; false
// means exit 1.
func (c *userCmd) open(logged bool) bool {
	cfg := auth.Config{
		BcryptCost: c.o.bcryptCost, InsecureAllowLowBcryptCostForTesting: allowLowBcryptCost,
		PasswordHash: c.o.passwordHash, InsecureAllowLowArgon2ParamsForTesting: allowLowBcryptCost,
	}
	if c.o.policy != "" {
		p, _ := policyOf(c.o.policy) // checked by parse
		cfg.Policy = &p
	}
	sc := serveConfig{DB: c.o.db, KeyFile: c.o.keyFile}
	if path := sc.keyFile(); path != "" {
		if _, err := os.Stat(path); err == nil || c.o.keyFile != "" {
			keys, err := loadKeys(sc, slog.New(slog.NewTextHandler(c.stderr, nil)), time.Now(), rand.Reader)
			if err != nil {
				fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, err)
				return false
			}
			cfg.SecretKeys = keys
		}
	}
	if logged {
		c.osUser = osUserName(c.getenv)
		l, f, err := openManagementLog(c.o.logFile)
		if err != nil {
			fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, err)
			return false
		}
		c.log, c.logF = l, f
	}
	openStore := auth.Open
	if !logged {
		openStore = auth.OpenExisting
	}
	store, err := openStore(c.ctx, c.o.db, cfg)
	if err != nil {
		fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, err)
		return false
	}
	c.store = store
	return true
}

// actx is the context of a change: the OS user is its actor, whom auth
// records in the change's audit event, in the same transaction.
func (c *userCmd) actx() context.Context {
	return auth.WithActor(c.ctx, auth.Actor{Kind: auth.ActorOS, Name: c.osUser})
}

func (c *userCmd) close() {
	if c.store != nil {
		c.store.Close()
	}
	if c.logF != nil {
		if err := c.logF.Close(); err != nil && !c.logWarned {
			fmt.Fprintf(c.stderr, "credstore %s: warning: the management log %s: %v\n", c.name, c.o.logFile, err)
		}
	}
}

// osUserName is the operating-system user running the command, or $USER
// when the system cannot say.
func osUserName(getenv func(string) string) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if v := getenv("USER"); v != "" {
		return v
	}
	return "unknown"
}

// fail prints err as one line per problem, naming the field, records the
// failure and returns 1.
func (c *userCmd) fail(id int64, fields []string, err error) int {
	var v *auth.ValidationError
	var d *auth.DuplicateError
	switch {
	case errors.As(err, &v):
		names := make([]string, 0, len(v.Fields))
		for name := range v.Fields {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(c.stderr, "credstore %s: invalid %s: %s\n", c.name, fieldName(name), v.Fields[name])
		}
	case errors.As(err, &d):
		fmt.Fprintf(c.stderr, "credstore %s: %s already belongs to another user\n", c.name, d.Field)
	case errors.Is(err, auth.ErrNotFound):
		fmt.Fprintf(c.stderr, "credstore %s: no such user\n", c.name)
	default:
		fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, err)
	}
	c.record(id, fields, "failed", err, "")
	return 1
}

// fieldName is how an error names auth's field: as the flag that sets it.
func fieldName(f string) string {
	if f == auth.FieldNewPassword {
		return auth.FieldPassword
	}
	return f
}

// errRefused is a change the operator did not confirm.
var errRefused = errors.New("not confirmed")

// refuse reports a change that was not confirmed, records it and returns 1.
func (c *userCmd) refuse(id int64, fields []string, err error) int {
	fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, err)
	c.record(id, fields, "refused", nil, "")
	return 1
}

// backupFirst takes the backup a destructive change needs, unless
// -no-backup, and prints its path. It prints its error; false means exit 1.
func (c *userCmd) backupFirst(id int64, fields []string) (string, bool) {
	if c.o.noBackup {
		fmt.Fprintf(c.stderr, "credstore %s: no backup taken (-no-backup)\n", c.name)
		return "", true
	}
	file, err := preChangeBackup(c.ctx, c.o.db, c.o.backupDir, time.Now())
	if err != nil {
		fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, err)
		c.record(id, fields, "failed", err, "")
		return "", false
	}
	fmt.Fprintf(c.stdout, "backup written to %s\n", file)
	// Rotation: a failure to delete an old backup does not undo the new
	// one, nor stop the change.
	removed, err := pruneBackups(c.o.backupDir, c.o.backupKeep, file)
	if len(removed) > 0 {
		fmt.Fprintf(c.stdout, "removed %d older backup(s) from %s, keeping the newest %d (-backup-keep)\n", len(removed), c.o.backupDir, c.o.backupKeep)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "credstore %s: warning: %v\n", c.name, err)
	}
	return file, true
}
