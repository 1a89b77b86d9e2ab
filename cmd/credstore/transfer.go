package main

import (
	"bufio"
	"bytes"
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
// "credstore users import" reads: an export imports as it is, keeping each
// user's public_id and created_at (id and updated_at are ignored: the
// store numbers its rows, and the import is their last update).
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
	// PasswordSalt is the separate salt of an Argon2 hash of password+salt
	// (the layout of the admin tool credstore replaces); import only.
	PasswordSalt string `json:"password_salt,omitempty"`
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
	withHashes := fs.Bool("with-hashes", false, "include each user's password hash (password_hash), to move users to another store; needs -o")
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
	// An export only reads: it never creates the database (a mistyped -db
	// would export nobody and succeed) nor migrates it.
	store, err := auth.OpenExisting(ctx, *dsn, auth.Config{})
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

Registers the users of FILE (JSON lines, or CSV with a header row naming
the columns as the JSON fields; - for standard input), each with its
plaintext password (checked by -policy and hashed on every core with
-password-hash's algorithm) or its password_hash (kept): bcrypt, Argon2id
PHC, or with password_salt an Argon2id hash of the password followed by
that salt (the layout of the admin tool credstore replaces), rehashed at
the user's first login; and the public_id and created_at of an export
(kept; new ones when absent). Valid lines are committed in batches; every
rejected line is reported with its number and reason. Exit status 1 when
any line was rejected. With SQLite the database is backed up first
(-backup-dir).

An import that stops (Ctrl-C, a database error) says how many users it
committed and the line to resume from: every line before it is settled
(imported, or rejected and listed), none from it on was imported. Run the
same command with -from-line N to import the rest.
`

// usersImport reads users as JSON lines from a file ("-" for standard
// input) and registers the valid ones, each with its plaintext password
// (validated and hashed) or its bcrypt or Argon2id hash (kept). Rejected lines are
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
	fromLine := c.fs.Int("from-line", 1, "skip the lines of FILE before line `N`: resumes an import that stopped, which names N")
	if code := c.parse(args); code != 0 {
		return max(code, 0)
	}
	if *format != "" && *format != "jsonl" && *format != "csv" {
		return c.usageError(fmt.Sprintf("-format %q: want jsonl or csv", *format))
	}
	if *fromLine < 1 {
		return c.usageError("-from-line must be 1 or more")
	}
	rows, rejected, err := readImportFile(c.fs.Arg(0), *format, *fromLine, stdin)
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
	results, err := c.store.ImportUsers(c.actx(), rows, opts)
	done()
	if err != nil {
		return c.reportStopped(rows, results, rejected, err, *dryRun, backup)
	}
	return c.reportImport(results, rejected, *dryRun, backup)
}

// rejectedLine is a line of an import file that was rejected, and why
// (never quoting it: it may hold a password).
type rejectedLine struct {
	line   int
	reason string
}

// readImportFile reads the users of the file name ("-": stdin) in format,
// which "" lets the name's extension choose: CSV for .csv, else JSON
// lines, from line from on (a CSV header is read wherever from is). The
// rows it could not read are rejected by their line numbers.
func readImportFile(name, format string, from int, stdin io.Reader) (rows []auth.ImportedUser, rejected []rejectedLine, err error) {
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
	return read(in, from)
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
func (c *userCmd) reportImport(results []auth.ImportResult, rejected []rejectedLine, dryRun bool, backup string) int {
	imported, rejected := c.printRejected(results, rejected)
	summary := fmt.Sprintf("%s %d, rejected %d", importVerb(dryRun), imported, len(rejected))
	fmt.Fprintln(c.stdout, summary)
	if !dryRun {
		c.record(0, []string{"users"}, summary, nil, backup)
	}
	if len(rejected) > 0 {
		return 1
	}
	return 0
}

// reportStopped reports an import that err stopped before its end: the
// rows settled before it (results, which ImportUsers guarantees are
// final: the users it reports imported are committed), the rejected lines
// among them, and the line to resume from, before which every line is
// settled and from which none was imported. The management log records
// the same. The exit status is 1.
func (c *userCmd) reportStopped(rows []auth.ImportedUser, results []auth.ImportResult, rejected []rejectedLine, err error, dryRun bool, backup string) int {
	if len(results) >= len(rows) { // stopped after the last row: nothing to resume
		fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, err)
		c.reportImport(results, rejected, dryRun, backup)
		return 1
	}
	resume := rows[len(results)].Line
	var before []rejectedLine
	for _, r := range rejected {
		if r.line < resume {
			before = append(before, r)
		}
	}
	imported, before := c.printRejected(results, before)
	why := err.Error()
	if errors.Is(err, context.Canceled) {
		why = "interrupted"
	}
	fmt.Fprintf(c.stderr, "credstore %s: stopped at line %d: %s\n", c.name, resume, why)
	summary := fmt.Sprintf("stopped at line %d: %s %d, rejected %d, of the lines before it", resume, importVerb(dryRun), imported, len(before))
	fmt.Fprintln(c.stdout, summary)
	if !dryRun {
		fmt.Fprintf(c.stdout, "nothing from line %d on was imported: to resume, run the same command with -from-line %d\n", resume, resume)
		c.record(0, []string{"users"}, summary, err, backup)
	}
	return 1
}

// printRejected prints the rejected lines, those of the file and those of
// the results, in line order, and returns them with the number of users
// imported.
func (c *userCmd) printRejected(results []auth.ImportResult, rejected []rejectedLine) (int, []rejectedLine) {
	imported := 0
	for _, r := range results {
		if r.Err != nil {
			rejected = append(rejected, rejectedLine{r.Line, r.Err.Error()})
		} else {
			imported++
		}
	}
	slices.SortStableFunc(rejected, func(a, b rejectedLine) int { return a.line - b.line })
	for _, r := range rejected {
		fmt.Fprintf(c.stderr, "line %d: %s\n", r.line, r.reason)
	}
	return imported, rejected
}

func importVerb(dryRun bool) string {
	if dryRun {
		return "would import"
	}
	return "imported"
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

// maxJSONLine is the longest line readJSONLines reads: a user's object is a
// few hundred bytes. A longer line is rejected by its number, and the lines
// after it are read as usual.
const maxJSONLine = 1 << 20

// byteOrderMark is what some editors and spreadsheets begin a UTF-8 file
// with; it is not part of the first line.
const byteOrderMark = "\ufeff"

// readJSONLines reads the users of an export in JSON lines, one user a
// line, from line from on; empty lines are skipped. A line that is not a
// user's JSON object, or longer than maxJSONLine, is rejected by its
// number; the line itself is not repeated, as it may hold a password. Only
// an error reading in stops it.
func readJSONLines(in io.Reader, from int) (rows []auth.ImportedUser, rejected []rejectedLine, err error) {
	br := bufio.NewReaderSize(in, 64<<10)
	for line := 1; ; line++ {
		b, tooLong, err := nextLine(br, maxJSONLine)
		if err == io.EOF {
			return rows, rejected, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte(byteOrderMark))
		}
		switch {
		case line < from || len(b) == 0 && !tooLong:
			continue
		case tooLong:
			rejected = append(rejected, rejectedLine{line, fmt.Sprintf("longer than %d bytes: not a JSON object of a user", maxJSONLine)})
			continue
		}
		// created_at as text, parsed as a CSV's is; updated_at is ignored.
		var r struct {
			exportedRecord
			CreatedAt string          `json:"created_at"`
			UpdatedAt json.RawMessage `json:"updated_at"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			rejected = append(rejected, rejectedLine{line, "not a JSON object of a user"})
			continue
		}
		if r.exportedRecord.CreatedAt, err = parseCreatedAt(r.CreatedAt); err != nil {
			rejected = append(rejected, rejectedLine{line, err.Error()})
			continue
		}
		rows = append(rows, r.imported(line))
	}
}

// nextLine reads the next line of br without its line ending ("\n" or
// "\r\n"); the last line may lack one. A line of more than limit bytes is
// read to its end but not kept: it comes back as nil, tooLong. The error is
// io.EOF once no line is left.
func nextLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			line = append(line, chunk...)
			if len(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))) > limit {
				line, tooLong = nil, true
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (len(line) > 0 || tooLong):
		case err != nil:
			return nil, false, err
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), tooLong, nil
	}
}

// parseCreatedAt reads an imported created_at: RFC 3339, or "" for none.
// Its error never quotes the value.
func parseCreatedAt(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errors.New("created_at: want an RFC 3339 time, such as 2026-01-02T15:04:05Z")
	}
	return t, nil
}

func (r exportedRecord) imported(line int) auth.ImportedUser {
	return auth.ImportedUser{
		Line: line, Username: r.Username, Email: r.Email, Phone: r.Phone, IsAdmin: r.IsAdmin,
		Password: r.Password, PasswordHash: r.PasswordHash, PasswordSalt: r.PasswordSalt, PublicID: r.PublicID, CreatedAt: r.CreatedAt,
	}
}

// csvColumns are the columns of a CSV import or export, named as the JSON
// fields; an import needs email and one of password or password_hash
// (bcrypt or Argon2id, with password_salt for an Argon2 hash of
// password+salt), keeps public_id and created_at, and ignores id and
// updated_at.
var csvColumns = []string{"id", "public_id", "username", "email", "phone", "is_admin", "created_at", "updated_at", "password", "password_hash", "password_salt"}

// readCSV reads users from CSV (RFC 4180) whose first record names the
// columns, from line from on. An unknown or repeated column refuses the
// whole file; a record that cannot be read, or whose is_admin or
// created_at cannot be, is rejected by its line number.
func readCSV(in io.Reader, from int) (rows []auth.ImportedUser, rejected []rejectedLine, err error) {
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
		name = strings.TrimSpace(strings.TrimPrefix(name, byteOrderMark)) // a spreadsheet's
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
		// A record that could not be read is named by its ParseError: the
		// reader has no field positions for it (FieldPos would panic).
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			if perr.StartLine >= from {
				rejected = append(rejected, rejectedLine{perr.StartLine, csvProblem(perr, len(header))})
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := cr.FieldPos(0)
		if line < from {
			continue
		}
		field := func(name string) string {
			if i, ok := col[name]; ok {
				return rec[i]
			}
			return ""
		}
		r := exportedRecord{
			PublicID: field("public_id"), Username: field("username"), Email: field("email"), Phone: field("phone"),
			Password: field("password"), PasswordHash: field("password_hash"), PasswordSalt: field("password_salt"),
		}
		if v := field("is_admin"); v != "" {
			if r.IsAdmin, err = strconv.ParseBool(v); err != nil {
				rejected = append(rejected, rejectedLine{line, "is_admin: want true or false"})
				continue
			}
		}
		if r.CreatedAt, err = parseCreatedAt(field("created_at")); err != nil {
			rejected = append(rejected, rejectedLine{line, err.Error()})
			continue
		}
		rows = append(rows, r.imported(line))
	}
}

// csvProblem says why a CSV record could not be read, without repeating it
// (it may hold a password).
func csvProblem(perr *csv.ParseError, fields int) string {
	switch {
	case errors.Is(perr.Err, csv.ErrFieldCount):
		return fmt.Sprintf("not a CSV record of %d fields", fields)
	case perr.Line > perr.StartLine:
		return fmt.Sprintf("not a CSV record: %v at line %d (a field that opens a quote must close it, its own quotes doubled)", perr.Err, perr.Line)
	}
	return fmt.Sprintf("not a CSV record: %v (a field with a quote must be quoted whole, its own quotes doubled: \"\"\"john doe\"\"@example.com\")", perr.Err)
}

// usageStatus is the exit status of a flag parsing error: 0 for -h, else 2.
func usageStatus(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
