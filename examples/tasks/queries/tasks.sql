-- name: CreateTask :one
INSERT INTO tasks (public_id, user_id, title, description, completed, created_at, updated_at)
VALUES (@public_id, @user_id, @title, @description, FALSE, @now, @now)
RETURNING *;

-- name: GetTask :one
-- Every query that touches one task names it by its public id AND its
-- owner's user_id, which the caller takes from the authenticated session,
-- never from the request: another user's task is a missing one.
SELECT * FROM tasks
WHERE public_id = @public_id AND user_id = @user_id;

-- name: ListTasks :many
-- The first page of an owner's tasks, newest first.
SELECT * FROM tasks
WHERE user_id = @user_id
ORDER BY created_at DESC, public_id DESC
LIMIT @max_rows;

-- name: ListTasksBefore :many
-- The page after a cursor: the tasks that sort after (created_at, public_id)
-- in ListTasks's order. Keyset pagination: no OFFSET, so a page costs the
-- same however deep it is, and tasks added meanwhile do not shift it. (Not
-- the row value (created_at, public_id) < (...), which both engines run but
-- sqlc types wrongly; the first condition bounds the index range scan.)
SELECT * FROM tasks
WHERE user_id = @user_id
  AND created_at <= @before_created_at
  AND (created_at < @before_created_at OR public_id < @before_public_id)
ORDER BY created_at DESC, public_id DESC
LIMIT @max_rows;

-- name: UpdateTask :one
-- A NULL argument leaves its column as it is: PATCH changes only the fields
-- it was given.
UPDATE tasks
SET title       = COALESCE(sqlc.narg(title), title),
    description = COALESCE(sqlc.narg(description), description),
    completed   = COALESCE(sqlc.narg(completed), completed),
    updated_at  = @now
WHERE public_id = @public_id AND user_id = @user_id
RETURNING *;

-- name: DeleteTask :execrows
DELETE FROM tasks
WHERE public_id = @public_id AND user_id = @user_id;
