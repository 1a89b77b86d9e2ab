package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/internal/testdb"
)

// validationCase changes a valid registration and says which fields the
// result breaks; no fields means the registration must be accepted.
type validationCase struct {
	name   string
	mod    func(r *auth.Registration)
	fields []string
}

func username(s string) func(*auth.Registration) {
	return func(r *auth.Registration) { r.Username = s }
}
func email(s string) func(*auth.Registration) { return func(r *auth.Registration) { r.Email = s } }
func phone(s string) func(*auth.Registration) { return func(r *auth.Registration) { r.Phone = s } }
func password(s string) func(*auth.Registration) {
	return func(r *auth.Registration) { r.Password = s }
}

// all applies several changes.
func all(mods ...func(*auth.Registration)) func(*auth.Registration) {
	return func(r *auth.Registration) {
		for _, m := range mods {
			m(r)
		}
	}
}

// basePassword satisfies every preset, so that a case breaks only what it
// means to break.
const basePassword = "Correct-Horse-7"

// runValidationCases registers each case, in order, on one store with
// policy. A refused case must name exactly its fields, write nothing and
// keep the submitted values out of the message; an accepted one must store
// what was given.
func runValidationCases(t *testing.T, policy auth.Policy, cases []validationCase) {
	t.Helper()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn, withPolicy(policy))
		raw := testdb.Raw(t, dsn)
		for i, tc := range cases {
			// Not parallel: each case counts the rows the others leave.
			t.Run(tc.name, func(t *testing.T) {
				r := auth.Registration{
					Username: fmt.Sprintf("user%02d", i),
					Email:    fmt.Sprintf("user%02d@example.com", i),
					Password: basePassword,
				}
				tc.mod(&r)
				users, creds := countRows(t, raw, "users"), countRows(t, raw, "credentials")

				u, err := s.Register(ctx, r)

				if len(tc.fields) == 0 {
					require.NoError(t, err)
					assert.Equal(t, r.Username, u.Username)
					assert.Equal(t, r.Email, u.Email)
					assert.Equal(t, r.Phone, u.Phone)
					assert.Equal(t, users+1, countRows(t, raw, "users"))
					assert.Equal(t, creds+1, countRows(t, raw, "credentials"))
					return
				}
				requireValidation(t, err, tc.fields...)
				assert.Equal(t, users, countRows(t, raw, "users"), "a refused registration must write nothing")
				assert.Equal(t, creds, countRows(t, raw, "credentials"), "a refused registration must write nothing")
				for _, v := range []string{r.Username, r.Email, r.Phone, r.Password} {
					if len(strings.TrimSpace(v)) >= 4 {
						assert.NotContains(t, err.Error(), strings.TrimSpace(v), "the message must not repeat a submitted value")
					}
				}
			})
		}
	})
}

func TestRegisterValidationDefaultPolicy(t *testing.T) {
	t.Parallel()
	runValidationCases(t, auth.DefaultPolicy(), []validationCase{
		{name: "valid", mod: func(*auth.Registration) {}},
		{name: "username of 3 characters", mod: username("abc")},
		{name: "username of 32 characters", mod: username(strings.Repeat("u", 32))},
		{name: "username with printable punctuation", mod: username("a.b-c_d!~#")},
		{name: "username required", mod: username(""), fields: []string{"username"}},
		{name: "username of 2 characters", mod: username("ab"), fields: []string{"username"}},
		{name: "username of 33 characters", mod: username(strings.Repeat("v", 33)), fields: []string{"username"}},
		{name: "username with a space", mod: username("alice smith"), fields: []string{"username"}},
		{name: "username with a leading space", mod: username(" alice"), fields: []string{"username"}},
		{name: "username with @", mod: username("alice@home"), fields: []string{"username"}},
		{name: "username with a tab", mod: username("alice\tsmith"), fields: []string{"username"}},
		{name: "username with a control character", mod: username("alice\x7f"), fields: []string{"username"}},
		{name: "username not ASCII", mod: username("ålice"), fields: []string{"username"}},
		{name: "username not UTF-8", mod: username("ali\xffce"), fields: []string{"username"}},

		{name: "email of 254 bytes", mod: email(strings.Repeat("e", 64) + "@" + strings.Repeat(strings.Repeat("d", 60)+".", 3) + strings.Repeat("d", 2) + ".com")},
		{name: "email with a domain label of 64 bytes", mod: email("e@" + strings.Repeat("d", 64) + ".com"), fields: []string{"email"}},
		{name: "email with plus and subdomain", mod: email("first.last+tag@mail.example.org")},
		{name: "email required", mod: email(""), fields: []string{"email"}},
		{name: "email without @", mod: email("alice.example.com"), fields: []string{"email"}},
		{name: "email with a display name", mod: email("Alice <alice@example.com>"), fields: []string{"email"}},
		{name: "email in angle brackets", mod: email("<alice@example.com>"), fields: []string{"email"}},
		{name: "email with a leading space", mod: email(" alice@example.com"), fields: []string{"email"}},
		{name: "email with a trailing space", mod: email("alice@example.com "), fields: []string{"email"}},
		{name: "two emails", mod: email("alice@example.com, bob@example.com"), fields: []string{"email"}},
		{name: "email of 255 bytes", mod: email(strings.Repeat("e", 64) + "@" + strings.Repeat("d", 186) + ".com"), fields: []string{"email"}},
		{name: "email local part of 65 bytes", mod: email(strings.Repeat("l", 65) + "@example.com"), fields: []string{"email"}},
		{name: "email domain without a dot", mod: email("alice@localhost"), fields: []string{"email"}},
		{name: "email domain ending in a dot", mod: email("alice@example.com."), fields: []string{"email"}},
		{name: "email without a local part", mod: email("@nowhere.test"), fields: []string{"email"}},

		{name: "phone of 7 digits", mod: phone("+1234567")},
		{name: "phone of 15 digits", mod: phone("+123456789012345")},
		{name: "phone without +", mod: phone("15551234567"), fields: []string{"phone"}},
		{name: "phone country code 0", mod: phone("+0155512345"), fields: []string{"phone"}},
		{name: "phone of 6 digits", mod: phone("+123456"), fields: []string{"phone"}},
		{name: "phone of 16 digits", mod: phone("+1234567890123456"), fields: []string{"phone"}},
		{name: "phone with spaces", mod: phone("+1 555 123 4567"), fields: []string{"phone"}},
		{name: "phone with dashes", mod: phone("+1-555-123-4567"), fields: []string{"phone"}},
		{name: "phone with letters", mod: phone("+1555CALLNOW"), fields: []string{"phone"}},

		{name: "password of 8 characters", mod: password("abcdefgh")},
		{name: "password of 72 bytes", mod: password(strings.Repeat("p", 72))},
		{name: "password of 8 multibyte characters", mod: password("éééééééé")},
		{name: "password required", mod: password(""), fields: []string{"password"}},
		{name: "password of 7 characters", mod: password("abcdefg"), fields: []string{"password"}},
		{name: "password of 7 multibyte characters", mod: password("ééééééé"), fields: []string{"password"}},
		{name: "password of 73 bytes", mod: password(strings.Repeat("q", 73)), fields: []string{"password"}},
		{name: "password of 25 characters in 75 bytes", mod: password(strings.Repeat("€", 25)), fields: []string{"password"}},
		{name: "password not UTF-8", mod: password("passw\xffrd-long"), fields: []string{"password"}},

		{
			name:   "every field wrong at once",
			mod:    all(username("bad name"), email("not-an-email"), phone("555-0100"), password("shrt")),
			fields: []string{"username", "email", "phone", "password"},
		},
		{
			name:   "two fields wrong",
			mod:    all(username(""), password("1234567")),
			fields: []string{"username", "password"},
		},
	})
}

func TestRegisterValidationAlnumUsernames(t *testing.T) {
	t.Parallel()
	runValidationCases(t, auth.DefaultPolicy().WithAlnumUsernames(), []validationCase{
		{name: "letters digits underscore", mod: username("Alice_01")},
		{name: "30 characters", mod: username(strings.Repeat("a", 30))},
		{name: "3 characters", mod: username("a_1")},
		{name: "31 characters", mod: username(strings.Repeat("b", 31)), fields: []string{"username"}},
		{name: "2 characters", mod: username("ab"), fields: []string{"username"}},
		{name: "dot", mod: username("alice.b"), fields: []string{"username"}},
		{name: "dash", mod: username("alice-b"), fields: []string{"username"}},
		{name: "space", mod: username("alice b"), fields: []string{"username"}},
		{name: "@", mod: username("alice@b"), fields: []string{"username"}},
		{name: "required", mod: username(""), fields: []string{"username"}},
	})
}

func TestRegisterValidationMixedCasePasswords(t *testing.T) {
	t.Parallel()
	runValidationCases(t, auth.DefaultPolicy().WithMixedCasePasswords(), []validationCase{
		{name: "upper lower digit", mod: password("Passw0rd")},
		{name: "non-ASCII letters count", mod: password("Äpfelbaum9")},
		{name: "no upper-case letter", mod: password("passw0rd"), fields: []string{"password"}},
		{name: "no lower-case letter", mod: password("PASSW0RD"), fields: []string{"password"}},
		{name: "no digit", mod: password("Password"), fields: []string{"password"}},
		{name: "only symbols", mod: password("!!!!!!!!"), fields: []string{"password"}},
		{name: "still at least 8 characters", mod: password("Pa55wd"), fields: []string{"password"}},
	})
}

func TestRegisterValidationLongPasswords(t *testing.T) {
	t.Parallel()
	runValidationCases(t, auth.DefaultPolicy().WithLongPasswords(), []validationCase{
		{name: "12 letters and digits", mod: password("abcdefghijk1")},
		{name: "digits first", mod: password("123456789abc")},
		{name: "11 characters", mod: password("abcdefghij1"), fields: []string{"password"}},
		{name: "no digit", mod: password("abcdefghijkl"), fields: []string{"password"}},
		{name: "no letter", mod: password("123456789012"), fields: []string{"password"}},
		{name: "neither letter nor digit", mod: password("!@#$%^&*()_+"), fields: []string{"password"}},
	})
}

func TestRegisterValidationAllPresets(t *testing.T) {
	t.Parallel()
	p := auth.DefaultPolicy().WithAlnumUsernames().WithMixedCasePasswords().WithLongPasswords()
	runValidationCases(t, p, []validationCase{
		{name: "meets every rule", mod: all(username("Alice_01"), password("Abcdefghijk1"))},
		{name: "long but not mixed case", mod: password("abcdefghijk1"), fields: []string{"password"}},
		{name: "mixed case but short", mod: password("Abcdefghij1"), fields: []string{"password"}},
		{
			name:   "username and password wrong",
			mod:    all(username("alice.b"), password("Abc1")),
			fields: []string{"username", "password"},
		},
	})
}

func TestRegisterValidationOptionalUsername(t *testing.T) {
	t.Parallel()
	p := auth.DefaultPolicy()
	p.RequireUsername = false
	runValidationCases(t, p, []validationCase{
		{name: "without username", mod: username("")},
		{name: "a second user without username", mod: username("")},
		{name: "with username", mod: username("alice")},
		{name: "an invalid username is still refused", mod: username("a b"), fields: []string{"username"}},
		{name: "email is still required", mod: all(username(""), email("")), fields: []string{"email"}},
	})
}

func TestRegisterValidationRequiredPhone(t *testing.T) {
	t.Parallel()
	p := auth.DefaultPolicy()
	p.RequirePhone = true
	runValidationCases(t, p, []validationCase{
		{name: "with phone", mod: phone("+15551234567")},
		{name: "without phone", mod: phone(""), fields: []string{"phone"}},
		{name: "invalid phone", mod: phone("5551234567"), fields: []string{"phone"}},
		{name: "without username or phone", mod: all(username(""), phone("")), fields: []string{"username", "phone"}},
	})
}

func TestRegisterValidationOptionalPhone(t *testing.T) {
	t.Parallel()
	p := auth.DefaultPolicy()
	p.RequirePhone = false
	runValidationCases(t, p, []validationCase{
		{name: "without phone", mod: phone("")},
		{name: "a second user without phone", mod: phone("")},
		{name: "with phone", mod: phone("+442071234567")},
		{name: "an invalid phone is still refused", mod: phone("+44 20 7123 4567"), fields: []string{"phone"}},
	})
}

func TestRegisterValidationRequiredUsername(t *testing.T) {
	t.Parallel()
	p := auth.DefaultPolicy().WithAlnumUsernames()
	p.RequireUsername = true
	runValidationCases(t, p, []validationCase{
		{name: "with username", mod: username("alice")},
		{name: "without username", mod: username(""), fields: []string{"username"}},
	})
}

// TestValidationMessagesHideValues submits distinctive invalid values in
// every field and checks that none of them comes back in the error, whose
// message is meant to be shown and logged.
func TestValidationMessagesHideValues(t *testing.T) {
	t.Parallel()
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn, withPolicy(auth.DefaultPolicy().WithMixedCasePasswords()))
		secret := "sekrit-pass-no-digits"
		r := auth.Registration{
			Username: "zebra crossing",
			Email:    "zebra@@crossing",
			Phone:    "+99-zebra",
			Password: secret,
		}
		_, err := s.Register(ctx, r)
		verr := requireValidation(t, err, "username", "email", "phone", "password")
		for _, v := range []string{r.Username, r.Email, r.Phone, secret, "zebra", "sekrit"} {
			assert.NotContains(t, err.Error(), v)
			for field, msg := range verr.Fields {
				assert.NotContains(t, msg, v, "message of %s", field)
			}
		}

		u := mustRegister(t, s, reg("alice"))
		tooLong := "Sekrit1" + strings.Repeat("x", 70)
		for name, err := range map[string]error{
			"set password":             s.SetPassword(ctx, u.ID, secret),
			"change password, new":     s.ChangePassword(ctx, u.ID, pw("alice"), secret),
			"change password, long":    s.ChangePassword(ctx, u.ID, tooLong, "Newpassword1"),
			"login with long password": func() error { _, err := s.Login(ctx, "alice", tooLong); return err }(),
		} {
			require.Error(t, err, name)
			assert.NotContains(t, err.Error(), "sekrit", name)
			assert.NotContains(t, err.Error(), "Sekrit", name)
		}
	})
}

// TestUpdateUserValidation applies Register's rules to UpdateUser: every
// problem reported at once, and the user left as it was.
func TestUpdateUserValidation(t *testing.T) {
	t.Parallel()
	requirePhone := auth.DefaultPolicy()
	requirePhone.RequirePhone = true
	cases := []struct {
		name   string
		policy auth.Policy
		update auth.UserUpdate
		fields []string
	}{
		{name: "username too short", policy: auth.DefaultPolicy(), update: auth.UserUpdate{Username: ptr("ab")}, fields: []string{"username"}},
		{name: "username with @", policy: auth.DefaultPolicy(), update: auth.UserUpdate{Username: ptr("a@b")}, fields: []string{"username"}},
		{name: "required username cleared", policy: auth.DefaultPolicy(), update: auth.UserUpdate{Username: ptr("")}, fields: []string{"username"}},
		{name: "username against preset", policy: auth.DefaultPolicy().WithAlnumUsernames(), update: auth.UserUpdate{Username: ptr("alice.b")}, fields: []string{"username"}},
		{name: "email cleared", policy: auth.DefaultPolicy(), update: auth.UserUpdate{Email: ptr("")}, fields: []string{"email"}},
		{name: "email with display name", policy: auth.DefaultPolicy(), update: auth.UserUpdate{Email: ptr("A <a@example.com>")}, fields: []string{"email"}},
		{name: "phone not E.164", policy: auth.DefaultPolicy(), update: auth.UserUpdate{Phone: ptr("0171 1234567")}, fields: []string{"phone"}},
		{name: "required phone cleared", policy: requirePhone, update: auth.UserUpdate{Phone: ptr("")}, fields: []string{"phone"}},
		{
			name:   "every field wrong at once",
			policy: auth.DefaultPolicy(),
			update: auth.UserUpdate{Username: ptr("x y"), Email: ptr("nope"), Phone: ptr("+0"), IsAdmin: ptr(true)},
			fields: []string{"username", "email", "phone"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testdb.Run(t, func(t *testing.T, dsn string) {
				t.Parallel()
				ctx := context.Background()
				s := newStore(t, dsn, withPolicy(tc.policy))
				r := reg("alice")
				r.Phone = "+15551234567"
				before := mustRegister(t, s, r)

				_, err := s.UpdateUser(ctx, before.ID, tc.update)

				requireValidation(t, err, tc.fields...)
				after, err := s.User(ctx, before.ID)
				require.NoError(t, err)
				assert.Equal(t, before, after, "a refused update must change nothing")
			})
		})
	}
}

// TestValidationCoversTheSchema: what validation accepts, the database's
// CHECK constraints accept too, as typed and as canonical, so that a value
// that folds into syntax (a fullwidth '＠', a small '﹫', fullwidth digits
// or dots) is either stored or refused as a *ValidationError, never a
// database error (a 500 for the client). Registration and an update go
// through the same validation; both are tried on every engine.
func TestValidationCoversTheSchema(t *testing.T) {
	t.Parallel()
	emails := []string{
		"zed\uff20example.com",           // fullwidth commercial at
		"zed\ufe6bexample.com",           // small commercial at
		"zed\uff20\uff20example.com",     // two of them
		"\uff02zed\uff02@example.com",    // fullwidth quotes
		"zed@example\uff0ecom",           // fullwidth full stop
		"zed@example\u3002com",           // ideographic full stop
		"\uff5a\uff45\uff44@example.com", // fullwidth letters
		"zed@\uff45\uff58.com",           // fullwidth domain letters
	}
	usernames := []string{"\uff5a\uff45\uff44", "zed\uff20x", "zed\uff3fx", "z\u00e9d"}
	phones := []string{"\uff0b\uff11\uff15\uff15\uff15\uff11\uff12\uff13\uff10\uff10\uff10\uff11", "+1555123\uff10\uff10\uff11"}
	testdb.Run(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t, dsn, withPolicy(func() auth.Policy { p := auth.DefaultPolicy(); p.RequireUsername = false; return p }()))
		base := mustRegister(t, s, auth.Registration{Email: "base@example.com", Password: pw("base")})
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			var v *auth.ValidationError
			assert.True(t, errors.As(err, &v) || errors.Is(err, auth.ErrDuplicate),
				"%s: want nil, a *ValidationError or ErrDuplicate (several fold to one address), got %v", what, err)
		}
		for _, e := range emails {
			_, err := s.Register(ctx, auth.Registration{Email: e, Password: pw("zed")})
			check(fmt.Sprintf("register email %q", e), err)
			_, err = s.UpdateUser(ctx, base.ID, auth.UserUpdate{Email: ptr(e)})
			check(fmt.Sprintf("update email %q", e), err)
		}
		for i, u := range usernames {
			_, err := s.Register(ctx, auth.Registration{Username: u, Email: fmt.Sprintf("u%d@example.com", i), Password: pw("zed")})
			check(fmt.Sprintf("register username %q", u), err)
			_, err = s.UpdateUser(ctx, base.ID, auth.UserUpdate{Username: ptr(u)})
			check(fmt.Sprintf("update username %q", u), err)
		}
		for i, p := range phones {
			_, err := s.Register(ctx, auth.Registration{Email: fmt.Sprintf("p%d@example.com", i), Phone: p, Password: pw("zed")})
			check(fmt.Sprintf("register phone %q", p), err)
			_, err = s.UpdateUser(ctx, base.ID, auth.UserUpdate{Phone: ptr(p)})
			check(fmt.Sprintf("update phone %q", p), err)
		}
		// The refusal comes before any hash: the address with '＠' is
		// refused as an email, with no other field at fault.
		_, err := s.Register(ctx, auth.Registration{Email: emails[0], Password: pw("zed")})
		var v *auth.ValidationError
		require.ErrorAs(t, err, &v)
		assert.Contains(t, v.Fields, auth.FieldEmail)
	})
}
