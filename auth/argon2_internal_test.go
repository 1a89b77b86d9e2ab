package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/internal/testdb"
)

// TestDummyHashArgon2 is white-box for the reason TestDummyHashCost is: an
// unknown user's login compares against the dummy, so in an argon2id store
// the dummy must be an Argon2id hash with the store's own parameters, which
// no password matches.
func TestDummyHashArgon2(t *testing.T) {
	t.Parallel()
	for _, p := range []Argon2Params{{Memory: 64, Time: 1, Threads: 1}, {Memory: 256, Time: 3, Threads: 2}} {
		testdb.Run(t, func(t *testing.T, dsn string) {
			t.Parallel()
			cfg := Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true,
				PasswordHash: HashArgon2id, Argon2: p, InsecureAllowLowArgon2ParamsForTesting: true}
			s, err := Open(context.Background(), dsn, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			assert.Equal(t, HashArgon2id, hashAlgorithm(s.dummy))
			a, err := parseArgon2(s.dummy, s.hasher.maxMemory)
			require.NoError(t, err)
			assert.Equal(t, p, a.params)
			assert.Len(t, a.salt, argon2SaltLen)
			assert.Len(t, a.key, argon2KeyLen)
			assert.False(t, s.hasher.needsRehash(s.dummy), "the dummy is a hash of the store's parameters")
			assert.False(t, s.hasher.matches(s.dummy, "credstore dummy password"))
		})
	}
}

// TestHashMemoryBudget: the gate runs no more Argon2 hashes at once than
// fit in MaxHashMemory, each counted at the most memory a comparison may
// use.
func TestHashMemoryBudget(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	cases := []struct {
		name    string
		cfg     Config
		turns   int
		wantErr string
	}{
		{"no budget", Config{MaxConcurrentHashes: 8}, 8, ""},
		{"three default hashes", Config{MaxConcurrentHashes: 8, PasswordHash: HashArgon2id, MaxHashMemory: 200 * mib}, 3, ""},
		{"a bcrypt store counts imported argon2", Config{MaxConcurrentHashes: 8, MaxHashMemory: 128 * mib}, 2, ""},
		{"bigger hashes", Config{MaxConcurrentHashes: 8, PasswordHash: HashArgon2id, Argon2: Argon2Params{Memory: 256 * 1024, Time: 1, Threads: 4}, MaxHashMemory: 1024 * mib}, 4, ""},
		{"budget above concurrency", Config{MaxConcurrentHashes: 2, MaxHashMemory: 1024 * mib}, 2, ""},
		{"below one hash", Config{MaxConcurrentHashes: 2, MaxHashMemory: 63 * mib}, 0, "MaxHashMemory"},
		{"negative", Config{MaxHashMemory: -1}, 0, "MaxHashMemory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := OpenMemory(context.Background(), c.cfg)
			if c.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.wantErr)
				return
			}
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			assert.Equal(t, c.turns, cap(s.gate.running))
			assert.LessOrEqual(t, int64(cap(s.gate.running))*s.hasher.turnBytes(), max(c.cfg.MaxHashMemory, int64(c.turns)*s.hasher.turnBytes()))
		})
	}
}

// TestParseArgon2 checks the stored forms round-trip and that the hash of a
// stored form is refused beyond the store's memory.
func TestParseArgon2(t *testing.T) {
	t.Parallel()
	p := Argon2Params{Memory: 64, Time: 1, Threads: 1}
	h := hasher{algorithm: HashArgon2id, argon2: p, maxMemory: DefaultArgon2Params.Memory}
	hash, err := h.hash("password-a")
	require.NoError(t, err)
	assert.True(t, h.matches(hash, "password-a"))
	assert.False(t, h.matches(hash, "password-b"))
	assert.False(t, hasher{maxMemory: 32}.matches(hash, "password-a"), "beyond the memory bound, nothing matches")

	salted := []byte(saltedHash(string(hash), "pepper"))
	assert.Equal(t, "argon2id+salt", hashAlgorithm(salted))
	assert.False(t, h.matches(salted, "password-a"), "the hash is of password-a, not of password-a+pepper")
	salted2, err := h.hash("password-a" + "pepper")
	require.NoError(t, err)
	stored := []byte(saltedHash(string(salted2), "pepper"))
	assert.True(t, h.matches(stored, "password-a"))
	assert.True(t, h.needsRehash(stored), "a salted hash is always rehashed")
	assert.False(t, strings.Contains(string(stored), "pepper"), "the salt is encoded")
}
