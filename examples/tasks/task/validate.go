package task

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/credstore/credstore/auth"
)

// Limits of a task's text, in characters (runes), not bytes: "é" is one.
// schema/'s CHECK constraints repeat them.
const (
	MaxTitle       = 200
	MaxDescription = 1000
)

// validate checks the given title and description (nil: not given) and
// reports every problem at once, by field. Messages state the rule, never
// the value.
func validate(title, description *string) error {
	fields := map[string]string{}
	if title != nil {
		if msg := checkText(*title, 1, MaxTitle, false); msg != "" {
			fields["title"] = msg
		}
	}
	if description != nil {
		if msg := checkText(*description, 0, MaxDescription, true); msg != "" {
			fields["description"] = msg
		}
	}
	if len(fields) > 0 {
		return &auth.ValidationError{Fields: fields}
	}
	return nil
}

// checkText returns what is wrong with s, or "". Control characters are
// refused (NUL above all, which PostgreSQL cannot store and SQLite would),
// but for tab, newline and carriage return when multiline.
func checkText(s string, minLen, maxLen int, multiline bool) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n < minLen:
		return "is required"
	case n > maxLen:
		return fmt.Sprintf("must be at most %d characters", maxLen)
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r'))
	}) >= 0 {
		return "must not contain control characters"
	}
	return ""
}
