-- Tasks, each owned by one of credstore's users (PostgreSQL dialect).
--
-- The same table, rules and names as schema/sqlite/0001_tasks.up.sql, in
-- PostgreSQL's own types. char_length counts characters, as Go's rule
-- counts runes; a text value is valid UTF-8 in a UTF8 database.

CREATE TABLE tasks (
    -- Internal key, never shown: the API names a task by public_id.
    id          bigint      GENERATED ALWAYS AS IDENTITY
        CONSTRAINT tasks_pkey PRIMARY KEY,
    -- A random-looking public name (UUID version 7): it reveals neither how
    -- many tasks exist nor any other user's ids. text, not uuid, so that a
    -- malformed id finds no task here as on SQLite, instead of an error.
    public_id   text        NOT NULL
        CONSTRAINT tasks_public_id_key UNIQUE
        CONSTRAINT tasks_public_id_check CHECK (length(public_id) = 36),
    -- The owner; the task goes when the user goes.
    user_id     bigint      NOT NULL
        CONSTRAINT tasks_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    title       text        NOT NULL
        CONSTRAINT tasks_title_check CHECK (char_length(title) BETWEEN 1 AND 200),
    -- '' when the task has none.
    description text        NOT NULL DEFAULT ''
        CONSTRAINT tasks_description_check CHECK (char_length(description) <= 1000),
    completed   boolean     NOT NULL DEFAULT FALSE,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- An owner's tasks, newest first: GET /tasks and its pages.
CREATE INDEX tasks_user_id_created_at_idx ON tasks (user_id, created_at DESC);
