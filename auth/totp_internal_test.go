package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/db"
	"github.com/credstore/credstore/internal/testdb"
)

// The pieces of the second factor that need no database: the TOTP
// verifier against RFC 6238's own test vectors, the recovery codes' form
// and normalisation, and the keyring's encryption.

// rfc6238Seeds are Appendix B's seeds as the RFC's reference code uses them
// (erratum 2866: the text says the 20-byte seed for every hash, the code
// uses one of the hash's block size in bytes for SHA-256 and SHA-512).
var rfc6238Seeds = map[otp.Algorithm][]byte{
	otp.AlgorithmSHA1:   []byte("12345678901234567890"),
	otp.AlgorithmSHA256: []byte("12345678901234567890123456789012"),
	otp.AlgorithmSHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
}

// rfc6238Vectors is RFC 6238 Appendix B's table: the time, and the 8-digit
// code of each hash.
var rfc6238Vectors = []struct {
	unix                 int64
	sha1, sha256, sha512 string
}{
	{59, "94287082", "46119246", "90693936"},
	{1111111109, "07081804", "68084774", "25091201"},
	{1111111111, "14050471", "67062674", "99943326"},
	{1234567890, "89005924", "91819424", "93441116"},
	{2000000000, "69279037", "90698825", "38618901"},
	{20000000000, "65353130", "77737706", "47863826"},
}

// TestTOTPRFC6238Vectors runs every row of RFC 6238 Appendix B through
// matchTOTP, the verification path, with 8 digits as the RFC prints them and
// with 6 (the last six, what credstore enrolls), and checks the step it
// reports is the time's.
func TestTOTPRFC6238Vectors(t *testing.T) {
	t.Parallel()
	require.Len(t, rfc6238Seeds[otp.AlgorithmSHA1], 20)
	require.Len(t, rfc6238Seeds[otp.AlgorithmSHA256], 32)
	require.Len(t, rfc6238Seeds[otp.AlgorithmSHA512], 64)
	for _, v := range rfc6238Vectors {
		now := time.Unix(v.unix, 0)
		for _, c := range []struct {
			alg  otp.Algorithm
			code string
		}{{otp.AlgorithmSHA1, v.sha1}, {otp.AlgorithmSHA256, v.sha256}, {otp.AlgorithmSHA512, v.sha512}} {
			seed := rfc6238Seeds[c.alg]
			for _, digits := range []otp.Digits{otp.DigitsEight, otp.DigitsSix} {
				code := c.code[len(c.code)-digits.Length():]
				step, ok := matchTOTP(seed, code, now, totpParams{alg: c.alg, digits: digits})
				assert.True(t, ok, "T=%d %s %d digits: %s", v.unix, c.alg, digits, code)
				assert.Equal(t, uint64(v.unix/30), step, "T=%d %s %d digits: the step of the code", v.unix, c.alg, digits)
			}
			// The same code under another hash is another code.
			other := otp.AlgorithmSHA1
			if c.alg == otp.AlgorithmSHA1 {
				other = otp.AlgorithmSHA512
			}
			_, ok := matchTOTP(rfc6238Seeds[other], c.code, now, totpParams{alg: other, digits: otp.DigitsEight})
			assert.False(t, ok, "T=%d: the %s code under %s", v.unix, c.alg, other)
		}
	}
	// The default parameters are the SHA-1, 6-digit row.
	step, ok := matchTOTP(rfc6238Seeds[otp.AlgorithmSHA1], "287082", time.Unix(59, 0), defaultTOTP)
	assert.True(t, ok)
	assert.Equal(t, uint64(1), step)
}

// TestTOTPSkewAndFormat: a code is accepted one step either side of now and
// reports the step it belongs to; two steps off it is refused; so is a code
// of the wrong length or with anything but digits in it.
func TestTOTPSkewAndFormat(t *testing.T) {
	t.Parallel()
	seed := rfc6238Seeds[otp.AlgorithmSHA1]
	now := time.Unix(1234567890, 0) // step 41152263, 0 s into it
	cur := totpStep(now)
	require.Equal(t, uint64(41152263), cur)
	// The codes are computed here, from RFC 4226, not by the otp library
	// that matchTOTP calls.
	codeAt := func(step uint64) string { return rfc4226(seed, step, 6) }
	require.Equal(t, "005924", codeAt(cur), "the RFC's vector")

	for _, d := range []int64{-1, 0, 1} {
		step := uint64(int64(cur) + d)
		got, ok := matchTOTP(seed, codeAt(step), now, defaultTOTP)
		assert.True(t, ok, "a code %+d step(s) off is accepted", d)
		assert.Equal(t, step, got, "a code %+d step(s) off belongs to its own step", d)
		// The same, at the very start and end of the current step.
		_, ok = matchTOTP(seed, codeAt(step), now.Add(29*time.Second+999*time.Millisecond), defaultTOTP)
		assert.True(t, ok, "%+d, at the end of the step", d)
	}
	for _, d := range []int64{-3, -2, 2, 3} {
		code := codeAt(uint64(int64(cur) + d))
		if code == codeAt(cur-1) || code == codeAt(cur) || code == codeAt(cur+1) {
			continue // one chance in a few hundred thousand: the codes coincide
		}
		_, ok := matchTOTP(seed, code, now, defaultTOTP)
		assert.False(t, ok, "a code %+d steps off is refused", d)
	}

	right := codeAt(cur)
	for _, code := range []string{
		"", right[:5], right + "0", "0" + right, right[:3] + " " + right[3:5], " " + right[:5],
		"12345a", "abcdef", "-12345", "+12345", "１２３４５６", "12345\x00", "000000\n",
	} {
		_, ok := matchTOTP(seed, code, now, defaultTOTP)
		assert.False(t, ok, "code %q", code)
	}
	// Eight digits where six are expected, and six where eight are.
	_, ok := matchTOTP(seed, "89005924", now, defaultTOTP)
	assert.False(t, ok, "eight digits for a six-digit factor")
	_, ok = matchTOTP(seed, "005924", now, totpParams{alg: otp.AlgorithmSHA1, digits: otp.DigitsEight})
	assert.False(t, ok, "six digits for an eight-digit factor")
}

// rfc4226 is HOTP as RFC 4226 §5.3 defines it, with SHA-1: HMAC of the
// big-endian counter, dynamic truncation, the last digits.
func rfc4226(secret []byte, counter uint64, digits int) string {
	mac := hmac.New(sha1.New, secret)
	_ = binary.Write(mac, binary.BigEndian, counter)
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

func TestRecoveryCodeHash(t *testing.T) {
	t.Parallel()
	const normal = "01AB-CDEF-GHJK-MNPZ"
	want := hashRecoveryCode("01ABCDEFGHJKMNPZ")
	for _, typed := range []string{
		normal,
		"01ABCDEFGHJKMNPZ",
		"01ab-cdef-ghjk-mnpz",
		"01abcdefghjkmnpz",
		"01AB CDEF GHJK MNPZ",
		" 01AB-CDEF-GHJK-MNPZ ",
		"0-1-A-B-C-D-E-F-G-H-J-K-M-N-P-Z",
		"OIAB-CDEF-GHJK-MNPZ", // O for 0, I for 1
		"oLAB-CDEF-GHJK-MNPZ", // o for 0, L for 1
		"OlAb-cDeF-gHjK-mNpZ",
		"Oiab cdef ghjk mnpz",
	} {
		got, ok := recoveryCodeHash(typed)
		if assert.True(t, ok, "%q", typed) {
			assert.Equal(t, want, got, "%q", typed)
		}
	}
	for _, bad := range []string{
		"",
		"----",
		"01AB-CDEF-GHJK-MNP",   // 15 characters
		"01AB-CDEF-GHJK-MNPZ0", // 17
		"01AB-CDEF-GHJK-MNPZ-01AB-CDEF-GHJK-MNPZ",
		"01AB-CDEF-GHJK-MNPU", // U is not in the alphabet
		"01AB-CDEF-GHJK-MNPu",
		"01AB_CDEF_GHJK_MNPZ", // only dashes and spaces separate
		"01AB-CDEF-GHJK-MNP!",
		"01AB-CDEF-GHJK-MNP\x00",
		"01AB\tCDEF\tGHJK\tMNPZ",
		"01AB-CDEF-GHJK-MNPÉ",
		"０1AB-CDEF-GHJK-MNPZ", // a full-width digit
		"01AB-CDEF-GHJK-MNP\xff",
	} {
		h, ok := recoveryCodeHash(bad)
		assert.False(t, ok, "%q", bad)
		assert.Empty(t, h, "%q", bad)
	}
	// Different codes, different hashes; the hash is of the normal form,
	// not the bare SHA-256 of the code.
	other, ok := recoveryCodeHash("01AB-CDEF-GHJK-MNPY")
	require.True(t, ok)
	assert.NotEqual(t, want, other)
	assert.Regexp(t, `^[0-9a-f]{64}$`, want)
}

// recoveryCodeForm is how newRecoveryCodes writes a code: four groups of
// four of Crockford's base-32 digits.
var recoveryCodeForm = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)

func TestRecoveryCodesNew(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 20 {
		codes, hashes, err := newRecoveryCodes(rand.Reader)
		require.NoError(t, err)
		require.Len(t, codes, RecoveryCodeCount)
		require.Len(t, hashes, RecoveryCodeCount)
		require.Equal(t, 10, RecoveryCodeCount)
		for i, c := range codes {
			assert.Regexp(t, recoveryCodeForm, c)
			assert.False(t, seen[c], "code %s drawn twice", c)
			seen[c] = true
			h, ok := recoveryCodeHash(c)
			assert.True(t, ok, c)
			assert.Equal(t, hashes[i], h, "the stored hash is the typed code's")
		}
	}
	assert.Len(t, seen, 200)

	// 80 bits each: the 10 bytes drawn are the code.
	src := bytes.Repeat([]byte{0}, 9)
	src = append(src, 1)
	codes, _, err := newRecoveryCodes(bytes.NewReader(bytes.Repeat(src, RecoveryCodeCount)))
	require.NoError(t, err)
	assert.Equal(t, "0000-0000-0000-0001", codes[0])

	// A source that runs dry is an error, not a short or weak set.
	_, _, err = newRecoveryCodes(bytes.NewReader(make([]byte, 10*RecoveryCodeCount-1)))
	assert.Error(t, err)
	_, _, err = newRecoveryCodes(iotest.ErrReader(errors.New("no entropy")))
	assert.ErrorContains(t, err, "no entropy")
}

func TestKeyringSealOpen(t *testing.T) {
	t.Parallel()
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	k := &Keyring{Current: "k2", Keys: map[string][]byte{"k1": key(1), "k2": key(2)}}
	require.NoError(t, k.check())
	secret := []byte("twenty bytes secret!")

	id, ct, err := k.seal(rand.Reader, 7, secret)
	require.NoError(t, err)
	assert.Equal(t, "k2", id, "sealed under the current key")
	got, err := k.open(7, id, ct)
	require.NoError(t, err)
	assert.Equal(t, secret, got)
	assert.NotContains(t, ct, string(secret))
	raw, err := base64.StdEncoding.DecodeString(ct)
	require.NoError(t, err)
	assert.Len(t, raw, 12+len(secret)+16, "nonce, ciphertext, tag")
	assert.False(t, bytes.Contains(raw, secret))

	id2, ct2, err := k.seal(rand.Reader, 7, secret)
	require.NoError(t, err)
	assert.Equal(t, id, id2)
	assert.NotEqual(t, ct, ct2, "a fresh nonce every time")

	// A secret sealed under an older key of the ring still opens.
	old := &Keyring{Current: "k1", Keys: map[string][]byte{"k1": key(1)}}
	oid, oct, err := old.seal(rand.Reader, 7, secret)
	require.NoError(t, err)
	got, err = k.open(7, oid, oct)
	require.NoError(t, err)
	assert.Equal(t, secret, got)

	// Another user's id as the additional data: it does not open.
	_, err = k.open(8, id, ct)
	assert.ErrorIs(t, err, errSecretUnreadable)
	_, err = k.open(70, id, ct)
	assert.ErrorIs(t, err, errSecretUnreadable, "70 is not 7 (the AAD is not a prefix match)")

	// Any byte changed: it does not open.
	for i := range raw {
		tampered := bytes.Clone(raw)
		tampered[i] ^= 0x01
		_, err := k.open(7, id, base64.StdEncoding.EncodeToString(tampered))
		assert.ErrorIs(t, err, errSecretUnreadable, "byte %d flipped", i)
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(raw[:11]),
		base64.StdEncoding.EncodeToString(raw[:12]), base64.StdEncoding.EncodeToString(raw[:len(raw)-1])} {
		_, err := k.open(7, id, bad)
		assert.ErrorIs(t, err, errSecretUnreadable, "%q", bad)
	}
	// Under the other key of the ring (a key id changed in the row).
	_, err = k.open(7, "k1", ct)
	assert.ErrorIs(t, err, errSecretUnreadable)

	// A key id the ring does not hold.
	_, err = k.open(7, "k3", ct)
	assert.ErrorIs(t, err, ErrNoSecretKey)
	assert.NotErrorIs(t, err, errSecretUnreadable)
	_, err = old.open(7, "k2", ct)
	assert.ErrorIs(t, err, ErrNoSecretKey)

	// No ring at all.
	var none *Keyring
	_, _, err = none.seal(rand.Reader, 7, secret)
	assert.ErrorIs(t, err, ErrNoSecretKey)
	_, err = none.open(7, id, ct)
	assert.ErrorIs(t, err, ErrNoSecretKey)
	assert.NoError(t, none.check())

	// A random source that fails is an error, not a zero nonce.
	_, _, err = k.seal(iotest.ErrReader(errors.New("no entropy")), 7, secret)
	assert.ErrorContains(t, err, "no entropy")

	// The ring's own checks.
	for name, bad := range map[string]*Keyring{
		"current not in the ring": {Current: "k3", Keys: map[string][]byte{"k1": key(1)}},
		"empty ring":              {Current: "k1"},
		"short key":               {Current: "k1", Keys: map[string][]byte{"k1": key(1)[:16]}},
		"long key":                {Current: "k1", Keys: map[string][]byte{"k1": append(key(1), 0)}},
		"bad id":                  {Current: "k1", Keys: map[string][]byte{"k1": key(1), "k 2": key(2)}},
		"empty id":                {Current: "", Keys: map[string][]byte{"": key(1)}},
	} {
		assert.Error(t, bad.check(), name)
	}
}

// TestSecondFactorRehashBetweenCheckAndChallenge: a concurrent login that
// rehashes the same password between a login's check and its challenge
// must not fail the login, as it does not fail a session
// (TestRehashBetweenCheckAndWrite).
func TestSecondFactorRehashBetweenCheckAndChallenge(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		lenient := ThrottlePolicy{FreeFailures: 1e6, BaseDelay: time.Second, MaxDelay: time.Second, DailyFailures: 1e6}
		s, err := Open(ctx, dsn, Config{
			BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, LoginThrottle: lenient, ResetThrottle: lenient,
			SecretKeys: &Keyring{Current: "k1", Keys: map[string][]byte{"k1": bytes.Repeat([]byte{1}, 32)}},
		})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		u, err := s.Register(ctx, Registration{Username: "alice", Email: "alice@example.com", Password: "password-a"})
		require.NoError(t, err)
		e, err := s.EnrollTOTP(ctx, u.ID)
		require.NoError(t, err)
		c, err := totp.GenerateCode(e.Secret, time.Now())
		require.NoError(t, err)
		_, err = s.ConfirmTOTP(ctx, u.ID, TOTPConfirmation{Code: c, Password: "password-a"})
		require.NoError(t, err)

		attempt := LoginAttempt{Identifier: "alice", Password: "password-a"}
		v, err := s.authenticate(ctx, attempt)
		require.NoError(t, err)
		h, err := hasher{algorithm: HashBcrypt, cost: 5}.hash("password-a")
		require.NoError(t, err)
		require.NoError(t, s.inTx(ctx, "rehash", func(tx *txn) error {
			n, err := tx.q.RehashPassword(ctx, db.RehashPasswordParams{NewHash: string(h), OldHash: v.password.hash, UserID: u.ID})
			require.EqualValues(t, 1, n)
			return err
		}))
		err = s.requireSecondFactor(ctx, v)
		var sf *SecondFactorRequiredError
		require.ErrorAs(t, err, &sf, "the password is still right: a challenge, not %v", err)
	})
}

// TestFactorChangeAfterPasswordWrite: removing the factor or regenerating
// the recovery codes checks the password and a code outside the
// transaction; a password written between the check and the transaction
// (the owner's reset of a stolen password) voids the check, and a rehash of
// the same password does not.
func TestFactorChangeAfterPasswordWrite(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s, err := Open(ctx, dsn, Config{
			BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true,
			SecretKeys: &Keyring{Current: "k1", Keys: map[string][]byte{"k1": bytes.Repeat([]byte{1}, 32)}},
		})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		u, err := s.Register(ctx, Registration{Username: "alice", Email: "alice@example.com", Password: "password-a"})
		require.NoError(t, err)
		e, err := s.EnrollTOTP(ctx, u.ID)
		require.NoError(t, err)
		c, err := totp.GenerateCode(e.Secret, time.Now().Add(-30*time.Second))
		require.NoError(t, err)
		_, err = s.ConfirmTOTP(ctx, u.ID, TOTPConfirmation{Code: c, Password: "password-a"})
		require.NoError(t, err)
		c, err = totp.GenerateCode(e.Secret, time.Now())
		require.NoError(t, err)

		step, f, hash, err := s.checkSecondFactor(ctx, "remove totp", u.ID, "password-a", c)
		require.NoError(t, err)
		require.NoError(t, s.SetPassword(ctx, u.ID, "password-b"))
		err = s.removeTOTP(ctx, "remove totp", u.ID, 0, &f, step, hash)
		require.ErrorIs(t, err, errCredentialChanged)
		err = s.regenerateRecoveryCodes(ctx, u.ID, f, step, nil, 0, hash)
		require.ErrorIs(t, err, errCredentialChanged)
		st, err := s.TwoFactor(ctx, u.ID)
		require.NoError(t, err)
		assert.True(t, st.TOTPEnabled, "the factor stays")
		assert.Equal(t, RecoveryCodeCount, st.RecoveryCodesLeft, "and its codes")

		// Through the exported methods, whose retry verifies the password
		// again: the old one no longer works, the new one does.
		require.ErrorIs(t, s.RemoveTOTP(ctx, u.ID, "password-a", c, 0), ErrInvalidCredentials)
		require.NoError(t, s.RemoveTOTP(ctx, u.ID, "password-b", c, 0))
	})
}
