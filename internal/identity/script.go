package identity

import (
	"slices"
	"sort"
	"unicode"
)

// scriptTable is one Unicode script of the standard library's tables.
type scriptTable struct {
	name  string
	table *unicode.RangeTable
}

// scripts lists unicode.Scripts less Common and Inherited, which
// mixesScripts ignores, with the likeliest scripts first; the scripts are
// disjoint, so the order changes the speed of a look-up, not its answer.
var scripts = func() []scriptTable {
	first := []string{"Latin", "Han", "Greek", "Cyrillic", "Hiragana", "Katakana", "Hangul", "Arabic", "Hebrew"}
	var rest []string
	for name := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && !slices.Contains(first, name) {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	var list []scriptTable
	for _, name := range append(first, rest...) {
		list = append(list, scriptTable{name, unicode.Scripts[name]})
	}
	return list
}()

// allowedMixes are the script sets UTS #39 (section 5.2) allows at its
// Highly Restrictive level beyond a single script: Latin with the scripts
// written beside it in Japanese, Chinese and Korean.
var allowedMixes = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// mixesScripts reports whether s fails the Highly Restrictive level of
// UTS #39: ignoring Common and Inherited characters (digits, ASCII symbols,
// combining marks), its characters must be of one script or of one of
// allowedMixes. A character in no script table counts as a script of its
// own, "Unknown".
func mixesScripts(s string) bool {
	var seen []string
	for _, r := range s {
		if r <= unicode.MaxASCII && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			continue // ASCII digits and symbols are Common
		}
		name := scriptOf(r)
		if name != "" && !slices.Contains(seen, name) {
			seen = append(seen, name)
		}
	}
	if len(seen) <= 1 {
		return false
	}
	for _, mix := range allowedMixes {
		if subset(seen, mix) {
			return false
		}
	}
	return true
}

// scriptOf returns the script of r, or "" for Common and Inherited.
func scriptOf(r rune) string {
	if unicode.In(r, unicode.Common, unicode.Inherited) {
		return ""
	}
	for _, s := range scripts {
		if unicode.Is(s.table, r) {
			return s.name
		}
	}
	return "Unknown"
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
