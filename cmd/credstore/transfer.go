package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/credstore/credstore/auth"
)

// exportedRecord is one line of "credstore users export", and what
// "credstore users import" reads (the fields it does not know, such as id
// and public_id, are ignored, so an export imports as it is).
type exportedRecord struct {
	ID           int64     `json:"id,omitempty"`
	PublicID     string    `json:"public_id,omitempty"`
	Username     string    `json:"username,omitempty"`
	Email        string    `json:"email"`
	Phone        string    `json:"phone,omitempty"`
	IsAdmin      bool      `json:"is_admin"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
	Password     string    `json:"password,omitempty"`
	PasswordHash string    `json:"password_hash,omitempty"`
}

// dbFlag is the -db flag every command shares with serve.
func dbFlag(fs *flag.FlagSet, getenv func(string) string) *string {
	return fs.String("db", envOr(getenv, "CREDSTORE_DB", "credstore.db"), "SQLite path or file: URI, or postgres:// URL (env CREDSTORE_DB)")
}

// usersExport writes every user as a JSON line: never a hash unless
// -with-hashes, and then never to a terminal, and to a file only if it is
// new (created 0600: it holds hashes).
func usersExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("credstore users export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := dbFlag(fs, getenv)
	withHashes := fs.Bool("with-hashes", false, "include each user's bcrypt hash (password_hash), to move users to another store; needs -o")
	out := fs.String("o", "", "write to this new `file` (mode 0600) instead of standard output")
	format := fs.String("format", "jsonl", "jsonl or csv")
	if err := fs.Parse(args); err != nil {
		return usageStatus(err)
	}
	if *format != "jsonl" && *format != "csv" {
		fmt.Fprintf(stderr, "credstore users export: -format %q: want jsonl or csv\n", *format)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "credstore users export: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *withHashes && *out == "" {
		fmt.Fprintln(stderr, "credstore users export: -with-hashes writes password hashes: give a file with -o (created 0600)")
		return 2
	}
	store, err := auth.Open(ctx, *dsn, auth.Config{})
	if err != nil {
		fmt.Fprintf(stderr, "credstore users export: %v\n", err)
		return 1
	}
	defer store.Close()
	w := stdout
	var f *os.File
	if *out != "" {
		if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			fmt.Fprintf(stderr, "credstore users export: %v\n", err)
			return 1
		}
		w = f
	}
	bw := bufio.NewWriter(w)
	write := jsonLinesWriter(bw)
	if *format == "csv" {
		write = csvWriter(bw, *withHashes)
	}
	n := 0
	err = store.ExportUsers(ctx, *withHashes, func(u auth.ExportedUser) error {
		n++
		return write(exportedRecord{
			ID: u.ID, PublicID: u.PublicID, Username: u.Username, Email: u.Email, Phone: u.Phone, IsAdmin: u.IsAdmin,
			CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, PasswordHash: u.PasswordHash,
		})
	})
	if n == 0 && *format == "csv" {
		err = errors.Join(err, write(exportedRecord{})) // the header alone
	}
	err = errors.Join(err, bw.Flush())
	if f != nil {
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintf(stderr, "credstore users export: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "exported %d users\n", n)
	return 0
}

const usersImportUsage = `usage: credstore users import [flags] FILE

Registers the users of FILE (JSON lines, or CSV with a header row naming\nthe columns as the JSON fields; - for standard input), each with
its plaintext password (checked by -policy and hashed on every core) or its
bcrypt hash (kept). Valid lines are committed in batches; every rejected
line is reported with its number and reason. Exit status 1 when any line
was rejected. With SQLite the database is backed up first (-backup-dir).
`

// usersImport reads users as JSON lines from a file ("-" for standard
// input) and registers the valid ones, each with its plaintext password
// (validated and hashed) or its bcrypt hash (kept). Rejected lines are
// reported with their number and reason; the exit status is 1 when any was.
// Like every change of the users commands it is recorded in the
// management log and, with SQLite, takes a backup first.
func usersImport(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "import", usersImportUsage, withLog|withBackup|withPassword, getenv, stdin, stdout, stderr)
	c.args = 1
	// Imported accounts are the API's users: its policy, not the admin
	// tool's stricter default.
	if getenv("CREDSTORE_USERS_POLICY") == "" {
		p := c.fs.Lookup("policy")
		p.DefValue = "default"
		_ = p.Value.Set("default")
	}
	dryRun := c.fs.Bool("dry-run", false, "validate every line and report, writing nothing")
	format := c.fs.String("format", "", "jsonl or csv (default: csv for a FILE ending in .csv, else jsonl)")
	if code := c.parse(args); code != 0 {
		return max(code, 0)
	}
	if *format != "" && *format != "jsonl" && *format != "csv" {
		return c.usageError(fmt.Sprintf("-format %q: want jsonl or csv", *format))
	}
	rows, rejected, err := readImportFile(c.fs.Arg(0), *format, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "credstore users import: %v\n", err)
		return 1
	}
	if !c.open(!*dryRun) {
		return 1
	}
	defer c.close()
	var backup string
	if !*dryRun {
		var ok bool
		if backup, ok = c.backupFirst(0, []string{"users"}); !ok {
			return 1
		}
	}

	opts := auth.ImportOptions{DryRun: *dryRun}
	progress, done := importProgress(stderr, len(rows))
	opts.Progress = progress
	defer done()
	results, err := c.store.ImportUsers(c.actx(), rows, opts)
	if err != nil {
		fmt.Fprintf(stderr, "credstore users import: %v\n", err)
		c.record(0, []string{"users"}, "failed", err, backup)
		return 1
	}
	return c.reportImport(results, rejected, *dryRun, backup)
}

// readImportFile reads the users of the file name ("-": stdin) in format,
// which "" lets the name's extension choose: CSV for .csv, else JSON
// lines. The rows it could not read are rejected by their line numbers.
func readImportFile(name, format string, stdin io.Reader) (rows []auth.ImportedUser, rejected []string, err error) {
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		in = f
	}
	read := readJSONLines
	if format == "csv" || (format == "" && strings.HasSuffix(strings.ToLower(name), ".csv")) {
		read = readCSV
	}
	return read(in)
}

// importProgress reports the progress of an import of rows rows on stderr:
// as a bar on a terminal, else as a line every 1,000 rows and at the end,
// for a log. done removes the bar once the import is over.
func importProgress(stderr io.Writer, rows int) (progress func(done, total int), done func()) {
	if isTerminal(stderr) {
		bar := progressbar.NewOptions(rows, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("importing"),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		return func(n, _ int) { _ = bar.Set(n) }, func() { _ = bar.Close() }
	}
	last := 0
	return func(n, total int) {
		if n-last >= 1000 || n == total {
			fmt.Fprintf(stderr, "imported or rejected %d of %d\n", n, total)
			last = n
		}
	}, func() {}
}

// reportImport prints every rejected line, with its number and reason, and
// a summary, which the management log records too (unless dryRun). The
// exit status is 1 when any line was rejected.
func (c *userCmd) reportImport(results []auth.ImportResult, rejected []string, dryRun bool, backup string) int {
	imported := 0
	for _, r := range results {
		if r.Err != nil {
			rejected = append(rejected, fmt.Sprintf("line %d: %v", r.Line, r.Err))
		} else {
			imported++
		}
	}
	for _, line := range rejected {
		fmt.Fprintln(c.stderr, line)
	}
	verb := "imported"
	if dryRun {
		verb = "would import"
	}
	summary := fmt.Sprintf("%s %d, rejected %d", verb, imported, len(rejected))
	fmt.Fprintln(c.stdout, summary)
	if !dryRun {
		c.record(0, []string{"users"}, summary, nil, backup)
	}
	if len(rejected) > 0 {
		return 1
	}
	return 0
}

// jsonLinesWriter writes each record as a JSON line.
func jsonLinesWriter(w io.Writer) func(exportedRecord) error {
	enc := json.NewEncoder(w)
	return func(r exportedRecord) error { return enc.Encode(r) }
}

// csvWriter writes a header, then each record, as CSV that readCSV reads
// back; the zero record writes the header alone. password_hash is a
// column only withHashes.
func csvWriter(w io.Writer, withHashes bool) func(exportedRecord) error {
	cw := csv.NewWriter(w)
	header := []string{"id", "public_id", "username", "email", "phone", "is_admin", "created_at", "updated_at"}
	if withHashes {
		header = append(header, "password_hash")
	}
	started := false
	return func(r exportedRecord) error {
		if !started {
			started = true
			if err := cw.Write(header); err != nil {
				return err
			}
		}
		if r.Email != "" {
			rec := []string{strconv.FormatInt(r.ID, 10), r.PublicID, r.Username, r.Email, r.Phone,
				strconv.FormatBool(r.IsAdmin), r.CreatedAt.UTC().Format(time.RFC3339Nano), r.UpdatedAt.UTC().Format(time.RFC3339Nano)}
			if withHashes {
				rec = append(rec, r.PasswordHash)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
}

// readJSONLines reads the users of an export in JSON lines, one user a
// line. A line that is not a user's JSON object is rejected by its number;
// the line itself is not repeated, as it may hold a password.
func readJSONLines(in io.Reader) (rows []auth.ImportedUser, rejected []string, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r exportedRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			rejected = append(rejected, fmt.Sprintf("line %d: not a JSON object of a user", line))
			continue
		}
		rows = append(rows, r.imported(line))
	}
	return rows, rejected, sc.Err()
}

func (r exportedRecord) imported(line int) auth.ImportedUser {
	return auth.ImportedUser{
		Line: line, Username: r.Username, Email: r.Email, Phone: r.Phone, IsAdmin: r.IsAdmin,
		Password: r.Password, PasswordHash: r.PasswordHash,
	}
}

// csvColumns are the columns of a CSV import or export, named as the JSON
// fields; an import needs email and one of password or password_hash, and
// ignores the informative ones (id, public_id and the times).
var csvColumns = []string{"id", "public_id", "username", "email", "phone", "is_admin", "created_at", "updated_at", "password", "password_hash"}

// readCSV reads users from CSV (RFC 4180) whose first record names the
// columns. An unknown or repeated column refuses the whole file; a record
// that cannot be read, or whose is_admin is not a boolean, is rejected by
// its line number.
func readCSV(in io.Reader) (rows []auth.ImportedUser, rejected []string, err error) {
	cr := csv.NewReader(in)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("CSV header: %w", err)
	}
	col := map[string]int{}
	for i, name := range header {
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")) // a spreadsheet's byte order mark
		if !slices.Contains(csvColumns, name) {
			return nil, nil, fmt.Errorf("CSV header: unknown column %q (known: %s)", name, strings.Join(csvColumns, ", "))
		}
		if _, dup := col[name]; dup {
			return nil, nil, fmt.Errorf("CSV header: column %q twice", name)
		}
		col[name] = i
	}
	if _, ok := col["email"]; !ok {
		return nil, nil, errors.New("CSV header: no email column")
	}
	cr.FieldsPerRecord = len(header)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, rejected, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var perr *csv.ParseError
			if !errors.As(err, &perr) {
				return nil, nil, err
			}
			// The record is not repeated: it may hold a password.
			rejected = append(rejected, fmt.Sprintf("line %d: not a CSV record of %d fields", perr.StartLine, len(header)))
			continue
		}
		field := func(name string) string {
			if i, ok := col[name]; ok {
				return rec[i]
			}
			return ""
		}
		r := exportedRecord{
			Username: field("username"), Email: field("email"), Phone: field("phone"),
			Password: field("password"), PasswordHash: field("password_hash"),
		}
		if v := field("is_admin"); v != "" {
			if r.IsAdmin, err = strconv.ParseBool(v); err != nil {
				rejected = append(rejected, fmt.Sprintf("line %d: is_admin: want true or false", line))
				continue
			}
		}
		rows = append(rows, r.imported(line))
	}
}

// usageStatus is the exit status of a flag parsing error: 0 for -h, else 2.
func usageStatus(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
