package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var notFound = map[string]any{"message": "not found"}

// TestOwnership: user B can neither list, read, change nor delete user A's
// task, whatever id it sends; each attempt is the 404 of a missing task,
// and A's task is unchanged afterwards.
func TestOwnership(t *testing.T) {
	t.Parallel()
	onEngines(t, func(t *testing.T, dsn string) {
		a := newApp(t, dsn)
		alice, bob := a.signUp(t, "alice@example.com"), a.signUp(t, "bob@example.com")
		id := a.createTask(t, alice, "alice's secret plan")
		before := a.call(t, &alice, "GET", "/tasks/"+id, nil)
		require.Equal(t, http.StatusOK, before.Status, before.Raw)
		bobsOwn := a.createTask(t, bob, "bob's own")

		list := a.call(t, &bob, "GET", "/tasks", nil)
		require.Equal(t, http.StatusOK, list.Status, list.Raw)
		tasks := list.Body["tasks"].([]any)
		require.Len(t, tasks, 1, "bob lists his own task only")
		assert.Equal(t, bobsOwn, tasks[0].(map[string]any)["id"])

		// Alice's id, ids that exist nowhere, and guesses at the internal
		// key: all alike to Bob.
		for _, target := range []string{id, strings.ToUpper(id), "00000000-0000-7000-8000-000000000000", "1", "2", "0", "-1", "x' OR '1'='1"} {
			path := "/tasks/" + strings.ReplaceAll(target, " ", "%20")
			for _, req := range []struct {
				method string
				body   any
			}{
				{"GET", nil},
				{"PATCH", map[string]any{"title": "mine now", "completed": true}},
				{"PATCH", map[string]any{}},
				{"DELETE", nil},
			} {
				r := a.call(t, &bob, req.method, path, req.body)
				assert.Equal(t, http.StatusNotFound, r.Status, "%s %s: %s", req.method, target, r.Raw)
				assert.Equal(t, notFound, r.Body, "%s %s", req.method, target)
			}
		}
		// No field of the request can name the owner.
		r := a.call(t, &bob, "PATCH", "/tasks/"+id, map[string]any{"user_id": alice.ID, "title": "x"})
		assert.Equal(t, http.StatusBadRequest, r.Status, r.Raw)
		r = a.call(t, &bob, "POST", "/tasks", map[string]any{"user_id": alice.ID, "title": "x"})
		assert.Equal(t, http.StatusBadRequest, r.Status, r.Raw)

		after := a.call(t, &alice, "GET", "/tasks/"+id, nil)
		require.Equal(t, http.StatusOK, after.Status, after.Raw)
		assert.Equal(t, before.Body, after.Body, "alice's task is unchanged")
		list = a.call(t, &alice, "GET", "/tasks", nil)
		assert.Len(t, list.Body["tasks"], 1)
	})
}

// TestCRUD: the routes do what they say for the owner.
func TestCRUD(t *testing.T) {
	t.Parallel()
	onEngines(t, func(t *testing.T, dsn string) {
		a := newApp(t, dsn)
		alice := a.signUp(t, "alice@example.com")

		r := a.call(t, &alice, "POST", "/tasks", map[string]any{"title": "Write the README", "description": "with curl"})
		require.Equal(t, http.StatusCreated, r.Status, r.Raw)
		id := r.Body["id"].(string)
		assert.Len(t, id, 36)
		assert.Equal(t, "/tasks/"+id, r.Header.Get("Location"))
		assert.Equal(t, "Write the README", r.Body["title"])
		assert.Equal(t, "with curl", r.Body["description"])
		assert.Equal(t, false, r.Body["completed"])
		assert.Equal(t, "2030-01-02T03:04:05Z", r.Body["created_at"])
		assert.Equal(t, r.Body["created_at"], r.Body["updated_at"])
		assert.NotContains(t, r.Body, "user_id")
		created := r.Body

		r = a.call(t, &alice, "GET", "/tasks/"+id, nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, created, r.Body)

		// PATCH changes only the fields it is given.
		a.Clock.Advance(time.Minute)
		r = a.call(t, &alice, "PATCH", "/tasks/"+id, map[string]any{"completed": true})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, true, r.Body["completed"])
		assert.Equal(t, "Write the README", r.Body["title"])
		assert.Equal(t, "with curl", r.Body["description"])
		assert.Equal(t, created["created_at"], r.Body["created_at"])
		assert.Equal(t, "2030-01-02T03:05:05Z", r.Body["updated_at"])

		a.Clock.Advance(time.Minute)
		r = a.call(t, &alice, "PATCH", "/tasks/"+id, map[string]any{"title": "Write the README, again", "description": ""})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "Write the README, again", r.Body["title"])
		assert.Equal(t, "", r.Body["description"])
		assert.Equal(t, true, r.Body["completed"], "unchanged")
		assert.Equal(t, "2030-01-02T03:06:05Z", r.Body["updated_at"])
		patched := r.Body

		// null is absent; an empty patch changes nothing, updated_at included.
		a.Clock.Advance(time.Minute)
		r = a.call(t, &alice, "PATCH", "/tasks/"+id, `{"title": null}`)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, patched, r.Body)

		r = a.call(t, &alice, "DELETE", "/tasks/"+id, nil)
		assert.Equal(t, http.StatusNoContent, r.Status, r.Raw)
		assert.Empty(t, r.Raw)
		for _, method := range []string{"GET", "PATCH", "DELETE"} {
			r = a.call(t, &alice, method, "/tasks/"+id, `{"completed": false}`)
			assert.Equal(t, http.StatusNotFound, r.Status, method)
		}
		r = a.call(t, &alice, "GET", "/tasks", nil)
		assert.Equal(t, map[string]any{"tasks": []any{}}, r.Body)
	})
}

// TestList: newest first, in keyset pages that cover every task once, ties
// of created_at included.
func TestList(t *testing.T) {
	t.Parallel()
	onEngines(t, func(t *testing.T, dsn string) {
		a := newApp(t, dsn)
		alice, bob := a.signUp(t, "alice@example.com"), a.signUp(t, "bob@example.com")
		var want []string // newest first
		for i := range 7 {
			// Pairs share a created_at (the tie is broken by id), and some
			// times have a fraction, some none: SQLite compares them as text.
			if i%2 == 0 {
				a.Clock.Advance(time.Second + time.Duration(i)*123*time.Microsecond)
			}
			want = append([]string{a.createTask(t, alice, fmt.Sprintf("task %d", i))}, want...)
			a.createTask(t, bob, fmt.Sprintf("bob's %d", i))
		}

		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 4)
			path := "/tasks?limit=3"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := a.call(t, &alice, "GET", path, nil)
			require.Equal(t, http.StatusOK, r.Status, r.Raw)
			tasks := r.Body["tasks"].([]any)
			for _, task := range tasks {
				got = append(got, task.(map[string]any)["id"].(string))
			}
			next, more := r.Body["next_cursor"].(string)
			if !more {
				assert.Len(t, tasks, 1, "the last page")
				break
			}
			assert.Len(t, tasks, 3)
			cursor = next
		}
		assert.Equal(t, want, got)

		// One page of all: the same order.
		r := a.call(t, &alice, "GET", "/tasks", nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.NotContains(t, r.Body, "next_cursor")
		assert.Len(t, r.Body["tasks"], 7)

		// Bob's cursor on a page of his own shows only his tasks.
		r = a.call(t, &bob, "GET", "/tasks?limit=1", nil)
		r = a.call(t, &alice, "GET", "/tasks?cursor="+r.Body["next_cursor"].(string), nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		for _, task := range r.Body["tasks"].([]any) {
			assert.Contains(t, want, task.(map[string]any)["id"])
		}

		for query, field := range map[string]string{
			"limit=0": "limit", "limit=101": "limit", "limit=x": "limit", "limit=-1": "limit",
			"cursor=nope": "cursor", "cursor=MTIzLjQ1Ng": "cursor", // "123.456"
		} {
			r := a.call(t, &alice, "GET", "/tasks?"+query, nil)
			assert.Equal(t, http.StatusBadRequest, r.Status, query)
			assert.Contains(t, r.Body["fields"], field, query)
		}
	})
}

// TestValidation: every rule answers 400 naming the field, stores nothing,
// counts characters rather than bytes, and refuses invalid UTF-8; the
// schema's CHECK constraints repeat the length rules.
func TestValidation(t *testing.T) {
	t.Parallel()
	onEngines(t, func(t *testing.T, dsn string) {
		a := newApp(t, dsn)
		alice := a.signUp(t, "alice@example.com")
		id := a.createTask(t, alice, "a task")

		for _, tc := range []struct {
			name, body, field, rule string
		}{
			{"no title", `{"description": "d"}`, "title", "is required"},
			{"empty title", `{"title": ""}`, "title", "is required"},
			{"long title", `{"title": "` + strings.Repeat("a", 201) + `"}`, "title", "must be at most 200 characters"},
			{"long title in characters", `{"title": "` + strings.Repeat("é", 201) + `"}`, "title", "must be at most 200 characters"},
			{"invalid UTF-8", "{\"title\": \"bad \xff byte\"}", "title", "must be valid UTF-8"},
			{"control character", `{"title": "a\u0000b"}`, "title", "must not contain control characters"},
			{"newline in a title", `{"title": "a\nb"}`, "title", "must not contain control characters"},
			{"long description", `{"title": "t", "description": "` + strings.Repeat("d", 1001) + `"}`, "description", "must be at most 1000 characters"},
			{"invalid UTF-8 description", "{\"title\": \"t\", \"description\": \"\xc3\"}", "description", "must be valid UTF-8"},
			{"completed on create", `{"title": "t", "completed": true}`, "completed", "cannot be set on create"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := a.call(t, &alice, "POST", "/tasks", tc.body)
				assert.Equal(t, http.StatusBadRequest, r.Status, r.Raw)
				assert.Equal(t, map[string]any{tc.field: tc.rule}, r.Body["fields"])
				if tc.field == "completed" {
					return
				}
				r = a.call(t, &alice, "PATCH", "/tasks/"+id, tc.body)
				if tc.name == "no title" {
					assert.Equal(t, http.StatusOK, r.Status, "a patch without a title keeps it")
					return
				}
				assert.Equal(t, http.StatusBadRequest, r.Status, r.Raw)
				assert.Equal(t, map[string]any{tc.field: tc.rule}, r.Body["fields"])
			})
		}
		r := a.call(t, &alice, "GET", "/tasks/"+id, nil)
		assert.Equal(t, "a task", r.Body["title"], "no invalid patch applied")

		// The limits are in characters: 200 two-byte runes are a title,
		// and a multiline description is fine.
		long := strings.Repeat("é", 200)
		r = a.call(t, &alice, "POST", "/tasks", map[string]any{"title": long, "description": "line 1\n\tline 2"})
		require.Equal(t, http.StatusCreated, r.Status, r.Raw)
		assert.Equal(t, long, r.Body["title"])

		for _, body := range []string{`nope`, `{"title": 1}`, `{"title": "t"} {}`, `{"titel": "t"}`, `[]`} {
			r = a.call(t, &alice, "POST", "/tasks", body)
			assert.Equal(t, http.StatusBadRequest, r.Status, body)
			assert.NotContains(t, r.Raw, "titel", "the reply does not quote the body")
		}
		r = a.call(t, &alice, "POST", "/tasks", `{"title": "`+strings.Repeat("a", 20<<10)+`"}`)
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)

		var n int
		require.NoError(t, a.Pool.QueryRow(`SELECT COUNT(*) FROM tasks`).Scan(&n))
		assert.Equal(t, 2, n, "nothing invalid was stored")

		// The database refuses what Go refuses, on each engine.
		insert := `INSERT INTO tasks (public_id, user_id, title, description, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)`
		now := time.Now().UTC()
		for _, bad := range [][2]string{
			{"", ""},
			{strings.Repeat("é", 201), ""},
			{"t", strings.Repeat("é", 1001)},
		} {
			_, err := a.Pool.Exec(insert, "00000000-0000-7000-8000-000000000001", alice.ID, bad[0], bad[1], now)
			assert.ErrorContains(t, err, "tasks_", "a CHECK constraint refuses it")
		}
		_, err := a.Pool.Exec(insert, "00000000-0000-7000-8000-000000000001", alice.ID, long, strings.Repeat("é", 1000), now)
		assert.NoError(t, err, "the limits themselves are allowed")
	})
}

// TestAuthentication: the task routes need a session (401 otherwise); a
// bearer token is one; a cookie-authenticated request from another origin
// that would change state is refused (403), a bearer one is not.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	onEngines(t, func(t *testing.T, dsn string) {
		a := newApp(t, dsn)
		alice := a.signUp(t, "alice@example.com")
		id := a.createTask(t, alice, "a task")

		stranger := &user{Token: "not-a-session"}
		for _, route := range []string{"POST /tasks", "GET /tasks", "GET /tasks/" + id, "PATCH /tasks/" + id, "DELETE /tasks/" + id} {
			method, path, _ := strings.Cut(route, " ")
			for _, u := range []*user{nil, stranger} {
				r := a.call(t, u, method, path, `{"title": "t"}`)
				assert.Equal(t, http.StatusUnauthorized, r.Status, route)
				assert.Equal(t, map[string]any{"message": "authentication required"}, r.Body, route)
			}
			r := a.bearer(t, *stranger, method, path, `{"title": "t"}`)
			assert.Equal(t, http.StatusUnauthorized, r.Status, route)
		}

		r := a.bearer(t, alice, "GET", "/tasks/"+id, nil)
		assert.Equal(t, http.StatusOK, r.Status, r.Raw)

		crossSite := []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}
		for _, route := range []string{"POST /tasks", "PATCH /tasks/" + id, "DELETE /tasks/" + id} {
			method, path, _ := strings.Cut(route, " ")
			r := a.call(t, &alice, method, path, `{"title": "forged"}`, crossSite...)
			assert.Equal(t, http.StatusForbidden, r.Status, route)
			assert.Equal(t, map[string]any{"message": "cross-origin request refused"}, r.Body, route)
		}
		r = a.call(t, &alice, "GET", "/tasks", nil)
		require.Len(t, r.Body["tasks"], 1, "nothing forged was created or deleted")
		assert.Equal(t, "a task", r.Body["tasks"].([]any)[0].(map[string]any)["title"])

		r = a.call(t, &alice, "POST", "/tasks", `{"title": "same origin"}`, "Sec-Fetch-Site", "same-origin")
		assert.Equal(t, http.StatusCreated, r.Status, r.Raw)
		r = a.bearer(t, alice, "POST", "/tasks", `{"title": "by bearer"}`, crossSite...)
		assert.Equal(t, http.StatusCreated, r.Status, "no browser sends a bearer token for another site: %s", r.Raw)
	})
}

// TestCreateRacesDeletion: an account deleted after a POST /tasks was
// authenticated, and before its insert, is answered 401, as the request
// would have been a moment later, not 500; no task is stored.
func TestCreateRacesDeletion(t *testing.T) {
	t.Parallel()
	onEngines(t, func(t *testing.T, dsn string) {
		a := newApp(t, dsn)
		alice := a.signUp(t, "alice@example.com")
		a.Clock.BeforeNext(func() { assert.NoError(t, a.Store.DeleteUser(context.Background(), alice.ID)) })
		r := a.call(t, &alice, "POST", "/tasks", map[string]any{"title": "raced"})
		assert.Equal(t, http.StatusUnauthorized, r.Status, r.Raw)
		var n int
		require.NoError(t, a.Pool.QueryRow(`SELECT COUNT(*) FROM tasks`).Scan(&n))
		assert.Zero(t, n)
	})
}

// TestCascade: deleting a user through credstore deletes the user's tasks,
// and only them.
func TestCascade(t *testing.T) {
	t.Parallel()
	onEngines(t, func(t *testing.T, dsn string) {
		a := newApp(t, dsn)
		alice, bob := a.signUp(t, "alice@example.com"), a.signUp(t, "bob@example.com")
		for i := range 3 {
			a.createTask(t, alice, fmt.Sprintf("alice %d", i))
		}
		bobs := a.createTask(t, bob, "bob's")
		count := func(owner int64) int {
			var n int
			require.NoError(t, a.Pool.QueryRow(`SELECT COUNT(*) FROM tasks WHERE user_id = $1`, owner).Scan(&n))
			return n
		}
		require.Equal(t, 3, count(alice.ID))

		require.NoError(t, a.Store.DeleteUser(t.Context(), alice.ID))
		assert.Equal(t, 0, count(alice.ID), "alice's tasks went with her")
		assert.Equal(t, 1, count(bob.ID))
		r := a.call(t, &bob, "GET", "/tasks/"+bobs, nil)
		assert.Equal(t, http.StatusOK, r.Status, r.Raw)
		r = a.call(t, &alice, "GET", "/tasks", nil)
		assert.Equal(t, http.StatusUnauthorized, r.Status, "alice's session went too")
	})
}
