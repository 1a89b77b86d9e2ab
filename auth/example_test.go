package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/credstore/credstore/auth"
)

// Register a user, then log in by username and by email.
func Example() {
	ctx := context.Background()
	// auth.Open(ctx, "credstore.db", auth.Config{}) opens a file; this
	// example uses a private in-memory database and a low bcrypt cost
	// so that it runs fast.
	store, err := auth.OpenMemory(ctx, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	alice, err := store.Register(ctx, auth.Registration{
		Username: "alice",
		Email:    "alice@example.com",
		Password: "hunter2!",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("registered", alice.Username, "with id", alice.ID)

	u, err := store.Login(ctx, "ALICE@example.com", "hunter2!")
	fmt.Println("logged in:", u.Username, err)

	_, err = store.Login(ctx, "alice", "wrong password")
	fmt.Println(err, errors.Is(err, auth.ErrInvalidCredentials))
	// Output:
	// registered alice with id 1
	// logged in: alice <nil>
	// invalid username or password true
}

// Registration reports every invalid field at once, and duplicates by field.
func ExampleStore_Register() {
	ctx := context.Background()
	store, err := auth.OpenMemory(ctx, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	_, err = store.Register(ctx, auth.Registration{Username: "bob", Email: "bob@", Password: "123"})
	var invalid *auth.ValidationError
	if errors.As(err, &invalid) {
		fmt.Println("email:", invalid.Fields["email"])
		fmt.Println("password:", invalid.Fields["password"])
	}

	_, err = store.Register(ctx, auth.Registration{Username: "bob", Email: "bob@example.com", Password: "correct horse"})
	fmt.Println(err)
	_, err = store.Register(ctx, auth.Registration{Username: "robert", Email: "BOB@example.com", Password: "battery staple"})
	var dup *auth.DuplicateError
	if errors.As(err, &dup) {
		fmt.Println("duplicate:", dup.Field)
	}
	// Output:
	// email: must be a single email address such as name@example.com: domain must be a valid host name
	// password: must be at least 8 characters long
	// <nil>
	// duplicate: email
}

// Policies start from DefaultPolicy and take presets.
func ExamplePolicy() {
	ctx := context.Background()
	policy := auth.DefaultPolicy().WithAlnumUsernames().WithLongPasswords()
	policy.RequirePhone = true
	store, err := auth.OpenMemory(ctx, auth.Config{Policy: &policy, BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	_, err = store.Register(ctx, auth.Registration{Username: "dash-name", Email: "d@example.com", Password: "short1"})
	fmt.Println(err)
	// Output:
	// register: invalid input: password must be at least 12 characters long; phone is required; username must contain only letters, digits and underscores
}
