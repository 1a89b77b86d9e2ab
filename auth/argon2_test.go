package auth_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// lowArgon2 are Argon2id parameters cheap enough for tests.
var lowArgon2 = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// withArgon2 makes the store hash with Argon2id at p.
func withArgon2(p auth.Argon2Params) func(*auth.Config) {
	return func(c *auth.Config) {
		c.PasswordHash, c.Argon2, c.InsecureAllowLowArgon2ParamsForTesting = auth.HashArgon2id, p, true
	}
}

// phc makes an Argon2id PHC string of secret, as another system would.
func phc(secret string, m, t uint32, p uint8) string {
	salt := []byte("saltsaltsaltsalt")
	key := argon2.IDKey([]byte(secret), salt, t, m, p, 32)
	enc := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p, enc(salt), enc(key))
}

// argon2Prefix is the start of an Argon2id hash made with p.
func argon2Prefix(p auth.Argon2Params) string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", p.Memory, p.Time, p.Threads)
}

func TestArgon2idStoreRegistersAndLogsIn(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		raw := testdb.Raw(t, dsn)
		s := newStore(t, dsn, withArgon2(lowArgon2))
		alice := mustRegister(t, s, reg("alice"))
		h, _ := storedHash(t, raw, alice.ID)
		assert.True(t, strings.HasPrefix(h, argon2Prefix(lowArgon2)), "stored %.30q…", h)

		_, err := s.Login(ctx, "alice", "wrong password")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		got, err := s.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err)
		assert.Equal(t, alice.ID, got.ID)
		after, _ := storedHash(t, raw, alice.ID)
		assert.Equal(t, h, after, "a hash of the store's parameters is kept")
	})
}

// A login rehashes to the store's algorithm and parameters whatever the
// stored hash was made with, without moving password_changed_at.
func TestRehashAcrossAlgorithms(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		raw := testdb.Raw(t, dsn)
		clk := testdb.NewClock(t0)
		bcryptStore := newStore(t, dsn, withClock(clk))
		alice := mustRegister(t, bcryptStore, reg("alice"))
		h, changed := storedHash(t, raw, alice.ID)
		require.True(t, strings.HasPrefix(h, "$2a$04$"))

		clk.Advance(time.Hour)
		argonStore := newStore(t, dsn, withArgon2(lowArgon2), withClock(clk))
		_, err := argonStore.Login(ctx, "alice", "wrong password")
		require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		unchanged, _ := storedHash(t, raw, alice.ID)
		assert.Equal(t, h, unchanged, "a failed login must not rehash")
		_, err = argonStore.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err, "a bcrypt hash verifies in an argon2id store")
		h, changedAfter := storedHash(t, raw, alice.ID)
		assert.True(t, strings.HasPrefix(h, argon2Prefix(lowArgon2)), "bcrypt → argon2id: %.30q…", h)
		assert.True(t, changed.Equal(changedAfter), "a rehash is not a password change")

		stronger := auth.Argon2Params{Memory: 128, Time: 2, Threads: 2}
		strongStore := newStore(t, dsn, withArgon2(stronger), withClock(clk))
		_, err = strongStore.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err, "weaker parameters verify")
		h, _ = storedHash(t, raw, alice.ID)
		assert.True(t, strings.HasPrefix(h, argon2Prefix(stronger)), "weaker argon2id → the store's: %.30q…", h)

		_, err = bcryptStore.Login(ctx, "alice", pw("alice"))
		require.NoError(t, err, "an argon2id hash verifies in a bcrypt store")
		h, _ = storedHash(t, raw, alice.ID)
		cost, err := bcrypt.Cost([]byte(h))
		require.NoError(t, err, "argon2id → bcrypt")
		assert.Equal(t, 4, cost)
	})
}

// Imported Argon2id hashes, with or without a separate salt, log in with
// the old password and are rehashed to the store's algorithm at that login.
func TestImportArgon2(t *testing.T) {
	t.Parallel()
	for _, algorithm := range []string{auth.HashArgon2id, auth.HashBcrypt} {
		t.Run(algorithm, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				raw := testdb.Raw(t, dsn)
				opts := []func(*auth.Config){}
				if algorithm == auth.HashArgon2id {
					opts = append(opts, withArgon2(lowArgon2))
				}
				s := newStore(t, dsn, opts...)
				rows := []auth.ImportedUser{
					{Line: 1, Username: "plain", Email: "plain@example.com", PasswordHash: phc("old-plain-password", 32, 1, 1)},
					{Line: 2, Username: "salted", Email: "salted@example.com", PasswordHash: phc("old-salted-password"+"pepper$1", 32, 1, 1), PasswordSalt: "pepper$1"},
					// The stored form of a salted hash, as an export with
					// hashes writes it, imports back.
					{Line: 3, Username: "stored", Email: "stored@example.com", PasswordHash: "$credstore-salted$" + base64.RawStdEncoding.EncodeToString([]byte("pep")) + phc("old-stored-password"+"pep", 32, 1, 1)},
				}
				results, err := s.ImportUsers(ctx, rows, auth.ImportOptions{})
				require.NoError(t, err)
				for _, r := range results {
					require.NoError(t, r.Err, "line %d", r.Line)
				}
				for i, name := range []string{"plain", "salted", "stored"} {
					password := "old-" + name + "-password"
					_, err := s.Login(ctx, name, password+"x")
					require.ErrorIs(t, err, auth.ErrInvalidCredentials)
					if name == "salted" {
						_, err = s.Login(ctx, name, password+"pepper$1")
						require.ErrorIs(t, err, auth.ErrInvalidCredentials, "the salt is the store's to add")
					}
					before, _ := storedHash(t, raw, results[i].User.ID)
					u, err := s.Login(ctx, name, password)
					require.NoError(t, err, "%s logs in with the old password", name)
					assert.Equal(t, results[i].User.ID, u.ID)
					h, _ := storedHash(t, raw, u.ID)
					assert.NotEqual(t, before, h, "%s rehashed", name)
					if algorithm == auth.HashArgon2id {
						assert.True(t, strings.HasPrefix(h, argon2Prefix(lowArgon2)), "%s: %.30q…", name, h)
					} else {
						assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(h), []byte(password)), name)
					}
					_, err = s.Login(ctx, name, password)
					require.NoError(t, err, "%s logs in after the rehash", name)
				}
			})
		})
	}
}

// Hashes that are malformed, or whose parameters would make a login cost
// minutes or gigabytes, are refused by the import, naming the field.
func TestImportRefusesHostileArgon2(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn)
		good := phc("secret", 32, 1, 1)
		salt := strings.Split(good, "$")[4]
		key := strings.Split(good, "$")[5]
		cases := []struct {
			name, hash, salt, field string
		}{
			{"4 GiB", fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", 4<<20, salt, key), "", auth.FieldPasswordHash},
			{"above the store's memory", fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", 64*1024+1, salt, key), "", auth.FieldPasswordHash},
			{"a thousand passes", "$argon2id$v=19$m=32,t=1000,p=1$" + salt + "$" + key, "", auth.FieldPasswordHash},
			{"255 lanes", "$argon2id$v=19$m=4096,t=1,p=255$" + salt + "$" + key, "", auth.FieldPasswordHash},
			{"no passes", "$argon2id$v=19$m=32,t=0,p=1$" + salt + "$" + key, "", auth.FieldPasswordHash},
			{"memory below 8p", "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key, "", auth.FieldPasswordHash},
			{"argon2i", "$argon2i$v=19$m=32,t=1,p=1$" + salt + "$" + key, "", auth.FieldPasswordHash},
			{"version 16", "$argon2id$v=16$m=32,t=1,p=1$" + salt + "$" + key, "", auth.FieldPasswordHash},
			{"parameters out of order", "$argon2id$v=19$t=1,m=32,p=1$" + salt + "$" + key, "", auth.FieldPasswordHash},
			{"leading zero", "$argon2id$v=19$m=032,t=1,p=1$" + salt + "$" + key, "", auth.FieldPasswordHash},
			{"padded base64", "$argon2id$v=19$m=32,t=1,p=1$" + salt + "==$" + key, "", auth.FieldPasswordHash},
			{"short salt", "$argon2id$v=19$m=32,t=1,p=1$c2FsdA$" + key, "", auth.FieldPasswordHash},
			{"no hash", "$argon2id$v=19$m=32,t=1,p=1$" + salt, "", auth.FieldPasswordHash},
			{"trailing field", good + "$x", "", auth.FieldPasswordHash},
			{"salt with bcrypt", "$2a$04$" + strings.Repeat("a", 53), "pepper", auth.FieldPasswordSalt},
			{"salt too long", good, strings.Repeat("s", 257), auth.FieldPasswordSalt},
			{"salt without hash", "", "pepper", auth.FieldPasswordSalt},
		}
		rows := make([]auth.ImportedUser, len(cases))
		for i, c := range cases {
			name := fmt.Sprintf("user%d", i)
			rows[i] = auth.ImportedUser{Line: i, Username: name, Email: name + "@example.com", PasswordHash: c.hash, PasswordSalt: c.salt}
		}
		results, err := s.ImportUsers(ctx, rows, auth.ImportOptions{})
		require.NoError(t, err)
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				verr := requireValidation(t, results[i].Err, c.field)
				assert.NotContains(t, verr.Error(), key, "never quote the hash")
			})
		}
	})
}
