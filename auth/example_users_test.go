package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"

	"github.com/credstore/credstore/auth"
)

// A request body decoded into a Registration cannot make an administrator;
// RegisterAdmin does, on an operator's decision. Clients page through users
// by public id, and see users as their JSON encoding shows them.
func ExampleStore_ListUsers() {
	ctx := context.Background()
	store, err := auth.OpenMemory(ctx, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	var r auth.Registration
	body := `{"username": "eve", "email": "eve@example.com", "password": "hunter2!!", "is_admin": true}`
	if err := json.NewDecoder(strings.NewReader(body)).Decode(&r); err != nil {
		log.Fatal(err)
	}
	eve, err := store.Register(ctx, r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(eve.Username, "is admin:", eve.IsAdmin)

	root, err := store.RegisterAdmin(ctx, auth.Registration{Username: "root", Email: "root@example.com", Password: "correct horse"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(root.Username, "is admin:", root.IsAdmin)
	for _, name := range []string{"ann", "bob", "cat"} {
		if _, err := store.Register(ctx, auth.Registration{Username: name, Email: name + "@example.com", Password: "password-" + name}); err != nil {
			log.Fatal(err)
		}
	}

	// Two users a page, in public-id order (registration order, to the
	// millisecond); the cursor is the last public id of the page before.
	opts := auth.ListOptions{Order: auth.ByPublicID, Limit: 2}
	seen := map[string]bool{}
	for {
		page, err := store.ListUsers(ctx, opts)
		if err != nil {
			log.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		fmt.Println("a page of", len(page))
		for _, u := range page {
			seen[u.Username] = true
		}
		opts.AfterPublicID = page[len(page)-1].PublicID
	}
	fmt.Println(len(seen), "users, each once")

	admins, err := store.ListUsers(ctx, auth.ListOptions{Order: auth.ByPublicID, AdminsOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	data, err := json.Marshal(admins[0])
	if err != nil {
		log.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(data, &keys); err != nil {
		log.Fatal(err)
	}
	fmt.Println(keys["username"], keys["is_admin"], len(keys), "keys, no internal id:", keys["id"] == nil)
	// Output:
	// eve is admin: false
	// root is admin: true
	// a page of 2
	// a page of 2
	// a page of 1
	// 5 users, each once
	// root true 7 keys, no internal id: true
}
