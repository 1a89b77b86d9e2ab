package authhttp

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnquoteJSONValid: on every literal that decodes to valid UTF-8,
// unquoteJSON and encoding/json agree.
func TestUnquoteJSONValid(t *testing.T) {
	t.Parallel()
	lits := []string{
		`""`, `"abc"`, `"mySuperPwd"`, `"a\"b"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"tab\there"`,
		`"\u00e9"`, `"\u00E9t\u00e9"`, `"été"`, `"\ud83d\ude00"`, `"\uD83D\uDE00"`, `"😀"`, `"a\ud83d\ude00b"`,
		`"\u0000"`, `"pass\u0000word"`, `"\ufffd"`, "\"\uFFFD\"", `"\u2028\u2029"`, `"\u007f"`, `"\u0041"`,
		`"\udbff\udfff"`, `"\ud800\udc00"`, `"</script>"`, `"\u003c"`, `"日本語"`, `"x\\u0041"`,
	}
	for _, lit := range lits {
		var want string
		require.NoError(t, json.Unmarshal([]byte(lit), &want), lit)
		got, err := unquoteJSON([]byte(lit))
		require.NoError(t, err, lit)
		assert.Equal(t, want, got, lit)
	}

	// And every valid string survives encoding/json's encoding, with or
	// without its HTML escaping, then unquoteJSON.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b strings.Builder
		for range rng.IntN(12) {
			switch rng.IntN(4) {
			case 0:
				b.WriteByte(byte(rng.IntN(128)))
			case 1:
				b.WriteRune(rune(rng.IntN(0xd800)))
			case 2:
				b.WriteRune(rune(0xe000 + rng.IntN(0x10000-0xe000)))
			default:
				b.WriteRune(rune(0x10000 + rng.IntN(0x100000)))
			}
		}
		s := b.String()
		lit, err := json.Marshal(s)
		require.NoError(t, err)
		got, err := unquoteJSON(lit)
		require.NoError(t, err)
		require.Equal(t, s, got, "%q", lit)
	}
}

// TestUnquoteJSONKeepsInvalid: what encoding/json would turn into U+FFFD
// comes out as bytes that are not valid UTF-8.
func TestUnquoteJSONKeepsInvalid(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, lit, want string }{
		{"raw 0xff", "\"mySuper\xffPwd\"", "mySuper\xffPwd"},
		{"raw truncated sequence", "\"\xe2\x82\"", "\xe2\x82"},
		{"raw encoded surrogate", "\"\xed\xa0\x80\"", "\xed\xa0\x80"},
		{"lone high surrogate", `"\ud800"`, "\xed\xa0\x80"},
		{"lone low surrogate", `"\udc00"`, "\xed\xb0\x80"},
		{"last high surrogate", `"\udbff"`, "\xed\xaf\xbf"},
		{"last low surrogate", `"\udfff"`, "\xed\xbf\xbf"},
		{"high surrogate then another escape", `"\ud800\u0041"`, "\xed\xa0\x80A"},
		{"high surrogate then a high-low pair", `"\ud800\ud800\udc00"`, "\xed\xa0\x80\U00010000"},
		{"high surrogate then a character", `"\ud800x"`, "\xed\xa0\x80x"},
		{"high surrogate then \\n", `"\ud800\n"`, "\xed\xa0\x80\n"},
		{"low then high", `"\udc00\ud800"`, "\xed\xb0\x80\xed\xa0\x80"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var std string
			require.NoError(t, json.Unmarshal([]byte(tc.lit), &std), "encoding/json accepts it")
			assert.Contains(t, std, "\uFFFD", "encoding/json replaces it")
			got, err := unquoteJSON([]byte(tc.lit))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.False(t, utf8.ValidString(got))
			assert.NotContains(t, got, "\uFFFD")
		})
	}
}

// TestUnquoteJSONMalformed: literals encoding/json refuses are refused,
// without a panic.
func TestUnquoteJSONMalformed(t *testing.T) {
	t.Parallel()
	for _, lit := range []string{``, `"`, `abc`, `"abc`, `abc"`, `"\"`, `"\x"`, `"\u12"`, `"\u12g4"`, `"\ud800\u12"`,
		`"a"b"`, "\"a\nb\"", "\"\x00\"", `"\`, `"\u"`, `5`, `{}`} {
		var std string
		assert.Error(t, json.Unmarshal([]byte(lit), &std), "encoding/json refuses %q", lit)
		_, err := unquoteJSON([]byte(lit))
		assert.Error(t, err, "%q", lit)
	}
}
