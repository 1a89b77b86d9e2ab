package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/credstore/credstore/auth"
)

const usersUsage = `usage: credstore users <subcommand> [flags]

Administers users from the server's shell: whoever can run this command on
the database can change any account. Changes are recorded in the audit
trail under the OS user running the command, and in the management log
(-log-file). Delete, admin changes, password resets and second-factor
removal back the database up first (-backup-dir).

subcommands:
  create           create a user (-email, -username, -phone, -admin)
  list             list users (-admins, -limit, -after, -json)
  get              show one user, their second factor and sessions
  update           change some fields of a user, or their password
  delete           delete a user
  sessions         list a user's live sessions
  revoke-sessions  end every session of a user
  remove-2fa       remove a user's lost second factor
  disable          disable a user: their sessions end, they cannot log in (-reason)
  enable           enable a disabled user again
  import FILE      register users from JSON lines (plaintext passwords, bcrypt or Argon2id hashes)
  export           write every user as JSON lines (-with-hashes -o FILE)

Run "credstore users <subcommand> -h" for its flags. Exit status: 0 done,
1 the operation failed or was not confirmed, 2 a usage error.
`

// users is "credstore users <subcommand>".
func users(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, func(string) string, io.Reader, io.Writer, io.Writer) int{
		"create": usersCreate, "list": usersList, "get": usersGet, "update": usersUpdate, "delete": usersDelete,
		"sessions": usersSessions, "revoke-sessions": usersRevokeSessions, "remove-2fa": usersRemove2FA,
		"disable": usersDisable, "enable": usersEnable,
	}
	if fn, ok := cmds[args[0]]; ok {
		return fn(ctx, args[1:], getenv, stdin, stdout, stderr)
	}
	switch args[0] {
	case "import":
		return usersImport(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "export":
		return usersExport(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usersUsage)
		return 0
	}
	fmt.Fprintf(stderr, "credstore users: unknown subcommand %q\n\n%s", args[0], usersUsage)
	return 2
}

// userView is how the commands show a user: everything but secrets, which
// auth.User does not hold.
type userView struct {
	ID        int64     `json:"id"`
	PublicID  string    `json:"public_id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	Phone     string    `json:"phone"`
	IsAdmin   bool      `json:"is_admin"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// DisabledAt is when the user was disabled, absent while enabled.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

func viewOf(u auth.User) userView {
	return userView{ID: u.ID, PublicID: u.PublicID, Username: u.Username, Email: u.Email, Phone: u.Phone,
		IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), DisabledAt: u.DisabledAt}
}

type sessionView struct {
	ID         int64     `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func sessionViews(list []auth.Session) []sessionView {
	out := make([]sessionView, len(list)) // never the token: ListSessions has none
	for i, s := range list {
		out[i] = sessionView{ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastSeenAt: s.LastSeenAt.UTC(), ExpiresAt: s.ExpiresAt.UTC()}
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printUser writes u as "key: value" lines.
func printUser(w io.Writer, u auth.User) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%d\n", u.ID)
	fmt.Fprintf(tw, "public id:\t%s\n", u.PublicID)
	fmt.Fprintf(tw, "username:\t%s\n", orNone(u.Username))
	fmt.Fprintf(tw, "email:\t%s\n", u.Email)
	fmt.Fprintf(tw, "phone:\t%s\n", orNone(u.Phone))
	fmt.Fprintf(tw, "admin:\t%s\n", yesNo(u.IsAdmin))
	fmt.Fprintf(tw, "created:\t%s\n", u.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "updated:\t%s\n", u.UpdatedAt.UTC().Format(time.RFC3339))
	if u.DisabledAt != nil {
		fmt.Fprintf(tw, "disabled:\t%s\n", u.DisabledAt.UTC().Format(time.RFC3339))
	}
	tw.Flush()
}

func printSessions(w io.Writer, list []auth.Session) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tCREATED\tLAST SEEN\tEXPIRES")
	for _, s := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.ID, s.CreatedAt.UTC().Format(time.RFC3339),
			s.LastSeenAt.UTC().Format(time.RFC3339), s.ExpiresAt.UTC().Format(time.RFC3339))
	}
	tw.Flush()
}

// describe names a user in a confirmation question.
func describe(u auth.User) string {
	s := fmt.Sprintf("user %d <%s>", u.ID, u.Email)
	if u.Username != "" {
		s = fmt.Sprintf("user %d %s <%s>", u.ID, u.Username, u.Email)
	}
	if u.IsAdmin {
		s += " (an administrator)"
	}
	if u.DisabledAt != nil {
		s += " (disabled)"
	}
	return s
}

const createUsage = `usage: credstore users create -email E [-username U] [-phone P] [-admin] [flags]

Creates a user and prints it. The password is typed twice at a hidden
prompt, or read from the first line of standard input with -password-stdin.
It must satisfy -policy, by default "long": 12 characters or more, mixing
letters and digits, since accounts made here are often administrators'.
Granting admin asks for confirmation (-yes).
`

func usersCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "create", createUsage, withLog|withConfirm|withPassword, getenv, stdin, stdout, stderr)
	var r auth.Registration
	var admin bool
	c.fs.StringVar(&r.Email, "email", "", "email address (required)")
	c.fs.StringVar(&r.Username, "username", "", "username (optional)")
	c.fs.StringVar(&r.Phone, "phone", "", "phone number in E.164 form, +15551234567 (optional)")
	c.fs.BoolVar(&admin, "admin", false, "make the user an administrator")
	if code := c.parse(args); code != 0 {
		return max(code, 0)
	}
	if r.Email == "" {
		return c.usageError("-email is required")
	}
	if !c.open(true) {
		return 1
	}
	defer c.close()
	fields := []string{"email", "password"}
	for name, set := range map[string]bool{"username": r.Username != "", "phone": r.Phone != "", "is_admin": admin} {
		if set {
			fields = append(fields, name)
		}
	}
	sort.Strings(fields)
	password, err := c.readPassword()
	if err != nil {
		fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, err)
		c.record(0, fields, "failed", err, "")
		return 1
	}
	r.Password = password
	register := c.store.Register
	if admin {
		if err := c.confirm(fmt.Sprintf("Create %s as an administrator?", r.Email)); err != nil {
			return c.refuse(0, fields, err)
		}
		register = c.store.RegisterAdmin
	}
	u, err := register(c.actx(), r)
	if err != nil {
		return c.fail(0, fields, err)
	}
	c.record(u.ID, fields, "ok", nil, "")
	printUser(c.stdout, u)
	return 0
}

const listUsage = `usage: credstore users list [-admins] [-limit N] [-after ID] [-json] [flags]

Lists users in id order, a page at a time: when more follow, the flag that
shows the next page is printed to standard error.
`

func usersList(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "list", listUsage, 0, getenv, stdin, stdout, stderr)
	admins := c.fs.Bool("admins", false, "administrators only")
	search := c.fs.String("search", "", "only users whose email or username starts with this, in any case")
	limit := c.fs.Int("limit", auth.DefaultPageSize, fmt.Sprintf("users per page, 1 to %d", auth.MaxPageSize))
	after := c.fs.Int64("after", 0, "the id printed after the previous page (next page)")
	asJSON := c.fs.Bool("json", false, "print JSON lines")
	if code := c.parse(args); code != 0 {
		return max(code, 0)
	}
	if *limit < 1 || *limit > auth.MaxPageSize {
		return c.usageError(fmt.Sprintf("-limit must be between 1 and %d", auth.MaxPageSize))
	}
	if !c.open(false) {
		return 1
	}
	defer c.close()
	page, err := c.store.ListUsers(c.ctx, auth.ListOptions{AfterID: *after, AdminsOnly: *admins, Search: *search, Limit: *limit})
	if err != nil {
		return c.fail(0, nil, err)
	}
	more := false
	if len(page) == *limit { // a full page: is there a next one?
		next, err := c.store.ListUsers(c.ctx, auth.ListOptions{AfterID: page[len(page)-1].ID, AdminsOnly: *admins, Search: *search, Limit: 1})
		if err != nil {
			return c.fail(0, nil, err)
		}
		more = len(next) > 0
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		for _, u := range page {
			if err := enc.Encode(viewOf(u)); err != nil {
				return c.fail(0, nil, err)
			}
		}
	} else {
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPUBLIC ID\tUSERNAME\tEMAIL\tPHONE\tADMIN\tCREATED")
		for _, u := range page {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.PublicID, orNone(u.Username), u.Email,
				orNone(u.Phone), yesNo(u.IsAdmin), u.CreatedAt.UTC().Format(time.RFC3339))
		}
		tw.Flush()
	}
	if more && len(page) > 0 {
		fmt.Fprintf(c.stderr, "more users: -after %d\n", page[len(page)-1].ID)
	}
	return 0
}

const getUsage = `usage: credstore users get (-id N | -public-id X | -username U | -email E) [-json] [flags]

Shows one user, chosen by exactly one selector: their account, whether
two-factor authentication is on and how many recovery codes are left, and
their live sessions.
`

func usersGet(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "get", getUsage, 0, getenv, stdin, stdout, stderr)
	id := c.fs.Int64("id", 0, "the user's id")
	publicID := c.fs.String("public-id", "", "the user's public id")
	username := c.fs.String("username", "", "the user's username")
	email := c.fs.String("email", "", "the user's email address")
	asJSON := c.fs.Bool("json", false, "print one JSON object")
	if code := c.parse(args); code != 0 {
		return max(code, 0)
	}
	set := c.given()
	n := 0
	for _, s := range []string{"id", "public-id", "username", "email"} {
		if set[s] {
			n++
		}
	}
	if n != 1 {
		return c.usageError("give exactly one of -id, -public-id, -username, -email")
	}
	if !c.open(false) {
		return 1
	}
	defer c.close()
	var u auth.User
	var err error
	switch {
	case set["id"]:
		u, err = c.store.User(c.ctx, *id)
	case set["public-id"]:
		u, err = c.store.UserByPublicID(c.ctx, *publicID)
	case set["username"]:
		u, err = c.store.UserByUsername(c.ctx, *username)
	default:
		u, err = c.store.UserByEmail(c.ctx, *email)
	}
	if err != nil {
		return c.fail(0, nil, err)
	}
	tf, err := c.store.TwoFactor(c.ctx, u.ID)
	if err != nil {
		return c.fail(0, nil, err)
	}
	sessions, err := c.store.ListSessions(c.ctx, u.ID)
	if err != nil {
		return c.fail(0, nil, err)
	}
	if *asJSON {
		type twoFactor struct {
			Enabled           bool `json:"enabled"`
			EnrollmentPending bool `json:"enrollment_pending"`
			RecoveryCodesLeft int  `json:"recovery_codes_left"`
		}
		out := struct {
			User      userView      `json:"user"`
			TwoFactor twoFactor     `json:"two_factor"`
			Sessions  []sessionView `json:"sessions"`
		}{viewOf(u), twoFactor{tf.TOTPEnabled, tf.EnrollmentPending, tf.RecoveryCodesLeft}, sessionViews(sessions)}
		if err := json.NewEncoder(c.stdout).Encode(out); err != nil {
			return c.fail(0, nil, err)
		}
		return 0
	}
	printUser(c.stdout, u)
	switch {
	case tf.TOTPEnabled:
		fmt.Fprintf(c.stdout, "two-factor: on, %d recovery codes left\n", tf.RecoveryCodesLeft)
	case tf.EnrollmentPending:
		fmt.Fprintln(c.stdout, "two-factor: off (an enrollment is pending)")
	default:
		fmt.Fprintln(c.stdout, "two-factor: off")
	}
	fmt.Fprintf(c.stdout, "live sessions: %d\n", len(sessions))
	if len(sessions) > 0 {
		printSessions(c.stdout, sessions)
	}
	return 0
}

// idFlag adds the -id flag every command on one user takes.
func (c *userCmd) idFlag() *int64 {
	return c.fs.Int64("id", 0, "the user's id (required; see users get for the others)")
}

// needID checks that -id was given; a
// non-zero code is the exit status to return.
func (c *userCmd) needID(id int64) int {
	if id <= 0 {
		return c.usageError("-id N is required")
	}
	return 0
}

const updateUsage = `usage: credstore users update -id N [-username U] [-email E] [-phone P] [-admin=true|false] [-password] [flags]

Changes only the fields given; an empty -username or -phone removes it.
-password asks for a new password (hidden, twice; or -password-stdin) and
ends the user's sessions. A change of admin status asks for confirmation
(-yes). A password or admin change backs the database up first.
Prints the user after the change.
`

func usersUpdate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "update", updateUsage, withLog|withBackup|withConfirm|withPassword, getenv, stdin, stdout, stderr)
	id := c.idFlag()
	var f updateFlags
	c.fs.StringVar(&f.username, "username", "", "new username (empty: none)")
	c.fs.StringVar(&f.email, "email", "", "new email address")
	c.fs.StringVar(&f.phone, "phone", "", "new phone number, E.164 (empty: none)")
	c.fs.BoolVar(&f.admin, "admin", false, "administrator or not: -admin=true or -admin=false")
	c.fs.BoolVar(&f.password, "password", false, "set a new password")
	if code := c.parse(args); code != 0 {
		return max(code, 0)
	}
	if code := c.needID(*id); code != 0 {
		return code
	}
	upd, fields := f.update(c.given())
	if len(fields) == 0 {
		return c.usageError("nothing to update: give -username, -email, -phone, -admin or -password")
	}
	if c.o.passwordStdin && !f.password {
		return c.usageError("-password-stdin goes with -password")
	}
	return c.applyUpdate(*id, upd, fields, f.password)
}

// updateFlags are the fields users update can change.
type updateFlags struct {
	username, email, phone string
	admin, password        bool
}

// update is the change the flags given ask for, and the names of its
// fields for the management log. A flag changes its field only when given,
// so that an empty -username removes the username where no -username keeps
// it. The new password is not part of it: it is read once the user is
// known.
func (f *updateFlags) update(given map[string]bool) (auth.UserUpdate, []string) {
	var upd auth.UserUpdate
	var fields []string
	if given["username"] {
		upd.Username, fields = &f.username, append(fields, "username")
	}
	if given["email"] {
		upd.Email, fields = &f.email, append(fields, "email")
	}
	if given["phone"] {
		upd.Phone, fields = &f.phone, append(fields, "phone")
	}
	if given["admin"] {
		upd.IsAdmin, fields = &f.admin, append(fields, "is_admin")
	}
	if f.password {
		fields = append(fields, "password")
	}
	return upd, fields
}

// applyUpdate applies upd, which changes fields, to the user with this id,
// with a new password read first when password is set. A change of admin
// status is confirmed, and a password or admin change backed up, before
// anything is written; the user is printed after.
func (c *userCmd) applyUpdate(id int64, upd auth.UserUpdate, fields []string, password bool) int {
	if !c.open(true) {
		return 1
	}
	defer c.close()
	u, err := c.store.User(c.ctx, id)
	if err != nil {
		return c.fail(id, fields, err)
	}
	if upd.IsAdmin != nil && *upd.IsAdmin == u.IsAdmin {
		upd.IsAdmin = nil // no change, nothing to confirm
	}
	var newPassword string
	if password {
		var code int
		if newPassword, code = c.readNewPassword(u.ID, fields); code != 0 {
			return code
		}
	}
	if upd.IsAdmin != nil {
		verb := "Grant administrator rights to"
		if !*upd.IsAdmin {
			verb = "Take administrator rights from"
		}
		if err := c.confirm(fmt.Sprintf("%s %s?", verb, describe(u))); err != nil {
			return c.refuse(u.ID, fields, err)
		}
	}
	var backupFile string
	if upd.IsAdmin != nil || password {
		var ok bool
		if backupFile, ok = c.backupFirst(u.ID, fields); !ok {
			return 1
		}
	}
	// One transaction: every field named, the password with them, or
	// nothing.
	if password {
		upd.Password = &newPassword
	}
	if upd != (auth.UserUpdate{}) { // -admin naming the current status changes nothing
		updated, err := c.store.UpdateUser(c.actx(), u.ID, upd)
		if err != nil {
			return c.fail(u.ID, fields, err)
		}
		u = updated
	}
	if password {
		fmt.Fprintln(c.stdout, "password set; the user's sessions ended")
	}
	c.record(u.ID, fields, "ok", nil, backupFile)
	printUser(c.stdout, u)
	return 0
}

// readNewPassword reads the new password of the user with this id (at the
// prompt, or with -password-stdin) and checks it against -policy. It is
// checked before anything is written: a refused password must not leave
// the other fields changed. A non-zero code is the exit status to return.
func (c *userCmd) readNewPassword(id int64, fields []string) (string, int) {
	password, err := c.readPassword()
	if err != nil {
		fmt.Fprintf(c.stderr, "credstore %s: %v\n", c.name, err)
		c.record(id, fields, "failed", err, "")
		return "", 1
	}
	p, _ := policyOf(c.o.policy) // checked by parse
	if err := p.CheckPassword(password); err != nil {
		return "", c.fail(id, fields, err)
	}
	return password, 0
}

const deleteUsage = `usage: credstore users delete -id N [flags]

Deletes the user with everything they own (credential, sessions, second
factor), after confirmation (-yes) and a backup of the database.
`

func usersDelete(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "delete", deleteUsage, withLog|withBackup|withConfirm, getenv, stdin, stdout, stderr)
	id := c.idFlag()
	fields := []string{"user"}
	u, code, ok := c.openUser(args, id, fields)
	if !ok {
		return code
	}
	defer c.close()
	if err := c.confirm(fmt.Sprintf("Delete %s? This cannot be undone but from the backup.", describe(u))); err != nil {
		return c.refuse(u.ID, fields, err)
	}
	backupFile, ok := c.backupFirst(u.ID, fields)
	if !ok {
		return 1
	}
	if err := c.store.DeleteUser(c.actx(), u.ID); err != nil {
		return c.fail(u.ID, fields, err)
	}
	c.record(u.ID, fields, "ok", nil, backupFile)
	fmt.Fprintf(c.stdout, "deleted %s\n", describe(u))
	return 0
}

const sessionsUsage = `usage: credstore users sessions -id N [-json] [flags]

Lists the user's live sessions (never their tokens, which are not stored).
`

func usersSessions(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "sessions", sessionsUsage, 0, getenv, stdin, stdout, stderr)
	id := c.idFlag()
	asJSON := c.fs.Bool("json", false, "print JSON lines")
	if code := c.parse(args); code != 0 {
		return max(code, 0)
	}
	if code := c.needID(*id); code != 0 {
		return code
	}
	if !c.open(false) {
		return 1
	}
	defer c.close()
	if _, err := c.store.User(c.ctx, *id); err != nil {
		return c.fail(*id, nil, err)
	}
	list, err := c.store.ListSessions(c.ctx, *id)
	if err != nil {
		return c.fail(*id, nil, err)
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		for _, s := range sessionViews(list) {
			if err := enc.Encode(s); err != nil {
				return c.fail(*id, nil, err)
			}
		}
		return 0
	}
	printSessions(c.stdout, list)
	return 0
}

// openUser starts a command that writes to the user -id names: it parses
// args, opens the store and reads the user. When ok is false the command
// ends with code (0 after -h), and has said why; otherwise the caller
// closes the store (c.close).
func (c *userCmd) openUser(args []string, id *int64, fields []string) (u auth.User, code int, ok bool) {
	if code := c.parse(args); code != 0 {
		return auth.User{}, max(code, 0), false
	}
	if code := c.needID(*id); code != 0 {
		return auth.User{}, code, false
	}
	if !c.open(true) {
		return auth.User{}, 1, false
	}
	u, err := c.store.User(c.ctx, *id)
	if err != nil {
		code := c.fail(*id, fields, err)
		c.close()
		return auth.User{}, code, false
	}
	return u, 0, true
}

const revokeUsage = `usage: credstore users revoke-sessions -id N [flags]

Ends every session of the user: they log in again.
`

func usersRevokeSessions(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "revoke-sessions", revokeUsage, withLog, getenv, stdin, stdout, stderr)
	id := c.idFlag()
	fields := []string{"sessions"}
	u, code, ok := c.openUser(args, id, fields)
	if !ok {
		return code
	}
	defer c.close()
	n, err := c.store.RevokeSessions(c.actx(), u.ID)
	if err != nil {
		return c.fail(u.ID, fields, err)
	}
	c.record(u.ID, fields, "ok", nil, "")
	fmt.Fprintf(c.stdout, "ended %d sessions of %s\n", n, describe(u))
	return 0
}

const remove2FAUsage = `usage: credstore users remove-2fa -id N [flags]

Removes the user's TOTP second factor and recovery codes, for a user who
lost their device, and ends their sessions; they log in with their password
alone until they enroll again. Asks for confirmation (-yes) and backs the
database up first.
`

func usersRemove2FA(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "remove-2fa", remove2FAUsage, withLog|withBackup|withConfirm, getenv, stdin, stdout, stderr)
	id := c.idFlag()
	fields := []string{"totp"}
	u, code, ok := c.openUser(args, id, fields)
	if !ok {
		return code
	}
	defer c.close()
	tf, err := c.store.TwoFactor(c.ctx, u.ID)
	if err != nil {
		return c.fail(u.ID, fields, err)
	}
	if !tf.TOTPEnabled {
		return c.fail(u.ID, fields, fmt.Errorf("%s: %w", describe(u), auth.ErrNoSecondFactor))
	}
	if err := c.confirm(fmt.Sprintf("Remove the second factor of %s?", describe(u))); err != nil {
		return c.refuse(u.ID, fields, err)
	}
	backupFile, ok := c.backupFirst(u.ID, fields)
	if !ok {
		return 1
	}
	if err := c.store.AdminRemoveTOTP(c.actx(), u.ID); err != nil {
		if errors.Is(err, auth.ErrNoSecondFactor) {
			err = fmt.Errorf("%s: %w", describe(u), err)
		}
		return c.fail(u.ID, fields, err)
	}
	c.record(u.ID, fields, "ok", nil, backupFile)
	fmt.Fprintf(c.stdout, "removed the second factor of %s; their sessions ended\n", describe(u))
	return 0
}

const disableUsage = `usage: credstore users disable -id N [-reason TEXT] [flags]

Disables the user, after confirmation (-yes): every session and token
family ends at once, and logins, token refreshes and password resets are
refused until "credstore users enable". Nothing else is deleted, so there
is no backup. The reason is recorded in the audit trail (user.disabled).
`

func usersDisable(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "disable", disableUsage, withLog|withConfirm, getenv, stdin, stdout, stderr)
	id := c.idFlag()
	reason := c.fs.String("reason", "", "why, for the audit trail")
	fields := []string{"disabled"}
	u, code, ok := c.openUser(args, id, fields)
	if !ok {
		return code
	}
	defer c.close()
	if u.DisabledAt != nil {
		fmt.Fprintf(c.stdout, "%s is disabled already, since %s\n", describe(u), u.DisabledAt.UTC().Format(time.RFC3339))
		return 0
	}
	if err := c.confirm(fmt.Sprintf("Disable %s? Their sessions end and they cannot log in until enabled.", describe(u))); err != nil {
		return c.refuse(u.ID, fields, err)
	}
	if err := c.store.DisableUser(c.actx(), u.ID, *reason); err != nil {
		return c.fail(u.ID, fields, err)
	}
	c.record(u.ID, fields, "ok", nil, "")
	fmt.Fprintf(c.stdout, "disabled %s; their sessions ended\n", describe(u))
	return 0
}

const enableUsage = `usage: credstore users enable -id N [flags]

Enables a user that "credstore users disable" disabled: they log in again
with their password.
`

func usersEnable(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newUserCmd(ctx, "enable", enableUsage, withLog, getenv, stdin, stdout, stderr)
	id := c.idFlag()
	fields := []string{"disabled"}
	u, code, ok := c.openUser(args, id, fields)
	if !ok {
		return code
	}
	defer c.close()
	if u.DisabledAt == nil {
		fmt.Fprintf(c.stdout, "%s is not disabled\n", describe(u))
		return 0
	}
	if err := c.store.EnableUser(c.actx(), u.ID); err != nil {
		return c.fail(u.ID, fields, err)
	}
	c.record(u.ID, fields, "ok", nil, "")
	u.DisabledAt = nil
	fmt.Fprintf(c.stdout, "enabled %s\n", describe(u))
	return 0
}
