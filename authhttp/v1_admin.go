package authhttp

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/credstore/credstore/auth"
)

// The administrators' routes. admit has put the administrator into
// the context as the actor of every change (auth.ActorAdmin). Users are
// named by their public id, never by the internal one.

// v1Page is a page of users; Next, when set, is the cursor of the next
// page (the "after" parameter).
type v1UserPage struct {
	Users []auth.User `json:"users"`
	Next  string      `json:"next,omitempty"`
}

// queryProblems collects the query parameters that do not parse.
type queryProblems map[string]string

func (q queryProblems) err() error {
	if len(q) == 0 {
		return nil
	}
	return &auth.ValidationError{Fields: q}
}

func (q queryProblems) int(r *http.Request, name string) int64 {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		q[name] = "must be a non-negative integer"
	}
	return n
}

func (q queryProblems) bool(r *http.Request, name string) bool {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q[name] = "must be true or false"
	}
	return b
}

func (q queryProblems) time(r *http.Request, name string) time.Time {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		q[name] = "must be an RFC 3339 time"
	}
	return t
}

// v1AdminListUsers pages through the users in the order of their public
// ids (registration order), admins only with ?admins=true.
func (h *Handler) v1AdminListUsers(w http.ResponseWriter, r *http.Request, _ form) error {
	q := queryProblems{}
	limit := int(q.int(r, "limit"))
	admins := q.bool(r, "admins")
	if err := q.err(); err != nil {
		return err
	}
	opts := auth.ListOptions{Order: auth.ByPublicID, AfterPublicID: r.URL.Query().Get("after"), AdminsOnly: admins,
		Search: r.URL.Query().Get("search"), Limit: limit}
	if opts.Limit == 0 {
		opts.Limit = auth.DefaultPageSize
	}
	users, err := h.store.ListUsers(r.Context(), opts)
	if err != nil {
		return err
	}
	page := v1UserPage{Users: users}
	if len(users) == opts.Limit {
		page.Next = users[len(users)-1].PublicID
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// target is the user the path's {id} names.
func (h *Handler) target(r *http.Request) (auth.User, error) {
	return h.store.UserByPublicID(r.Context(), r.PathValue("id"))
}

func (h *Handler) v1AdminUser(w http.ResponseWriter, r *http.Request, _ form) error {
	u, err := h.target(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// v1AdminUpdateUser changes a user's username, email, phone,
// administrator flag or disabled state, in one transaction.
func (h *Handler) v1AdminUpdateUser(w http.ResponseWriter, r *http.Request, f form) error {
	u, err := h.target(r)
	if err != nil {
		return err
	}
	updated, err := h.store.UpdateUser(r.Context(), u.ID, auth.UserUpdate{
		Username: f.strPtr("username"), Email: f.strPtr("email"), Phone: f.strPtr("phone"), IsAdmin: f.flagPtr("is_admin"),
		Disabled: f.flagPtr("disabled"), DisabledReason: f.str("disabled_reason"),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, updated)
	return nil
}

// v1AdminAct runs fn on the path's user and answers 204.
func (h *Handler) v1AdminAct(w http.ResponseWriter, r *http.Request, fn func(auth.User) error) error {
	u, err := h.target(r)
	if err == nil {
		err = fn(u)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) v1AdminSetPassword(w http.ResponseWriter, r *http.Request, f form) error {
	return h.v1AdminAct(w, r, func(u auth.User) error { return h.store.SetPassword(r.Context(), u.ID, f.str("new_password")) })
}

func (h *Handler) v1AdminDeleteUser(w http.ResponseWriter, r *http.Request, _ form) error {
	return h.v1AdminAct(w, r, func(u auth.User) error { return h.store.DeleteUser(r.Context(), u.ID) })
}

func (h *Handler) v1AdminRemoveTOTP(w http.ResponseWriter, r *http.Request, _ form) error {
	return h.v1AdminAct(w, r, func(u auth.User) error { return h.store.AdminRemoveTOTP(r.Context(), u.ID) })
}

func (h *Handler) v1AdminRevokeSessions(w http.ResponseWriter, r *http.Request, _ form) error {
	u, err := h.target(r)
	if err != nil {
		return err
	}
	n, err := h.store.RevokeSessions(r.Context(), u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sessionsEnded{n})
	return nil
}

// v1AdminAudit reads a page of the audit trail: ?user (a public id),
// ?type (repeated), ?since and ?until (RFC 3339), ?order=newest, ?cursor
// (the next_cursor of the previous page), ?limit.
func (h *Handler) v1AdminAudit(w http.ResponseWriter, r *http.Request, _ form) error {
	q := queryProblems{}
	query := r.URL.Query()
	f := auth.AuditFilter{
		Since: q.time(r, "since"), Until: q.time(r, "until"),
		Cursor: q.int(r, "cursor"), Limit: int(q.int(r, "limit")),
	}
	switch query.Get("order") {
	case "", "oldest":
	case "newest":
		f.NewestFirst = true
	default:
		q["order"] = "must be oldest or newest"
	}
	for _, t := range query["type"] {
		f.Types = append(f.Types, auth.EventType(t))
	}
	if err := q.err(); err != nil {
		return err
	}
	if id := query.Get("user"); id != "" {
		u, err := h.store.UserByPublicID(r.Context(), id)
		if err != nil {
			return err
		}
		f.UserID = u.ID
	}
	events, err := h.store.AuditEvents(r.Context(), f)
	if err != nil {
		return err
	}
	limit := f.Limit
	if limit == 0 {
		limit = auth.DefaultPageSize
	}
	page := struct {
		Events     []v1AuditEvent `json:"events"`
		NextCursor int64          `json:"next_cursor,omitempty"`
	}{Events: make([]v1AuditEvent, len(events))}
	for i, e := range events {
		page.Events[i] = v1AuditEvent{
			ID: e.ID, Time: e.Time, Type: e.Type, UserPublicID: e.UserPublicID,
			Actor:  v1Actor{Kind: e.Actor.Kind, PublicID: e.Actor.PublicID, Name: e.Actor.Name},
			Client: e.Client, Detail: e.Detail, Hash: e.Hash,
		}
	}
	if len(events) == limit {
		page.NextCursor = events[len(events)-1].ID
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// v1AuditEvent is an audit event as the API shows it: auth.AuditEvent
// without the store's internal user ids, which no route takes. The users
// are named by their public ids, kept with the event, which outlives them.
type v1AuditEvent struct {
	ID           int64           `json:"id"`
	Time         time.Time       `json:"time"`
	Type         auth.EventType  `json:"type"`
	UserPublicID string          `json:"user_public_id,omitempty"`
	Actor        v1Actor         `json:"actor"`
	Client       auth.Client     `json:"client"`
	Detail       json.RawMessage `json:"detail"`
	Hash         string          `json:"hash"`
}

// v1Actor is auth.Actor by public id. PublicID is "" for an event written
// before the store kept it (migration 0008).
type v1Actor struct {
	Kind     auth.ActorKind `json:"kind"`
	PublicID string         `json:"public_id,omitempty"`
	Name     string         `json:"name,omitempty"`
}
