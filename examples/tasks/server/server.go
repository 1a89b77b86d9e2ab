// Package server is the application's HTTP layer: credstore's routes under
// /auth/, and the task routes beside them, all behind credstore's
// middleware.
//
//	POST   /tasks        create (201)
//	GET    /tasks        the caller's tasks, newest first (?limit=, ?cursor=)
//	GET    /tasks/{id}   one task
//	PATCH  /tasks/{id}   change the fields given (title, description, completed)
//	DELETE /tasks/{id}   delete (204)
//
// Every task route is behind RequireUser (401 without a session) and acts
// on the session's user alone: the owner is authhttp.CurrentUser, never a
// field of the request. Another user's task is a 404 like a missing one.
// Errors are answered by authhttp.WriteError, from credstore's table:
// *auth.ValidationError is 400 with its fields, auth.ErrNotFound 404.
// State-changing requests authenticated by the session cookie are refused
// cross-origin by the middleware (403); bearer tokens are not checked,
// since no other site can make a browser send one.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/credstore/credstore/auth"
	"github.com/credstore/credstore/authhttp"

	"example.com/tasks/task"
)

// maxBody bounds a request body: a task is a few kilobytes at most.
const maxBody = 16 << 10

// New returns the application's handler: a's routes under /auth/ and the
// task routes of tasks, behind a's middleware. The caller shuts a down
// (a.Shutdown) after the http.Server that serves the handler.
func New(a *authhttp.Handler, tasks *task.Service) http.Handler {
	h := &handlers{tasks: tasks}
	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", a))
	mux.Handle("POST /tasks", a.RequireUser(http.HandlerFunc(h.create)))
	mux.Handle("GET /tasks", a.RequireUser(http.HandlerFunc(h.list)))
	mux.Handle("GET /tasks/{id}", a.RequireUser(http.HandlerFunc(h.get)))
	mux.Handle("PATCH /tasks/{id}", a.RequireUser(http.HandlerFunc(h.update)))
	mux.Handle("DELETE /tasks/{id}", a.RequireUser(http.HandlerFunc(h.delete)))
	return a.Authenticate(mux)
}

type handlers struct{ tasks *task.Service }

// taskBody is the JSON body of POST and PATCH. A field absent (or null) is
// nil.
type taskBody struct {
	Title       *text `json:"title"`
	Description *text `json:"description"`
	Completed   *bool `json:"completed"`
}

// text is a JSON string that keeps invalid UTF-8 invalid. encoding/json
// replaces each bad byte with U+FFFD, which would store a corrupted title;
// text keeps the literal instead, which task's validation refuses ("must
// be valid UTF-8") and which is therefore never stored.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if !utf8.Valid(b) {
		s = string(b)
	}
	*t = text(s)
	return nil
}

func (t *text) ptr() *string {
	if t == nil {
		return nil
	}
	s := string(*t)
	return &s
}

func (h *handlers) create(w http.ResponseWriter, r *http.Request) {
	var body taskBody
	if !decode(w, r, &body) {
		return
	}
	if body.Completed != nil {
		authhttp.WriteError(w, r, &auth.ValidationError{Fields: map[string]string{"completed": "cannot be set on create"}})
		return
	}
	n := task.New{}
	if body.Title != nil {
		n.Title = string(*body.Title)
	}
	if body.Description != nil {
		n.Description = string(*body.Description)
	}
	t, err := h.tasks.Create(r.Context(), owner(r), n)
	if errors.Is(err, task.ErrOwnerGone) {
		// The account was deleted while this request ran: its session went
		// with it, as a request arriving a moment later would find.
		err = authhttp.ErrAuthenticationRequired
	}
	if err != nil {
		authhttp.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/tasks/"+t.ID)
	writeJSON(w, http.StatusCreated, t)
}

// listReply is the body of GET /tasks.
type listReply struct {
	Tasks      []task.Task `json:"tasks"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		// Given, it must be a size: 0 is List's default, not the client's.
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > task.MaxLimit {
			authhttp.WriteError(w, r, &auth.ValidationError{Fields: map[string]string{
				"limit": fmt.Sprintf("must be a number between 1 and %d", task.MaxLimit)}})
			return
		}
		limit = n
	}
	page, err := h.tasks.List(r.Context(), owner(r), q.Get("cursor"), limit)
	if err != nil {
		authhttp.WriteError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listReply{Tasks: page.Tasks, NextCursor: page.Next})
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) {
	t, err := h.tasks.Get(r.Context(), owner(r), r.PathValue("id"))
	if err != nil {
		authhttp.WriteError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (h *handlers) update(w http.ResponseWriter, r *http.Request) {
	var body taskBody
	if !decode(w, r, &body) {
		return
	}
	t, err := h.tasks.Update(r.Context(), owner(r), r.PathValue("id"), task.Patch{
		Title:       body.Title.ptr(),
		Description: body.Description.ptr(),
		Completed:   body.Completed,
	})
	if err != nil {
		authhttp.WriteError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (h *handlers) delete(w http.ResponseWriter, r *http.Request) {
	if err := h.tasks.Delete(r.Context(), owner(r), r.PathValue("id")); err != nil {
		authhttp.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// owner is the id of the request's user. RequireUser guarantees one.
func owner(r *http.Request) int64 {
	u, ok := authhttp.CurrentUser(r.Context())
	if !ok {
		panic("server: a task route without RequireUser")
	}
	return u.ID
}

const malformedMessage = "the body must be one JSON object with the fields title, description, completed"

// decode reads r's body, one JSON object of taskBody's fields, into v; on
// failure it answers 400 (413 when too large) and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, authhttp.ErrorBody{Message: "request body too large"})
	default:
		// Not the decoder's message, which can quote the body.
		writeJSON(w, http.StatusBadRequest, authhttp.ErrorBody{Message: malformedMessage})
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
