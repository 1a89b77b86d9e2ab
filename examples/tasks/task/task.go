package task

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/credstore/credstore/auth"

	"example.com/tasks/db"
)

// ErrNotFound means the owner has no task with that id: it does not exist,
// or it is another user's. It matches auth.ErrNotFound.
var ErrNotFound = fmt.Errorf("task %w", auth.ErrNotFound)

// ErrOwnerGone means Create was given an owner whose account no longer
// exists: it was deleted after the request was authenticated, and before
// the task's row could reference it. Nothing was stored.
var ErrOwnerGone = errors.New("the task's owner has no account")

// Task is a task as the API shows it. Its ID is the public id; the table's
// key and the owner's internal id are never shown.
type Task struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Completed   bool      `json:"completed"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// New is a task to create. Description may be "".
type New struct {
	Title       string
	Description string
}

// Patch is a change to a task: each nil field is left as it is.
type Patch struct {
	Title       *string
	Description *string
	Completed   *bool
}

// Page is one page of an owner's tasks, newest first. Next is the cursor of
// the following page, "" on the last.
type Page struct {
	Tasks []Task
	Next  string
}

// Page sizes of List.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// Service stores tasks on the application's pool, the one credstore's store
// was opened on (auth.OpenDB), where schema/'s migrations created the
// table.
type Service struct {
	q *db.Queries
	// Now is the clock (time.Now when nil). Times are stored in UTC to the
	// microsecond, PostgreSQL's precision, so that a cursor made from a
	// task's time finds it again on both engines.
	Now func() time.Time
}

// NewService returns a Service on pool.
func NewService(pool *sql.DB) *Service {
	return &Service{q: db.New(pool)}
}

func (s *Service) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().UTC().Truncate(time.Microsecond)
}

// Create stores a new task of owner.
//
// Errors: *auth.ValidationError, ErrOwnerGone, or the database's.
func (s *Service) Create(ctx context.Context, owner int64, n New) (Task, error) {
	if err := validate(&n.Title, &n.Description); err != nil {
		return Task{}, fmt.Errorf("create task: %w", err)
	}
	// Version 7: a random public name that leaks no count, and whose time
	// part, no secret since created_at is shown, keeps inserts at the end
	// of the unique index.
	id, err := uuid.NewV7()
	if err != nil {
		return Task{}, fmt.Errorf("create task: %w", err)
	}
	row, err := s.q.CreateTask(ctx, db.CreateTaskParams{
		PublicID:    id.String(),
		UserID:      owner,
		Title:       n.Title,
		Description: n.Description,
		Now:         s.now(),
	})
	if ownerGone(err) {
		err = ErrOwnerGone
	}
	if err != nil {
		return Task{}, fmt.Errorf("create task: %w", err)
	}
	return fromRow(row), nil
}

// Get returns owner's task id.
//
// Errors: ErrNotFound, or the database's.
func (s *Service) Get(ctx context.Context, owner int64, id string) (Task, error) {
	row, err := s.q.GetTask(ctx, db.GetTaskParams{PublicID: id, UserID: owner})
	if err != nil {
		return Task{}, fmt.Errorf("get task: %w", notFound(err))
	}
	return fromRow(row), nil
}

// List returns a page of owner's tasks, newest first: the first page when
// cursor is "", else the page after the one that returned cursor as Next.
// limit is the page size, DefaultLimit when 0, at most MaxLimit.
//
// Errors: *auth.ValidationError (a bad limit or cursor), or the database's.
func (s *Service) List(ctx context.Context, owner int64, cursor string, limit int) (Page, error) {
	fields := map[string]string{}
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 1 || limit > MaxLimit:
		fields["limit"] = fmt.Sprintf("must be between 1 and %d", MaxLimit)
	}
	var after position
	if cursor != "" {
		var err error
		if after, err = decodeCursor(cursor); err != nil {
			fields["cursor"] = "is not a cursor this API returned"
		}
	}
	if len(fields) > 0 {
		return Page{}, fmt.Errorf("list tasks: %w", &auth.ValidationError{Fields: fields})
	}
	// One more row than the page tells whether another page follows.
	var (
		rows []db.Task
		err  error
	)
	if cursor == "" {
		rows, err = s.q.ListTasks(ctx, db.ListTasksParams{UserID: owner, MaxRows: int32(limit + 1)})
	} else {
		rows, err = s.q.ListTasksBefore(ctx, db.ListTasksBeforeParams{
			UserID:          owner,
			BeforeCreatedAt: after.createdAt,
			BeforePublicID:  after.id,
			MaxRows:         int32(limit + 1),
		})
	}
	if err != nil {
		return Page{}, fmt.Errorf("list tasks: %w", err)
	}
	page := Page{Tasks: make([]Task, 0, min(len(rows), limit))}
	for i, row := range rows {
		if i == limit {
			last := page.Tasks[limit-1]
			page.Next = encodeCursor(position{createdAt: last.CreatedAt, id: last.ID})
			break
		}
		page.Tasks = append(page.Tasks, fromRow(row))
	}
	return page, nil
}

// Update changes the fields of owner's task id that p gives, and returns
// the task as it is then. An empty patch changes nothing (updated_at
// included) and returns the task.
//
// Errors: *auth.ValidationError, ErrNotFound, or the database's. p is
// validated before the task is looked up, so an invalid patch is refused
// alike whether or not the task exists or is the owner's.
func (s *Service) Update(ctx context.Context, owner int64, id string, p Patch) (Task, error) {
	if p.Title == nil && p.Description == nil && p.Completed == nil {
		return s.Get(ctx, owner, id)
	}
	if err := validate(p.Title, p.Description); err != nil {
		return Task{}, fmt.Errorf("update task: %w", err)
	}
	arg := db.UpdateTaskParams{PublicID: id, UserID: owner, Now: s.now()}
	if p.Title != nil {
		arg.Title = sql.NullString{String: *p.Title, Valid: true}
	}
	if p.Description != nil {
		arg.Description = sql.NullString{String: *p.Description, Valid: true}
	}
	if p.Completed != nil {
		arg.Completed = sql.NullBool{Bool: *p.Completed, Valid: true}
	}
	row, err := s.q.UpdateTask(ctx, arg)
	if err != nil {
		return Task{}, fmt.Errorf("update task: %w", notFound(err))
	}
	return fromRow(row), nil
}

// Delete deletes owner's task id.
//
// Errors: ErrNotFound, or the database's.
func (s *Service) Delete(ctx context.Context, owner int64, id string) error {
	n, err := s.q.DeleteTask(ctx, db.DeleteTaskParams{PublicID: id, UserID: owner})
	switch {
	case err != nil:
		return fmt.Errorf("delete task: %w", err)
	case n == 0:
		return fmt.Errorf("delete task: %w", ErrNotFound)
	}
	return nil
}

// notFound maps the driver's no-row error to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func fromRow(r db.Task) Task {
	return Task{
		ID:          r.PublicID,
		Title:       r.Title,
		Description: r.Description,
		Completed:   r.Completed,
		CreatedAt:   r.CreatedAt.UTC(),
		UpdatedAt:   r.UpdatedAt.UTC(),
	}
}

// ownerGone reports whether err is the violation of tasks.user_id's
// foreign key, the one key of the table: a task's owner was deleted
// between the request's authentication and its insert, and the row was
// refused. The drivers say so by code (PostgreSQL's SQLSTATE, SQLite's
// extended result code).
func ownerGone(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503" && pe.ConstraintName == "tasks_user_id_fkey"
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
