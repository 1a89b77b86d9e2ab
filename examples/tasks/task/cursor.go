package task

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// position is where a page ends in List's order: its last task's creation
// time and public id.
type position struct {
	createdAt time.Time
	id        string
}

var errBadCursor = errors.New("malformed cursor")

// encodeCursor makes the opaque cursor of p: base64url of the time in Unix
// microseconds and the public id. It names only the caller's own task, and
// the query that reads it is scoped to the caller, so a forged cursor shows
// nothing it should not.
func encodeCursor(p position) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(p.createdAt.UnixMicro(), 10) + "." + p.id))
}

func decodeCursor(s string) (position, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return position{}, errBadCursor
	}
	micros, id, ok := strings.Cut(string(raw), ".")
	if !ok {
		return position{}, errBadCursor
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return position{}, errBadCursor
	}
	if u, err := uuid.Parse(id); err != nil || u.String() != id { // the canonical form only
		return position{}, errBadCursor
	}
	return position{createdAt: time.UnixMicro(us).UTC(), id: id}, nil
}
