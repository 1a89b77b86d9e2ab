package authhttp_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"
)

// An application mounts credstore's routes under /auth/, and puts its own
// routes behind RequireUser and RequireAdmin; Authenticate around the
// whole mux lets any route read the user if there is one.
func Example() {
	ctx := context.Background()
	store, err := auth.OpenMemory(ctx, auth.Config{BcryptCost: 4, InsecureAllowLowBcryptCostForTesting: true})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	a, err := authhttp.New(store, authhttp.Options{
		Cookie: authhttp.CookieOptions{Secure: false}, // true behind HTTPS
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", a))
	mux.Handle("GET /me", a.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := authhttp.CurrentUser(r.Context())
		fmt.Fprintf(w, "hello %s\n", u.Email)
	})))
	mux.Handle("GET /admin", a.RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "welcome, administrator")
	})))
	mux.HandleFunc("GET /users/{email}", func(w http.ResponseWriter, r *http.Request) {
		u, err := store.UserByEmail(r.Context(), r.PathValue("email"))
		if err != nil {
			authhttp.WriteError(w, r, err) // 404 {"message":"not found"}, 500, ...
			return
		}
		fmt.Fprintln(w, u.Email)
	})
	srv := httptest.NewServer(a.Authenticate(mux))
	defer srv.Close()
	// In production: (&http.Server{Handler: a.Authenticate(mux), ...}).ListenAndServe(),
	// then a.Shutdown(ctx) after the server's Shutdown.

	form := url.Values{"email": {"ada@example.com"}, "username": {"ada"}, "password": {"correct horse"}}
	show(http.PostForm(srv.URL+"/auth/users", form))
	resp, err := http.PostForm(srv.URL+"/auth/sessions", form)
	if err != nil {
		log.Fatal(err)
	}
	token := resp.Cookies()[0].Value // the session cookie; a bearer token too
	show(resp, nil)

	for _, path := range []string{"/me", "/admin", "/users/nobody@example.com"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		show(http.DefaultClient.Do(req))
	}
	show(http.Get(srv.URL + "/me"))
	// Output:
	// 200 {"email":"ada@example.com","message":"user created"}
	// 200 {"email":"ada@example.com","message":"logged in"}
	// 200 hello ada@example.com
	// 403 {"message":"administrator required"}
	// 404 {"message":"not found"}
	// 401 {"message":"authentication required"}
}

func show(resp *http.Response, err error) {
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
}
