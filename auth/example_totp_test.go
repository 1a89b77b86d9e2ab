package auth_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/credstore/credstore/auth"
)

// Enroll a TOTP factor, then log in in two steps: the password returns a
// challenge, and a code from the authenticator app completes the login.
func ExampleStore_CompleteLogin() {
	ctx := context.Background()
	// In production the keys come from a file kept apart from the database:
	// keys, err := auth.ReadKeyFile("/etc/credstore/keys")
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	keys := &auth.Keyring{Current: "k1", Keys: map[string][]byte{"k1": key}}
	store, err := auth.OpenMemory(ctx, auth.Config{
		BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true, SecretKeys: keys, TOTPIssuer: "Example",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	alice, err := store.Register(ctx, auth.Registration{Username: "alice", Email: "alice@example.com", Password: "hunter2!"})
	if err != nil {
		log.Fatal(err)
	}

	// Enrollment: show e.URI as a QR code (TOTPEnrollmentQR) or e.Secret as
	// text; the user's app then shows codes, one of which confirms.
	e, err := store.EnrollTOTP(ctx, alice.ID)
	if err != nil {
		log.Fatal(err)
	}
	phone := func() string { // what the authenticator app shows now
		code, err := totp.GenerateCode(e.Secret, time.Now())
		if err != nil {
			log.Fatal(err)
		}
		return code
	}
	recovery, err := store.ConfirmTOTP(ctx, alice.ID, auth.TOTPConfirmation{Code: phone(), Password: "hunter2!"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("recovery codes to print:", len(recovery))

	// Login, step one: the right password asks for the second factor.
	_, _, err = store.LoginSession(ctx, "alice", "hunter2!")
	var mfa *auth.SecondFactorRequiredError
	if !errors.As(err, &mfa) {
		log.Fatal(err)
	}
	fmt.Println(err)

	// Step two: a recovery code (a TOTP code from the app works the same
	// way; the one that confirmed the enrollment is spent already).
	res, err := store.CompleteLogin(ctx, auth.SecondFactor{Challenge: mfa.Challenge, RecoveryCode: recovery[0]})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in:", res.User.Email, res.Session.Token != "")

	status, err := store.TwoFactor(ctx, alice.ID)
	fmt.Println("recovery codes left:", status.RecoveryCodesLeft, err)
	// Output:
	// recovery codes to print: 10
	// second factor required
	// logged in: alice@example.com true
	// recovery codes left: 9 <nil>
}
