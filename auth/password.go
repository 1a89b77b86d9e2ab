package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// The password hash algorithms of Config.PasswordHash.
const (
	HashBcrypt   = "bcrypt"
	HashArgon2id = "argon2id"
)

// Argon2Params are the parameters of an Argon2id hash.
type Argon2Params struct {
	// Memory is the memory one hash uses, in KiB (the PHC "m").
	Memory uint32
	// Time is the number of passes over the memory (the PHC "t").
	Time uint32
	// Threads is the degree of parallelism (the PHC "p").
	Threads uint8
}

// DefaultArgon2Params cost about as much as bcrypt at DefaultBcryptCost on
// the reference machine (see README, "Passwords"): 64 MiB, 7 passes, 2
// lanes.
var DefaultArgon2Params = Argon2Params{Memory: 64 * 1024, Time: 7, Threads: 2}

// Bounds of the Argon2 parameters a store hashes with (outside tests) and
// accepts in a stored or imported hash. A hash beyond them (a hostile import
// that would make a login cost minutes or gigabytes) is refused at import
// and matches nothing at login.
const (
	minArgon2Memory  = 19 * 1024 // OWASP's floor for Argon2id
	minArgon2Time    = 1
	maxArgon2Time    = 16
	maxArgon2Threads = 16
	argon2SaltLen    = 16
	argon2KeyLen     = 32
	minArgon2Bytes   = 8  // salt or key: RFC 9106's minimum salt
	maxArgon2Bytes   = 64 // salt or key
	maxImportSalt    = 256
)

// saltedPrefix opens the stored form of a hash imported with a separate
// salt column (the admin tool credstore replaces): an Argon2 hash of the
// password followed by that salt. The stored string is
//
//	$credstore-salted$<salt, standard unpadded base64>$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>
//
// so the credential needs no column of its own; the first login rehashes it
// to the store's algorithm, and the extra salt is gone with it.
const saltedPrefix = "$credstore-salted$"

var b64 = base64.RawStdEncoding

// hasher hashes and compares passwords with the store's algorithm and
// parameters, and compares those of any algorithm a store may hold.
type hasher struct {
	algorithm string // HashBcrypt or HashArgon2id
	cost      int    // bcrypt's
	argon2    Argon2Params
	// maxMemory is the most memory, in KiB, that one comparison may use:
	// an Argon2 hash asking for more matches nothing. It is what a turn at
	// the hash gate accounts for.
	maxMemory uint32
}

func newHasher(cfg Config) hasher {
	return hasher{
		algorithm: cfg.PasswordHash,
		cost:      cfg.BcryptCost,
		argon2:    cfg.Argon2,
		maxMemory: max(cfg.Argon2.Memory, DefaultArgon2Params.Memory),
	}
}

// hash hashes a validated password. It is the slow step of every write that
// sets a password, and runs before the write transaction opens.
func (h hasher) hash(password string) ([]byte, error) {
	if len(password) > MaxPasswordBytes {
		// Validation refuses these first; this guards against a caller
		// that skipped it, because bcrypt would silently drop the tail.
		return nil, fmt.Errorf("hash password: longer than %d bytes", MaxPasswordBytes)
	}
	if h.algorithm == HashArgon2id {
		salt := make([]byte, argon2SaltLen)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
		p := h.argon2
		key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argon2KeyLen)
		return encodeArgon2(p, salt, key), nil
	}
	out, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return out, nil
}

// dummy returns the hash a login compares against when no user matched, so
// that it takes as long as a wrong password: a hash of the store's algorithm
// and parameters that no password matches.
//
// bcrypt's work depends on the cost and the salt alone, not on whether the
// password matches, so the hash is made at the minimum cost and then
// labelled with the store's cost: comparing against it runs bcrypt at cost,
// as a real hash would. Argon2's comparison derives a key from the stored
// parameters and salt whatever the stored key is, so random bytes serve.
// Either way opening a store costs no hash at the configured cost (a command
// that never hashes, such as credstore audit, starts at once).
func (h hasher) dummy() ([]byte, error) {
	if h.algorithm == HashArgon2id {
		b := make([]byte, argon2SaltLen+argon2KeyLen)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("dummy hash: %w", err)
		}
		return encodeArgon2(h.argon2, b[:argon2SaltLen], b[argon2SaltLen:]), nil
	}
	if h.cost < bcrypt.MinCost || h.cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("dummy hash: cost %d out of range", h.cost)
	}
	secret := make([]byte, 32) // no password matches a hash of random bytes
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	out, err := bcrypt.GenerateFromPassword(secret, bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	// "$2a$04$" + salt and hash: the cost is the two digits after the
	// second '$'.
	return fmt.Appendf(nil, "%s%02d%s", out[:4], h.cost, out[6:]), nil
}

// matches compares in constant time (bcrypt's own comparison uses
// crypto/subtle; Argon2's uses subtle.ConstantTimeCompare) and always runs
// the stored hash's algorithm, so every call with a hash of the store's
// parameters costs the same. A password over MaxPasswordBytes never matches,
// although bcrypt alone would match it by its first 72 bytes. A malformed
// stored hash, or an Argon2 hash beyond the bounds (more memory than
// maxMemory), matches nothing.
func (h hasher) matches(hash []byte, password string) bool {
	var ok bool
	if a, err := parseArgon2(hash, h.maxMemory); err == nil {
		key := argon2.IDKey(append([]byte(password), a.extraSalt...), a.salt, a.params.Time, a.params.Memory, a.params.Threads, uint32(len(a.key)))
		ok = subtle.ConstantTimeCompare(key, a.key) == 1
	} else {
		ok = bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	}
	return ok && len(password) <= MaxPasswordBytes
}

// needsRehash reports whether hash, which a password just matched, should
// be replaced by a hash of the store's: it is of another algorithm, has an
// import's extra salt, or was made with other Argon2 parameters or a lower
// bcrypt cost.
func (h hasher) needsRehash(hash []byte) bool {
	if a, err := parseArgon2(hash, h.maxMemory); err == nil {
		return h.algorithm != HashArgon2id || a.extraSalt != nil || a.params != h.argon2 ||
			len(a.salt) != argon2SaltLen || len(a.key) != argon2KeyLen
	}
	if h.algorithm != HashBcrypt {
		return isBcrypt(hash)
	}
	c, err := bcrypt.Cost(hash)
	return err == nil && c < h.cost
}

func isBcrypt(hash []byte) bool {
	_, err := bcrypt.Cost(hash)
	return err == nil
}

// argon2Hash is a parsed Argon2id PHC string.
type argon2Hash struct {
	params    Argon2Params
	salt, key []byte
	extraSalt []byte // appended to the password; nil but for saltedPrefix
}

func encodeArgon2(p Argon2Params, salt, key []byte) []byte {
	return fmt.Appendf(nil, "$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// errArgon2 names the problem of a hash parseArgon2 refuses; its message
// never quotes the hash.
var errArgon2 = errors.New("must be an Argon2id PHC string: $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, unpadded standard base64")

// parseArgon2 parses an Argon2id PHC string, optionally behind
// saltedPrefix, and checks its parameters against the bounds: memory from
// 8×p KiB to maxMemory, 1 to maxArgon2Time passes, 1 to maxArgon2Threads
// lanes, salt and key of 8 to 64 bytes. The error says which bound failed.
func parseArgon2(hash []byte, maxMemory uint32) (argon2Hash, error) {
	var a argon2Hash
	s := string(hash)
	if rest, ok := strings.CutPrefix(s, saltedPrefix); ok {
		enc, phc, ok := strings.Cut(rest, "$")
		extra, err := b64.DecodeString(enc)
		if !ok || err != nil || len(extra) == 0 || len(extra) > maxImportSalt {
			return a, errArgon2
		}
		a.extraSalt, s = extra, "$"+phc
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return a, errArgon2
	}
	var m, t, p uint64
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return a, errArgon2
	}
	for i, dst := range []*uint64{&m, &t, &p} {
		name, val, ok := strings.Cut(fields[i], "=")
		if !ok || name != "mtp"[i:i+1] || val == "" || (len(val) > 1 && val[0] == '0') {
			return a, errArgon2
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return a, errArgon2
		}
		*dst = n
	}
	salt, err1 := b64.Strict().DecodeString(parts[4])
	key, err2 := b64.Strict().DecodeString(parts[5])
	switch {
	case err1 != nil || err2 != nil:
		return a, errArgon2
	case p < 1 || p > maxArgon2Threads:
		return a, fmt.Errorf("argon2 p=%d is outside 1..%d", p, maxArgon2Threads)
	case m < 8*p || m > uint64(maxMemory):
		return a, fmt.Errorf("argon2 m=%d is outside %d..%d KiB", m, 8*p, maxMemory)
	case t < minArgon2Time || t > maxArgon2Time:
		return a, fmt.Errorf("argon2 t=%d is outside %d..%d", t, minArgon2Time, maxArgon2Time)
	case len(salt) < minArgon2Bytes || len(salt) > maxArgon2Bytes || len(key) < minArgon2Bytes || len(key) > maxArgon2Bytes:
		return a, fmt.Errorf("argon2 salt and hash must be %d to %d bytes", minArgon2Bytes, maxArgon2Bytes)
	}
	a.params = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	a.salt, a.key = salt, key
	return a, nil
}

// saltedHash is the stored form of an Argon2 hash of password+salt (see
// saltedPrefix).
func saltedHash(phc, salt string) string {
	return saltedPrefix + b64.EncodeToString([]byte(salt)) + phc
}

// hashAlgorithm names the algorithm of a stored hash, for tests and
// diagnostics: "bcrypt", "argon2id", "argon2id+salt" or "".
func hashAlgorithm(hash []byte) string {
	switch {
	case bytes.HasPrefix(hash, []byte(saltedPrefix)):
		return "argon2id+salt"
	case bytes.HasPrefix(hash, []byte("$argon2id$")):
		return HashArgon2id
	case isBcrypt(hash):
		return HashBcrypt
	}
	return ""
}

// hash hashes a validated password with the store's algorithm, waiting for
// a turn at the hash gate. Errors: ErrOverloaded, ctx's error.
func (s *Store) hash(ctx context.Context, password string) ([]byte, error) {
	leave, err := s.gate.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	return s.hasher.hash(password)
}

// turnBytes is the most memory one comparison may use, in bytes: what a
// turn at the hash gate accounts for (Config.MaxHashMemory).
func (h hasher) turnBytes() int64 {
	return int64(h.maxMemory) * 1024
}
