package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/database"
)

// The fields only an import has, as a ValidationError or a DuplicateError
// names them.
const (
	// FieldPasswordHash names an imported bcrypt or Argon2id hash.
	FieldPasswordHash = "password_hash"
	// FieldPasswordSalt names the separate salt of an imported Argon2 hash.
	FieldPasswordSalt = "password_salt"
	// FieldPublicID names an imported public id.
	FieldPublicID = "public_id"
	// FieldCreatedAt names an imported creation time.
	FieldCreatedAt = "created_at"
)

// DefaultImportBatchSize is how many users ImportUsers writes per
// transaction unless ImportOptions.BatchSize says otherwise.
const DefaultImportBatchSize = 100

// ImportedUser is one user to import: the fields of a Registration, and
// either a plaintext Password or the PasswordHash of an export.
type ImportedUser struct {
	// Line identifies the row to the caller (a line number); ImportUsers
	// only copies it into the row's ImportResult.
	Line     int
	Username string
	Email    string
	Phone    string
	IsAdmin  bool
	// Password is validated by the store's policy and hashed at its cost.
	Password string
	// PasswordHash is an existing bcrypt hash ($2a$, $2b$ or $2y$, cost 4
	// or more) or Argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash,
	// unpadded standard base64, within the bounds Config.Argon2 gives),
	// stored as it is: a login with a hash of another algorithm or cheaper
	// than the store's rehashes it, as for any user.
	PasswordHash string
	// PasswordSalt is the separate salt of the layout of the admin tool
	// credstore replaces: PasswordHash is then an Argon2id PHC hash of the
	// password followed by this salt. It is kept with the hash (see
	// saltedPrefix in password.go) until the user's first login rehashes
	// the password to the store's algorithm. At most 256 bytes.
	PasswordSalt string
	// PublicID is the user's public id as an export wrote it, kept so that
	// the ids other systems hold still name the user; "" for a new one. It
	// must be a UUID as the store makes them (version 7, RFC 9562 variant,
	// hyphenated hex; any case, stored in lower case) that no other user
	// holds.
	PublicID string
	// CreatedAt is when the user was registered, as an export wrote it;
	// zero for the time of the import. It must not be later than the
	// store's clock plus MaxClockSkew. The imported user's UpdatedAt is
	// the time of the import, which wrote the row.
	CreatedAt time.Time
}

// ImportOptions tune ImportUsers. The zero value imports for real, 100
// users per transaction, hashing on every core.
type ImportOptions struct {
	// DryRun validates every row and reports what would be rejected,
	// writing nothing and hashing nothing.
	DryRun bool
	// BatchSize is the number of users per transaction. Default:
	// DefaultImportBatchSize.
	BatchSize int
	// Workers is the number of plaintext passwords hashed at once (with
	// Argon2id, each holds Config.Argon2.Memory while it hashes).
	// Default: runtime.GOMAXPROCS(0).
	Workers int
	// Progress, when set, is called after each batch is settled with the
	// number of rows settled so far (imported or rejected) and the total,
	// from the goroutine that called ImportUsers.
	Progress func(done, total int)
}

// ImportResult is the outcome of one row of ImportUsers, in input order.
type ImportResult struct {
	Line int
	// User is the user created; zero when the row was rejected, and in a
	// dry run.
	User User
	// Err is nil when the row was imported (in a dry run: when it would
	// be). Otherwise a *ValidationError (ErrValidation) listing the invalid
	// fields, or a *DuplicateError (ErrDuplicate) for a username, email,
	// phone or public id (FieldPublicID) that another user holds, or that
	// an earlier row of the import holds. Neither repeats a password or
	// hash.
	Err error
}

// ImportUsers creates the users of rows, each with their credential, as
// Register would, and records a user.registered event for each with
// "imported": true in its detail (the actor is the context's: see
// WithActor). Rows are validated first (every row; the invalid ones are
// rejected, the others still imported); the plaintext passwords are then
// hashed opts.Workers at a time while earlier batches are written, so the
// import runs at the speed of bcrypt on every core.
//
// Hashing bypasses the store's hash gate (Config.MaxConcurrentHashes): an
// import is an operator's bulk job that should use the whole machine, and a
// gate full of its work would refuse the logins of a service sharing the
// store with ErrOverloaded. Run big imports outside busy hours.
//
// Each batch of opts.BatchSize users is written in one transaction. A batch
// in which a row fails (a username, email or phone that a user registered
// meanwhile holds) is rolled back whole and its rows written again one per
// transaction, so a rejected row never leaves a user without a credential
// and never costs the valid rows beside it. The database's unique
// constraints decide duplicates; rows duplicating an earlier row of rows
// are rejected before anything is written.
//
// The results, one per row in order, say which rows were imported. The
// error is for what stopped the import (ctx, the database): the results
// then cover the rows settled before it, and the batches they report
// imported are committed.
func (s *Store) ImportUsers(ctx context.Context, rows []ImportedUser, opts ImportOptions) ([]ImportResult, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultImportBatchSize
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	results, canonical, valid := s.validateRows(rows)
	if opts.DryRun {
		return s.dryRunImport(ctx, rows, canonical, valid, results, opts)
	}

	// Batch after batch, yielding the write lock between them: on SQLite
	// a service beside the import keeps writing (database.Yielding).
	ctx, cancel := context.WithCancel(database.Yielding(ctx))
	batches, hashes, wait := s.hashInBatches(ctx, rows, valid, opts)
	defer func() { cancel(); wait() }()
	settled := len(rows) - len(valid) // the invalid rows
	for _, b := range batches {
		select {
		case <-b.hashed:
		case <-ctx.Done():
			return results[:b.rows[0]], wrap("import users", ctx.Err())
		}
		for _, i := range b.rows {
			if hashes[i].err != nil {
				return results[:b.rows[0]], wrap("import users", hashes[i].err)
			}
		}
		if stop, err := s.commitBatch(ctx, rows, canonical, hashes, b.rows, results); err != nil {
			return results[:stop], err
		}
		settled += len(b.rows)
		if opts.Progress != nil {
			opts.Progress(settled, len(rows))
		}
	}
	if opts.Progress != nil && len(batches) == 0 {
		opts.Progress(len(rows), len(rows))
	}
	return results, nil
}

// importKeys are the canonical forms of a valid row's email and public id
// ("" when the row brings none), as they are stored.
type importKeys struct {
	email, publicID string
}

// validateRows checks every row on its own (validateImport) and against the
// rows before it (firstHolder), before anything is read or written. It
// returns a result per row, with the error of each rejected one, the
// canonical keys of each valid one, and the indexes of the valid rows in
// order.
func (s *Store) validateRows(rows []ImportedUser) (results []ImportResult, canonical []importKeys, valid []int) {
	results = make([]ImportResult, len(rows))
	canonical = make([]importKeys, len(rows))
	seen := map[string]int{} // field + "\x00" + value → first row holding it
	for i, r := range rows {
		results[i].Line = r.Line
		c, err := s.validateImport(r)
		if err == nil {
			err = firstHolder(seen, i, r, c)
		}
		if err != nil {
			results[i].Err = err
			continue
		}
		canonical[i] = c
		valid = append(valid, i)
	}
	return results, canonical, valid
}

// dryRunImport completes the results of a dry run: each valid row is
// rejected when a user holds one of its values already (checkTaken), and
// nothing is hashed or written. Progress is reported per batch, as a real
// import would.
func (s *Store) dryRunImport(ctx context.Context, rows []ImportedUser, canonical []importKeys, valid []int, results []ImportResult, opts ImportOptions) ([]ImportResult, error) {
	for n, i := range valid {
		if err := s.checkTaken(ctx, rows[i], canonical[i]); err != nil {
			if !errors.Is(err, ErrDuplicate) {
				return results[:i], wrap("import users", err)
			}
			results[i].Err = err
		}
		if opts.Progress != nil && (n+1)%opts.BatchSize == 0 {
			opts.Progress(n+1, len(rows))
		}
	}
	if opts.Progress != nil {
		opts.Progress(len(rows), len(rows))
	}
	return results, nil
}

// commitBatch writes the rows at idx, whose passwords are hashed, in one
// transaction. When a row of the batch holds a value that a user took
// meanwhile (a *DuplicateError), the batch is rolled back whole and its rows
// written again one per transaction, so that the duplicate is rejected and
// the rows beside it are kept. Any other error stops the import: commitBatch
// then returns the index of the first row it did not settle, up to which
// the results are final.
func (s *Store) commitBatch(ctx context.Context, rows []ImportedUser, canonical []importKeys, hashes []importHash, idx []int, results []ImportResult) (int, error) {
	var dup *DuplicateError
	switch err := s.insertImported(ctx, rows, canonical, hashes, idx, results); {
	case err == nil:
		return 0, nil
	case !errors.As(err, &dup):
		return idx[0], err
	}
	for _, i := range idx {
		err := s.insertImported(ctx, rows, canonical, hashes, []int{i}, results)
		if errors.As(err, &dup) {
			results[i].Err = dup
		} else if err != nil {
			return i, err
		}
	}
	return 0, nil
}

// validateImport checks an imported row as Register checks a registration,
// its hash instead of its password when it brings one, and the public id
// and creation time it brings. It returns the canonical email and public
// id.
func (s *Store) validateImport(r ImportedUser) (importKeys, error) {
	probs := problems{}
	var keys importKeys
	keys.email = s.checkProfile(probs, r.Username, r.Email, r.Phone)
	if r.PublicID != "" {
		var ok bool
		if keys.publicID, ok = importedPublicID(r.PublicID); !ok {
			probs.add(FieldPublicID, "must be a UUID as the store makes them: version 7, 36 characters of hex digits with hyphens after the 8th, 12th, 16th and 20th")
		}
	}
	if !r.CreatedAt.IsZero() && r.CreatedAt.After(s.now().Add(MaxClockSkew)) {
		probs.add(FieldCreatedAt, "must not be in the future")
	}
	switch {
	case r.Password != "" && r.PasswordHash != "":
		probs.add(FieldPassword, "must not be given with password_hash: give one or the other")
	case r.PasswordSalt != "" && r.PasswordHash == "":
		probs.add(FieldPasswordSalt, "needs a password_hash of Argon2id")
	case r.PasswordHash != "":
		s.checkImportedHash(probs, r.PasswordHash, r.PasswordSalt)
	default:
		s.cfg.Policy.checkPassword(probs, FieldPassword, r.Password) // "is required" when empty
	}
	return keys, probs.err()
}

// importedPublicID returns an imported public id in the form the store
// writes (lower case), or false unless it is a UUID such as newUUIDv7
// makes: canonicalPublicID's layout, version 7 and the RFC 9562 variant.
// Anything else would break what the store promises of its ids (one
// layout, ordered by creation time).
func importedPublicID(s string) (string, bool) {
	id, ok := canonicalPublicID(s)
	if !ok || id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
		return "", false
	}
	return id, true
}

// bcryptAlphabet is bcrypt's base64 alphabet, of the salt and hash.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// checkImportedHash accepts what bcrypt produces: "$2a$", "$2b$" or "$2y$",
// a two-digit cost from 4 to 31, "$", then 53 characters of salt and hash;
// 60 characters in all. It accepts an Argon2id PHC string within the
// store's bounds (parseArgon2), with or without a separate salt, which a
// bcrypt hash cannot have. Its messages never quote the hash or salt.
func (s *Store) checkImportedHash(probs problems, h, salt string) {
	if strings.HasPrefix(h, saltedPrefix) && salt != "" {
		probs.add(FieldPasswordSalt, "must not be given with a hash that holds its salt")
		return
	}
	if strings.HasPrefix(h, "$argon2") || strings.HasPrefix(h, saltedPrefix) {
		if _, err := parseArgon2([]byte(h), s.hasher.maxMemory); err != nil {
			probs.add(FieldPasswordHash, err.Error())
		}
		if len(salt) > maxImportSalt {
			probs.add(FieldPasswordSalt, fmt.Sprintf("must be at most %d bytes", maxImportSalt))
		}
		return
	}
	if salt != "" {
		probs.add(FieldPasswordSalt, "needs a password_hash of Argon2id")
	}
	const want = "must be a bcrypt hash: 60 characters, $2a$, $2b$ or $2y$, a cost of 04 to 31, $, then 53 of [./A-Za-z0-9]"
	if len(h) != 60 || !(strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")) ||
		h[6] != '$' || strings.Trim(h[7:], bcryptAlphabet) != "" {
		probs.add(FieldPasswordHash, want)
		return
	}
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil || cost < bcrypt.MinCost {
		probs.add(FieldPasswordHash, want)
	}
}

// firstHolder rejects row i when an earlier valid row holds its username,
// email (canonical), phone or public id (canonical), and otherwise records
// them as held by i.
func firstHolder(seen map[string]int, i int, r ImportedUser, canonical importKeys) error {
	keys := []struct{ field, value string }{
		{FieldEmail, canonical.email}, {FieldUsername, r.Username}, {FieldPhone, r.Phone}, {FieldPublicID, canonical.publicID},
	}
	for _, k := range keys {
		if _, taken := seen[k.field+"\x00"+k.value]; taken && k.value != "" {
			return &DuplicateError{Field: k.field}
		}
	}
	for _, k := range keys {
		if k.value != "" {
			seen[k.field+"\x00"+k.value] = i
		}
	}
	return nil
}

// checkTaken reports, for a dry run, a username, email or phone of r that a
// user holds already. It only reads: a real import lets the unique
// constraints decide, and a user registered after the dry run can still
// make a row fail then.
func (s *Store) checkTaken(ctx context.Context, r ImportedUser, canonical importKeys) error {
	checks := []struct {
		field, value string
		find         func() (db.User, error)
	}{
		{FieldEmail, canonical.email, func() (db.User, error) { return read(ctx, s.q.GetUserByEmail, canonical.email) }},
		{FieldUsername, r.Username, func() (db.User, error) { return read(ctx, s.q.GetUserByUsername, nullable(r.Username)) }},
		{FieldPhone, r.Phone, func() (db.User, error) { return read(ctx, s.q.GetUserByPhone, nullable(r.Phone)) }},
		{FieldPublicID, canonical.publicID, func() (db.User, error) { return read(ctx, s.q.GetUserByPublicID, canonical.publicID) }},
	}
	for _, c := range checks {
		if c.value == "" {
			continue
		}
		switch _, err := c.find(); {
		case err == nil:
			return &DuplicateError{Field: c.field}
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	return nil
}

// importBatch is the rows of one transaction, and a channel closed once
// their passwords are hashed.
type importBatch struct {
	rows   []int
	left   atomic.Int64
	hashed chan struct{}
}

type importHash struct {
	hash []byte
	err  error
}

// hashInBatches splits the valid rows into batches and starts hashing their
// plaintext passwords in order on opts.Workers goroutines, so that a batch
// is written while the next ones are hashed. A row with a PasswordHash
// takes it as it is. wait waits for the workers, which end when every
// password is hashed or ctx is done.
func (s *Store) hashInBatches(ctx context.Context, rows []ImportedUser, valid []int, opts ImportOptions) ([]*importBatch, []importHash, func()) {
	hashes := make([]importHash, len(rows))
	var batches []*importBatch
	batchOf := make(map[int]*importBatch, len(valid))
	var toHash []int
	for start := 0; start < len(valid); start += opts.BatchSize {
		b := &importBatch{rows: valid[start:min(start+opts.BatchSize, len(valid))], hashed: make(chan struct{})}
		for _, i := range b.rows {
			switch r := rows[i]; {
			case r.PasswordSalt != "":
				hashes[i].hash = []byte(saltedHash(r.PasswordHash, r.PasswordSalt))
				continue
			case r.PasswordHash != "":
				hashes[i].hash = []byte(r.PasswordHash)
				continue
			}
			b.left.Add(1)
			batchOf[i] = b
			toHash = append(toHash, i)
		}
		if b.left.Load() == 0 {
			close(b.hashed)
		}
		batches = append(batches, b)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		for _, i := range toHash {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	})
	for range opts.Workers {
		wg.Go(func() {
			for i := range jobs {
				h, err := s.hasher.hash(rows[i].Password)
				hashes[i] = importHash{hash: h, err: err}
				if b := batchOf[i]; b.left.Add(-1) == 0 {
					close(b.hashed)
				}
			}
		})
	}
	return batches, hashes, wg.Wait
}

// insertImported writes the rows at idx, with their hashes, in one
// transaction, and sets their results once it commits. A row without a
// public id gets a new one, of its creation time; a row without a creation
// time is created now. Errors: the first row's *DuplicateError, the
// database's.
func (s *Store) insertImported(ctx context.Context, rows []ImportedUser, canonical []importKeys, hashes []importHash, idx []int, results []ImportResult) error {
	created := make([]db.User, len(idx))
	err := s.inTx(ctx, "import users", func(tx *txn) error {
		for n, i := range idx {
			r := rows[i]
			createdAt := tx.now
			if !r.CreatedAt.IsZero() {
				createdAt = r.CreatedAt.UTC().Truncate(time.Microsecond)
			}
			publicID := canonical[i].publicID
			if publicID == "" {
				var err error
				if publicID, err = newUUIDv7(createdAt, s.cfg.Rand); err != nil {
					return err
				}
			}
			u, err := tx.q.ImportUser(tx.ctx, db.ImportUserParams{
				PublicID:       publicID,
				Username:       nullable(r.Username),
				Email:          r.Email,
				EmailCanonical: canonical[i].email,
				Phone:          nullable(r.Phone),
				IsAdmin:        r.IsAdmin,
				CreatedAt:      createdAt,
				Now:            tx.now,
			})
			if err != nil {
				return err
			}
			if err := tx.q.CreateCredential(tx.ctx, db.CreateCredentialParams{UserID: u.ID, PasswordHash: string(hashes[i].hash), Now: tx.now}); err != nil {
				return fmt.Errorf("line %d: credential: %w", r.Line, err)
			}
			tx.record(EventUserRegistered, refOf(u), map[string]any{"is_admin": u.IsAdmin, "imported": true})
			if u.IsAdmin {
				tx.recordBy(EventAdminGranted, refOf(u), Actor{Kind: ActorSystem}, nil)
			}
			created[n] = u
		}
		return nil
	})
	if err != nil {
		return err
	}
	for n, i := range idx {
		results[i].User = userFromDB(created[n])
	}
	return nil
}
