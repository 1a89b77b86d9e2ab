package auth

import (
	"encoding/hex"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzTokenHash: a token is accepted only in the one spelling newToken
// makes of its bytes, and its stored form is always 64 lower-case hex
// characters, so nothing else a client sends reaches a query.
func FuzzTokenHash(f *testing.F) {
	for _, s := range []string{"", "garbage", strings.Repeat("A", 43), strings.Repeat("A", 42) + "B", strings.Repeat("_", 43),
		strings.Repeat("-", 43), strings.Repeat("A", 44), "\x00" + strings.Repeat("A", 42), strings.Repeat("é", 21)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		hash, ok := tokenHash(token)
		if !ok {
			if hash != "" {
				t.Fatalf("refused token %q has hash %q", token, hash)
			}
			return
		}
		if len(hash) != 64 || strings.ToLower(hash) != hash {
			t.Fatalf("hash %q is not 64 lower-case hex characters", hash)
		}
		if _, err := hex.DecodeString(hash); err != nil {
			t.Fatalf("hash %q: %v", hash, err)
		}
		b, err := tokenEncoding.DecodeString(token)
		if err != nil || tokenEncoding.EncodeToString(b) != token || hashTokenBytes(b) != hash {
			t.Fatalf("token %q accepted but is not the canonical spelling of its bytes", token)
		}
	})
}

// FuzzValidateRegistration: validation never panics, never repeats the
// submitted value in a message, and accepts an email only with a canonical
// form that is valid UTF-8; an accepted password has no control character
// and fits bcrypt.
// ruleExamples are the examples validation messages give, which an input
// may happen to contain without the message repeating it.
const ruleExamples = "name@example.com"

func FuzzValidateRegistration(f *testing.F) {
	f.Add("alice", "alice@example.com", "+15551230001", "password-a")
	f.Add("bob", "B\u00f6b@B\u00dcCHER.example", "", "p\x00ssword")
	f.Add("", "\uff41@example.com", "+1", strings.Repeat("x", 73))
	f.Add("c d", "a\u200b@example.com", "15551230001", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8")
	f.Add("eve@", "\u0430lice@example.com", "+0555", "Ab1\x00Ab1\x00Ab1\x00Ab1")
	f.Add("zed", "zed\uff20example.com", "", "password-z")
	cfg, err := Config{}.withDefaults()
	if err != nil {
		f.Fatal(err)
	}
	s := &Store{cfg: cfg}
	f.Fuzz(func(t *testing.T, username, email, phone, password string) {
		r := Registration{Username: username, Email: email, Phone: phone, Password: password}
		canonical, err := s.validateRegistration(r)
		if err != nil {
			v, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("not a *ValidationError: %T %v", err, err)
			}
			for field, msg := range v.Fields {
				for _, in := range []string{username, email, phone, password} {
					// Short or plain-word inputs can occur in a rule's
					// own wording ("long"), and so can pieces of its
					// examples ("mple.com" of name@example.com); anything
					// else must not.
					if len(in) >= 8 && strings.Trim(in, "abcdefghijklmnopqrstuvwxyz ") != "" && strings.Contains(msg, in) &&
						!strings.Contains(ruleExamples, in) {
						t.Fatalf("%s message %q repeats the input %q", field, msg, in)
					}
				}
			}
			return
		}
		if canonical == "" || !utf8.ValidString(canonical) || strings.Count(canonical, "@") != 1 {
			t.Fatalf("accepted %q with canonical form %q", email, canonical)
		}
		// The address as typed is stored too: it must pass the schema's
		// users_email_check (3 to 254 characters, an '@' after the first).
		if n := utf8.RuneCountInString(email); n < 3 || n > 254 || strings.IndexByte(email, '@') < 1 {
			t.Fatalf("accepted %q, which users_email_check refuses", email)
		}
		if len(password) > MaxPasswordBytes || strings.ContainsRune(password, 0) || !utf8.ValidString(password) {
			t.Fatalf("accepted password %q", password)
		}
	})
}
