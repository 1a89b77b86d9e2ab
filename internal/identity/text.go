package identity

import (
	"strings"
	"unicode/utf8"
)

// Text reports whether s may reach SQL at all: it must be valid UTF-8 and
// hold no NUL byte. It is the one gate for every string input, because the
// engines disagree on both: PostgreSQL refuses invalid UTF-8 and NUL in
// text with an error, while SQLite stores them, compares them bytewise and
// cuts some string functions short at a NUL. Refusing both in Go makes a
// value mean the same thing on either engine.
//
// The error is nil, or an *Error matching ErrInvalidUTF8 or ErrNUL.
func Text(s string) error {
	if !utf8.ValidString(s) {
		return refuse(ErrInvalidUTF8)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return refuse(ErrNUL)
	}
	return nil
}
