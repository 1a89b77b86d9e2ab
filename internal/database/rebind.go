package database

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
)

// rebinder is an Executor whose statements have their ?N parameters
// rewritten into $N (see rebind) before they reach ex. DB puts it around
// every pool and transaction of a PostgreSQL database it hands to the
// generated accessors, its own and an application's alike: the rewrite
// lives in credstore's executor rather than in the driver, so a pool that
// the application opened itself, with whatever driver options it chose,
// needs nothing from credstore. Statements already written with $N pass
// through unchanged.
type rebinder struct {
	ex    Executor
	cache *rebindCache // shared by the database's executors
}

func (r rebinder) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.ex.ExecContext(ctx, r.cache.rebind(query), args...)
}

func (r rebinder) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return r.ex.PrepareContext(ctx, r.cache.rebind(query))
}

func (r rebinder) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.ex.QueryContext(ctx, r.cache.rebind(query), args...)
}

func (r rebinder) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.ex.QueryRowContext(ctx, r.cache.rebind(query), args...)
}

// Rebind returns query with SQLite's ?N parameters rewritten into
// PostgreSQL's $N, as the PostgreSQL executors do; for tools and tests that
// send SQL through a pool of their own.
func Rebind(query string) string { return rebind(query) }

// rebind rewrites SQLite's positional parameters into PostgreSQL's. The
// generated accessors come from sqlc's sqlite engine and number their
// parameters ?1, ?2...; PostgreSQL wants $1, $2... Rather than generate and
// carry a second package of accessors, the PostgreSQL executor (rebinder)
// rewrites each statement's text before it reaches the pool.
//
// It follows SQLite's rules: ?N is parameter N, and a bare ? is one more than
// the largest number used so far. Question marks inside string literals
// ('...', E'...', $tag$...$tag$), quoted identifiers ("...") and comments
// (-- to the end of the line, /* ... */ nested as PostgreSQL nests them) are
// left alone. A rewritten parameter is kept apart from an identifier
// written against it ("LIMIT?1" gives "LIMIT $1", "?1AND" gives "$1 AND").
// A statement without a ? is returned as it is.
//
// PostgreSQL's own operators that are spelt with a question mark (jsonb's ?,
// ?| and ?&) cannot be told apart from parameters here; queries must use the
// equivalent functions (jsonb_exists and friends) instead.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	highest := 0
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == '\'':
			// E'...' strings allow backslash escapes; plain ones do not.
			p1, p2 := lastTwo(&b)
			escapes := (p1 == 'E' || p1 == 'e') && !isIdentByte(p2)
			j := skipQuoted(query, i, '\'', escapes)
			b.WriteString(query[i:j])
			i = j
		case c == '"':
			j := skipQuoted(query, i, '"', false)
			b.WriteString(query[i:j])
			i = j
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			j := skipBlockComment(query, i)
			b.WriteString(query[i:j])
			i = j
		case c == '$' && !isIdentByte(lastByte(&b)):
			j := skipDollarQuoted(query, i)
			b.WriteString(query[i:j])
			i = j
		case c == '?':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			n := highest + 1
			if j > i+1 {
				// Digits are checked above, so only overflow can fail;
				// such a statement is broken either way and the server
				// will say so.
				if v, err := strconv.Atoi(query[i+1 : j]); err == nil {
					n = v
				}
			}
			highest = max(highest, n)
			// SQLite ends a parameter where its digits end; PostgreSQL
			// would read "a$1" as one identifier and reject "$1AND" as
			// trailing junk. A space on either side keeps the tokens
			// SQLite saw.
			if isIdentByte(lastByte(&b)) {
				b.WriteByte(' ')
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			if j < len(query) && isIdentByte(query[j]) {
				b.WriteByte(' ')
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// lastByte returns the last byte written to b, or 0.
func lastByte(b *strings.Builder) byte {
	p1, _ := lastTwo(b)
	return p1
}

// lastTwo returns the last byte written to b and the one before it, 0 where
// there is none.
//
// rebind decides what a quote or a dollar sign begins by the bytes before
// it. It looks at its output rather than its input, because that is the
// text PostgreSQL reads: a rewritten ?1 ends in a digit, a bare ? did not.
// Deciding by the input would let a rewrite change how the text after it
// reads ("?$$?" would become "$1$$?", whose "$$" is no longer a quote, and
// whose last ? a second pass would rewrite).
func lastTwo(b *strings.Builder) (p1, p2 byte) {
	out := b.String()
	if n := len(out); n > 0 {
		p1 = out[n-1]
		if n > 1 {
			p2 = out[n-2]
		}
	}
	return p1, p2
}

// skipQuoted returns the index just past the quoted token that starts at
// query[i] (a doubled quote stays inside it), or len(query) if it never
// closes.
func skipQuoted(query string, i int, quote byte, backslashEscapes bool) int {
	for j := i + 1; j < len(query); j++ {
		switch query[j] {
		case '\\':
			if backslashEscapes {
				j++
			}
		case quote:
			if j+1 < len(query) && query[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(query)
}

// skipBlockComment returns the index just past the /* */ comment that
// starts at query[i]. PostgreSQL nests block comments.
func skipBlockComment(query string, i int) int {
	depth := 0
	for j := i; j+1 < len(query); j++ {
		switch {
		case query[j] == '/' && query[j+1] == '*':
			depth++
			j++
		case query[j] == '*' && query[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(query)
}

// skipDollarQuoted returns the index just past the dollar-quoted string
// ($$...$$ or $tag$...$tag$) that starts at query[i]. When query[i] begins no
// such string (a $1 parameter, say) it returns i+1.
func skipDollarQuoted(query string, i int) int {
	j := i + 1
	for j < len(query) && isIdentByte(query[j]) && query[j] != '$' {
		if j == i+1 && query[j] >= '0' && query[j] <= '9' {
			return i + 1 // $1: a parameter, not a tag
		}
		j++
	}
	if j >= len(query) || query[j] != '$' {
		return i + 1
	}
	tag := query[i : j+1]
	end := strings.Index(query[j+1:], tag)
	if end < 0 {
		return len(query)
	}
	return j + 1 + end + len(tag)
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// rebindCache remembers rewritten statements. The generated accessors send
// the same few dozen constant strings over and over; rewriting them once is
// enough. The cache stops growing at rebindCacheMax entries so that a caller
// building SQL text dynamically cannot grow it without bound; beyond that,
// statements are rewritten on every call.
type rebindCache struct {
	mu sync.RWMutex
	m  map[string]string
}

const rebindCacheMax = 1024

func (c *rebindCache) rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	c.mu.RLock()
	out, ok := c.m[query]
	c.mu.RUnlock()
	if ok {
		return out
	}
	out = rebind(query)
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]string)
	}
	if len(c.m) < rebindCacheMax {
		c.m[query] = out
	}
	c.mu.Unlock()
	return out
}
