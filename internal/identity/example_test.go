package identity_test

import (
	"errors"
	"fmt"

	"github.com/credstore/credstore/internal/identity"
)

func ExampleEmail() {
	for _, typed := range []string{
		"Alice.Smith+tag@Example.COM",
		"bob@BÜCHER.example",
		"ADMİN@example.com",
		"\u0430lice@example.com",  // Cyrillic а
		"alice\u200b@example.com", // zero-width space
	} {
		key, err := identity.Email(typed)
		var e *identity.Error
		if errors.As(err, &e) {
			fmt.Println("email", e.Reason)
			continue
		}
		fmt.Println(key)
	}
	// Output:
	// alice.smith+tag@example.com
	// bob@xn--bcher-kva.example
	// admin@example.com
	// email must not mix scripts
	// email must not contain invisible or control characters
}

func ExampleText() {
	fmt.Println(identity.Text("alice"))
	fmt.Println(identity.Text("bob\x00"))
	// Output:
	// <nil>
	// identity: must not contain NUL bytes
}
