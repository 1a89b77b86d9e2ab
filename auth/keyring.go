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
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/credstore/credstore/db"
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
// cannot store a TOTP secret, or has none of the key a secret was stored
// under.
var ErrNoSecretKey = errors.New("no key to encrypt or decrypt TOTP secrets (Config.SecretKeys)")

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

// secretAAD binds a ciphertext to its user: moved to another user's row, it
// does not decrypt.
func secretAAD(userID int64) []byte {
	return []byte("credstore totp secret v1 user " + strconv.FormatInt(userID, 10))
}

// seal encrypts a user's secret under the current key with AES-256-GCM and
// returns the key's id and base64(nonce || ciphertext).
func (k *Keyring) seal(random io.Reader, userID int64, secret []byte) (keyID, ct string, err error) {
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
	out := aead.Seal(nonce, nonce, secret, secretAAD(userID))
	return k.Current, base64.StdEncoding.EncodeToString(out), nil
}

// errSecretUnreadable means a stored secret does not decrypt: a key is
// missing from the ring, or the row was altered or moved.
var errSecretUnreadable = errors.New("TOTP secret does not decrypt")

// open decrypts a user's secret.
func (k *Keyring) open(userID int64, keyID, ct string) ([]byte, error) {
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
	secret, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], secretAAD(userID))
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

// ReencryptSecrets moves every stored TOTP secret (active factors and
// pending enrollments) that is under another key than Config.SecretKeys'
// current one to the current key, and returns how many it moved. Secrets
// under the old keys keep working until then; once it returns, the old keys
// can leave the ring. Each row is rewritten only if it is unchanged since it
// was read, so it is safe beside logins and enrollments.
//
// Errors: ErrNoSecretKey without a ring, or when a row's key is missing from
// it (that row cannot be read, and is left as it is).
func (s *Store) ReencryptSecrets(ctx context.Context) (int64, error) {
	k := s.cfg.SecretKeys
	if k == nil {
		return 0, wrap("reencrypt secrets", ErrNoSecretKey)
	}
	var factors, enrollments int64
	const batch = 500
	for {
		rows, err := s.queries().ListTOTPFactorsToRekey(ctx, db.ListTOTPFactorsToRekeyParams{CurrentKeyID: k.Current, MaxRows: batch})
		if err != nil {
			return factors + enrollments, wrap("reencrypt secrets", err)
		}
		moved, err := s.rekey(ctx, len(rows), func(i int) (int64, string, string) { return rows[i].UserID, rows[i].KeyID, rows[i].SecretCt },
			func(q *db.Queries, userID int64, keyID, oldCT, newCT string) (int64, error) {
				return q.RekeyTOTPFactor(ctx, db.RekeyTOTPFactorParams{KeyID: keyID, NewSecretCt: newCT, UserID: userID, OldSecretCt: oldCT})
			})
		factors += moved
		if err != nil {
			return factors + enrollments, err
		}
		if len(rows) < batch {
			break
		}
	}
	for {
		rows, err := s.queries().ListTOTPEnrollmentsToRekey(ctx, db.ListTOTPEnrollmentsToRekeyParams{CurrentKeyID: k.Current, MaxRows: batch})
		if err != nil {
			return factors + enrollments, wrap("reencrypt secrets", err)
		}
		moved, err := s.rekey(ctx, len(rows), func(i int) (int64, string, string) { return rows[i].UserID, rows[i].KeyID, rows[i].SecretCt },
			func(q *db.Queries, userID int64, keyID, oldCT, newCT string) (int64, error) {
				return q.RekeyTOTPEnrollment(ctx, db.RekeyTOTPEnrollmentParams{KeyID: keyID, NewSecretCt: newCT, UserID: userID, OldSecretCt: oldCT})
			})
		enrollments += moved
		if err != nil {
			return factors + enrollments, err
		}
		if len(rows) < batch {
			break
		}
	}
	if factors+enrollments > 0 {
		err := s.inTx(ctx, "reencrypt secrets", func(tx *txn) error {
			tx.recordBy(EventSecretsReencrypted, nil, Actor{Kind: ActorSystem},
				map[string]any{"factors": factors, "enrollments": enrollments, "key_id": k.Current})
			return nil
		})
		if err != nil {
			return factors + enrollments, err
		}
	}
	return factors + enrollments, nil
}

// rekey re-encrypts n rows, each in a transaction of its own.
func (s *Store) rekey(ctx context.Context, n int, row func(int) (int64, string, string),
	update func(q *db.Queries, userID int64, keyID, oldCT, newCT string) (int64, error)) (int64, error) {
	var moved int64
	for i := range n {
		userID, keyID, oldCT := row(i)
		secret, err := s.cfg.SecretKeys.open(userID, keyID, oldCT)
		if err != nil {
			return moved, wrap("reencrypt secrets", err)
		}
		newKey, newCT, err := s.cfg.SecretKeys.seal(s.cfg.Rand, userID, secret)
		if err != nil {
			return moved, wrap("reencrypt secrets", err)
		}
		err = s.inTx(ctx, "reencrypt secrets", func(tx *txn) error {
			m, err := update(tx.q, userID, newKey, oldCT, newCT)
			moved += m
			return err
		})
		if err != nil {
			return moved, err
		}
	}
	return moved, nil
}
