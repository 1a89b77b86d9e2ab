-- Tasks, each owned by one of credstore's users (SQLite dialect).
--
-- The rules task/validate.go applies are repeated here, so that a bug in Go
-- or a hand-written INSERT cannot store a task the API would refuse. SQLite's
-- length() counts characters of a text value, as Go's rule counts runes.

CREATE TABLE tasks (
    -- Internal key, never shown: the API names a task by public_id.
    id          INTEGER PRIMARY KEY,
    -- A random-looking public name (UUID version 7): it reveals neither how
    -- many tasks exist nor any other user's ids.
    public_id   TEXT     NOT NULL
        CONSTRAINT tasks_public_id_key UNIQUE
        CONSTRAINT tasks_public_id_check CHECK (typeof(public_id) = 'text' AND length(public_id) = 36),
    -- The owner; the task goes when the user goes.
    user_id     INTEGER  NOT NULL
        CONSTRAINT tasks_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT     NOT NULL
        CONSTRAINT tasks_title_check CHECK (typeof(title) = 'text' AND length(title) BETWEEN 1 AND 200),
    -- '' when the task has none.
    description TEXT     NOT NULL DEFAULT ''
        CONSTRAINT tasks_description_check CHECK (typeof(description) = 'text' AND length(description) <= 1000),
    completed   BOOLEAN  NOT NULL DEFAULT FALSE
        CONSTRAINT tasks_completed_check CHECK (completed IN (FALSE, TRUE)),
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);

-- An owner's tasks, newest first: GET /tasks and its pages.
CREATE INDEX tasks_user_id_created_at_idx ON tasks (user_id, created_at DESC);
