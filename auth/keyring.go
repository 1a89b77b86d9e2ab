package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/database"
)

// Keyring holds the keys that encrypt TOTP secrets at rest, by id. New
// secrets are encrypted under Current; a secret written under any key of
// the ring still decrypts, so a key is rotated by adding a new one, making
// it Current, running Store.ReencryptSecrets, and only then removing the
// old one.
type Keyring struct {
	Current string
	Keys    map[string][]byte // id → 32-byte AES-256 key
}

// ErrNoSecretKey means the store has no Keyring (Config.SecretKeys), so it
// cannot store a TOTP secret or a token-signing key, or has none of the key
// a secret was stored under. Every token operation (IssueTokens,
// RefreshTokens, VerifyAccessToken, JWKS, RotateSigningKey) needs the ring.
var ErrNoSecretKey = errors.New("no key to encrypt or decrypt secrets (Config.SecretKeys)")

// keyIDPattern is the shape of a key id: short, printable, no separators.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (k *Keyring) check() error {
	if k == nil {
		return nil
	}
	if _, ok := k.Keys[k.Current]; !ok {
		return fmt.Errorf("config: SecretKeys: the current key %q is not in the ring", k.Current)
	}
	for id, key := range k.Keys {
		if !keyIDPattern.MatchString(id) {
			return fmt.Errorf("config: SecretKeys: key id %q is not 1 to 64 of [A-Za-z0-9._-]", id)
		}
		if len(key) != 32 {
			return fmt.Errorf("config: SecretKeys: key %q has %d bytes, not 32", id, len(key))
		}
	}
	return nil
}

// secretKeys is the ring that encrypts secrets: the last one SetSecretKeys
// installed, else Config.SecretKeys (nil for none).
func (s *Store) secretKeys() *Keyring {
	if k := s.ring.Load(); k != nil {
		return k
	}
	return s.cfg.SecretKeys
}

// SetSecretKeys replaces the key ring of a running store, as a service does
// when its key file changes (credstore serve reads it again on SIGHUP and
// when the file changes). k is checked as Config.SecretKeys is, and copied.
// Secrets under a key of the new ring decrypt at once; the signing keys are
// read again, so a token-signing key that a rotation elsewhere put under
// the new current key signs here too.
//
// To rotate, put the new key first and keep the old ones after it until
// ReencryptSecrets has moved every secret: a secret under a key the ring
// no longer holds stops decrypting (MissingKeys lists them).
func (s *Store) SetSecretKeys(k *Keyring) error {
	if k == nil {
		return errors.New("set secret keys: no ring")
	}
	if err := k.check(); err != nil {
		return err
	}
	ring := &Keyring{Current: k.Current, Keys: make(map[string][]byte, len(k.Keys))}
	for id, key := range k.Keys {
		ring.Keys[id] = bytes.Clone(key)
	}
	s.ring.Store(ring)
	s.keys.mu.Lock()
	s.keys.cur.Store(nil) // the next use reads the signing keys again
	s.keys.mu.Unlock()
	return nil
}

// MissingKeys returns the ids of the keys that encrypt stored TOTP secrets
// (factors and pending enrollments) but are not in the store's ring, every
// such id without a ring, with how many secrets each encrypts. Those users
// cannot log in with a code (recovery codes still work) until the key is
// back. Token-signing keys are not counted: one that no key of the ring
// opens is replaced by a new one when a token is next signed, and keeps
// verifying what it signed.
func (s *Store) MissingKeys(ctx context.Context) (map[string]int64, error) {
	rows, err := read0(ctx, s.q.CountSecretsByKey)
	if err != nil {
		return nil, wrap("missing keys", err)
	}
	k := s.secretKeys()
	missing := map[string]int64{}
	for _, r := range rows {
		if k != nil {
			if _, ok := k.Keys[r.KeyID]; ok {
				continue
			}
		}
		missing[r.KeyID] = r.Secrets
	}
	return missing, nil
}

// secretAAD binds a ciphertext to its user: moved to another user's row, it
// does not decrypt.
func secretAAD(userID int64) []byte {
	return []byte("credstore totp secret v1 user " + strconv.FormatInt(userID, 10))
}

// seal encrypts a user's secret under the current key with AES-256-GCM and
// returns the key's id and base64(nonce || ciphertext).
func (k *Keyring) seal(random io.Reader, userID int64, secret []byte) (keyID, ct string, err error) {
	return k.sealAAD(random, secretAAD(userID), secret)
}

// sealAAD is seal with the additional data that binds the ciphertext to its
// row given explicitly.
func (k *Keyring) sealAAD(random io.Reader, aad, secret []byte) (keyID, ct string, err error) {
	if k == nil {
		return "", "", ErrNoSecretKey
	}
	aead, err := newGCM(k.Keys[k.Current])
	if err != nil {
		return "", "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(random, nonce); err != nil {
		return "", "", fmt.Errorf("seal secret: %w", err)
	}
	out := aead.Seal(nonce, nonce, secret, aad)
	return k.Current, base64.StdEncoding.EncodeToString(out), nil
}

// errSecretUnreadable means a stored secret does not decrypt: a key is
// missing from the ring, or the row was altered or moved.
var errSecretUnreadable = errors.New("TOTP secret does not decrypt")

// open decrypts a user's secret.
func (k *Keyring) open(userID int64, keyID, ct string) ([]byte, error) {
	return k.openAAD(secretAAD(userID), keyID, ct)
}

// openAAD is open with the additional data given explicitly.
func (k *Keyring) openAAD(aad []byte, keyID, ct string) ([]byte, error) {
	if k == nil {
		return nil, ErrNoSecretKey
	}
	key, ok := k.Keys[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: key %q is not in the ring", ErrNoSecretKey, keyID)
	}
	raw, err := base64.StdEncoding.DecodeString(ct)
	if err != nil {
		return nil, errSecretUnreadable
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize() {
		return nil, errSecretUnreadable
	}
	secret, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		return nil, errSecretUnreadable
	}
	return secret, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return cipher.NewGCM(block)
}

// ReadKeyFile reads a key file: one key per line, "<id> <base64 of 32
// bytes>", the first line being the current key; blank lines and lines
// starting with '#' are ignored. CreateKeyFile writes one.
func ReadKeyFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	k := &Keyring{Keys: map[string][]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, enc, ok := strings.Cut(line, " ")
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		// The line is never repeated in the error: it holds a key.
		if !ok || err != nil || len(key) != 32 || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("read key file %s: line %d is not \"<id> <base64 of 32 bytes>\"", path, n)
		}
		if _, dup := k.Keys[id]; dup {
			return nil, fmt.Errorf("read key file %s: line %d repeats key id %q", path, n, id)
		}
		if k.Current == "" {
			k.Current = id
		}
		k.Keys[id] = key
	}
	if k.Current == "" {
		return nil, fmt.Errorf("read key file %s: no key", path)
	}
	return k, nil
}

// CreateKeyFile writes a new key file at path holding one random key with
// the given id, readable by its owner only (mode 0600). It fails if the
// file exists.
func CreateKeyFile(path, id string, random io.Reader) error {
	if !keyIDPattern.MatchString(id) {
		return fmt.Errorf("create key file: key id %q is not 1 to 64 of [A-Za-z0-9._-]", id)
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(random, key); err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	_, err = fmt.Fprintf(f, "# credstore TOTP secret keys: \"<id> <base64 key>\", the first is current.\n%s %s\n",
		id, base64.StdEncoding.EncodeToString(key))
	return errors.Join(err, f.Close())
}

// ReencryptSecrets moves every stored secret (TOTP factors, pending
// enrollments, and the private keys that sign access tokens) that is under another key than Config.SecretKeys'
// current one to the current key, and returns how many it moved. Secrets
// under the old keys keep working until then; once it returns without
// error, the old keys can leave the ring. Each row is rewritten only if it is
// unchanged since it was read, so it is safe beside logins and enrollments.
//
// A row that cannot be read (its key missing from the ring, or the row
// altered) is left as it is and the others are moved all the same; the
// error then says how many were left (ErrNoSecretKey when a key is
// missing). Errors: ErrNoSecretKey without a ring.
func (s *Store) ReencryptSecrets(ctx context.Context) (int64, error) {
	k := s.secretKeys()
	if k == nil {
		return 0, wrap("reencrypt secrets", ErrNoSecretKey)
	}
	type row struct {
		userID    int64 // the row's id: a user's, or a signing key's
		keyID, ct string
		aad       []byte
	}
	tables := []struct {
		name   string
		list   func(after int64) ([]row, error)
		update func(q *db.Queries, r row, keyID, ct string) (int64, error)
	}{
		{
			name: "factors",
			list: func(after int64) ([]row, error) {
				rs, err := read(ctx, s.q.ListTOTPFactorsToRekey, db.ListTOTPFactorsToRekeyParams{CurrentKeyID: k.Current, AfterUserID: after, MaxRows: rekeyBatch})
				out := make([]row, len(rs))
				for i, r := range rs {
					out[i] = row{r.UserID, r.KeyID, r.SecretCt, secretAAD(r.UserID)}
				}
				return out, err
			},
			update: func(q *db.Queries, r row, keyID, ct string) (int64, error) {
				return q.RekeyTOTPFactor(ctx, db.RekeyTOTPFactorParams{KeyID: keyID, NewSecretCt: ct, UserID: r.userID, OldSecretCt: r.ct})
			},
		},
		{
			name: "enrollments",
			list: func(after int64) ([]row, error) {
				rs, err := read(ctx, s.q.ListTOTPEnrollmentsToRekey, db.ListTOTPEnrollmentsToRekeyParams{CurrentKeyID: k.Current, AfterUserID: after, MaxRows: rekeyBatch})
				out := make([]row, len(rs))
				for i, r := range rs {
					out[i] = row{r.UserID, r.KeyID, r.SecretCt, secretAAD(r.UserID)}
				}
				return out, err
			},
			update: func(q *db.Queries, r row, keyID, ct string) (int64, error) {
				return q.RekeyTOTPEnrollment(ctx, db.RekeyTOTPEnrollmentParams{KeyID: keyID, NewSecretCt: ct, UserID: r.userID, OldSecretCt: r.ct})
			},
		},
		{
			name: "signing_keys",
			list: func(after int64) ([]row, error) {
				rs, err := read(ctx, s.q.ListSigningKeysToRekey, db.ListSigningKeysToRekeyParams{CurrentKeyID: k.Current, AfterID: after, MaxRows: rekeyBatch})
				out := make([]row, len(rs))
				for i, r := range rs {
					out[i] = row{r.ID, r.KeyID, r.PrivateCt, signingKeyAAD(r.Kid)}
				}
				return out, err
			},
			update: func(q *db.Queries, r row, keyID, ct string) (int64, error) {
				return q.RekeySigningKey(ctx, db.RekeySigningKeyParams{KeyID: keyID, NewPrivateCt: ct, ID: r.userID, OldPrivateCt: r.ct})
			},
		},
	}
	moved := map[string]int64{}
	var total, skipped int64
	missing := map[string]bool{} // ids of keys not in the ring
	// One short transaction per row, yielding the lock between them: on
	// SQLite the service beside it keeps writing (database.Yielding).
	ctx = database.Yielding(ctx)

	for _, tb := range tables {
		var after int64
		for {
			rows, err := tb.list(after)
			if err != nil {
				return total, wrap("reencrypt secrets", err)
			}
			for _, r := range rows {
				after = r.userID
				secret, err := k.openAAD(r.aad, r.keyID, r.ct)
				if err != nil {
					skipped++
					if errors.Is(err, ErrNoSecretKey) {
						missing[r.keyID] = true
					}
					continue
				}
				keyID, ct, err := k.sealAAD(s.cfg.Rand, r.aad, secret)
				if err != nil {
					return total, wrap("reencrypt secrets", err)
				}
				var n int64
				if err := s.inTx(ctx, "reencrypt secrets", func(tx *txn) error {
					var err error
					n, err = tb.update(tx.q, r, keyID, ct)
					return err
				}); err != nil {
					return total, err
				}
				moved[tb.name] += n
				total += n
			}
			if len(rows) < rekeyBatch {
				break
			}
		}
	}
	if total > 0 {
		err := s.inTx(ctx, "reencrypt secrets", func(tx *txn) error {
			tx.recordBy(EventSecretsReencrypted, nil, Actor{Kind: ActorSystem},
				map[string]any{"factors": moved["factors"], "enrollments": moved["enrollments"], "signing_keys": moved["signing_keys"], "key_id": k.Current})
			return nil
		})
		if err != nil {
			return total, err
		}
	}
	if skipped > 0 {
		if len(missing) > 0 {
			ids := slices.Sorted(maps.Keys(missing))
			return total, fmt.Errorf("reencrypt secrets: %d secrets could not be read and were left as they are (keys missing from the ring: %q): %w",
				skipped, ids, ErrNoSecretKey)
		}
		return total, fmt.Errorf("reencrypt secrets: %d secrets could not be read and were left as they are: %w", skipped, errSecretUnreadable)
	}
	return total, nil
}

// rekeyBatch is how many rows ReencryptSecrets reads at a time.
const rekeyBatch = 500
