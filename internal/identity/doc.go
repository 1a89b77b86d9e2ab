// Package identity computes the one canonical form of an identifier, in Go,
// so that both database engines store and compare the same key.
//
// # Why
//
// Two addresses that a person cannot tell apart must not become two
// accounts, and neither engine's lower() may decide what "the same" means:
// PostgreSQL's lower('İ') is 'i' and its Kelvin sign folds to 'k', SQLite's
// lower() touches ASCII only. Callers store the form returned by Email in
// its own column under the unique index, and keep the address as typed for
// display and mail. Email is pure Go and deterministic: the same input gives
// the same key on every machine built from the same go.mod and Go version.
//
// Text is the smaller gate for every other string input: valid UTF-8 and no
// NUL byte, the two things the engines store differently.
//
// # The rules of Email
//
// Each rule is checked in this order and names its *Error (errors.go); the
// first rule broken is the one reported.
//
//  1. Bytes. The address must be valid UTF-8 without NUL (ErrInvalidUTF8,
//     ErrNUL), not empty (ErrEmpty), and at most 254 bytes as typed
//     (ErrTooLong), the longest path SMTP carries.
//  2. Characters, as typed and before any mapping could hide them. Refused:
//     controls (Cc, including C1 such as U+0085) and format characters (Cf:
//     zero-width space U+200B, joiners, soft hyphen U+00AD, BOM U+FEFF,
//     LRM/RLM, the bidi embeddings and overrides U+202A–U+202E and isolates
//     U+2066–U+2069) (ErrInvisible); private-use, surrogate and unassigned
//     code points, noncharacters included (ErrUnassigned), by the Unicode
//     tables of the standard library.
//  3. Structure, after width mapping (fullwidth and halfwidth forms to their
//     plain counterparts, so '＠' is '@' and '．' is '.'). Refused: '"', '<',
//     '>', '(' and ')', that is quoted local parts, display names, angle
//     brackets and comments (ErrNotBare); any white space, the White_Space
//     property or a Z category, so U+00A0 and U+3000 too (ErrSpace); other
//     than exactly one '@', which must be typed as '@' itself: a fullwidth
//     '＠' or a small '﹫' in its place is refused, since the address as
//     typed is where mail goes (ErrAt). The address is split at that '@'.
//  4. Local part, mapped by the PRECIS UsernameCaseMapped profile of
//     RFC 8265 (golang.org/x/text/secure/precis): width mapping, Unicode
//     lower case, NFC, and the Identifier class, which refuses non-ASCII
//     punctuation and symbols, spaces, controls and every character with a
//     compatibility decomposition (ligatures, circled and mathematical
//     letters) (ErrLocalChars). As RFC 8265 says, the bidi rule of RFC 5893
//     applies only when the part holds right-to-left characters
//     (ErrBidi); precis.UsernameCaseMapped itself applies it to every
//     non-ASCII string, refusing "1josé" while accepting "1jose", so the
//     package composes the same profile without it and applies it here.
//     Then the Turkish i is folded: the dotless ı becomes i, and U+0307
//     COMBINING DOT ABOVE is removed from the combining sequence of every
//     Soft_Dotted letter (i, j, Cyrillic і, ...), after which NFC is
//     applied again. Unicode's lower case of İ is i + U+0307, which displays
//     as i, and Turkish pairs I with ı where other languages pair it with
//     i; so ADMİN, admın, admi̇n and ADMIN are all admin. The Kelvin sign
//     and the Ångström sign need no rule of their own: lower case and NFC
//     make them k and å.
//  5. The mapped local part must be 1 to 64 bytes (ErrLocalLength) and a
//     dot-atom of RFC 5322 as RFC 6531 extends it: ASCII letters, digits and
//     !#$%&'*+-/=?^_`{|}~, non-ASCII letters (L), digits (Nd) and marks (Mn,
//     Mc) (ErrLocalChars), with dots only between other characters, never
//     first, last or doubled (ErrLocalDots). A combining mark must follow a
//     letter or digit, not start the part or sit on a dot or symbol
//     (ErrMarkStart).
//  6. Scripts. The mapped local part, and each label of the domain in its
//     Unicode form (labels typed as xn-- are decoded for this), must pass
//     the Highly Restrictive level of Unicode UTS #39 (ErrMixedScripts):
//     ignoring characters of the Common and Inherited scripts, its
//     characters are of a single script, or of a subset of {Latin, Han,
//     Hiragana, Katakana}, {Latin, Han, Bopomofo} or {Latin, Han, Hangul}.
//     So "аlice" with a Cyrillic а is refused; "alice用户" is not.
//  7. Domain, converted to its ASCII form by golang.org/x/net/idna: UTS #46
//     mapping for look-up (case, width and compatibility mapping, NFC,
//     nontransitional so ß and ς stay themselves) followed by the IDNA2008
//     checks: STD3 letters, digits and hyphens only (no '_', no brackets),
//     no hyphen first or last or in the third and fourth place of a
//     U-label, the joiner context rules, the bidi rule, and xn-- labels
//     decoded and checked the same way, one that decodes to ASCII refused
//     (ErrDomain). An IP literal, bracketed or bare, is refused
//     (ErrIPLiteral). The result, lower-case A-labels, must have at least
//     two labels, none empty (so no leading, trailing or doubled dot), a
//     top-level label that is not all digits (ErrDomain), at most 63 bytes a
//     label and 253 in all (ErrDomainLength). bücher.example, BÜCHER.example
//     and xn--bcher-kva.example are all xn--bcher-kva.example.
//  8. The canonical form is the mapped local part, '@', and the ASCII
//     domain; it too must be at most 254 bytes (ErrTooLong), since punycode
//     can make a domain longer. It is itself accepted and is its own
//     canonical form (idempotent), which the tests and FuzzEmail check.
//
// # What it does not do
//
//   - No provider rules: the dots and "+tag" of a Gmail address are kept,
//     since only the provider knows what its mailboxes ignore and a wrong
//     guess would merge two people's accounts.
//   - Whole-script confusables pass: an all-Cyrillic "аре" is a different
//     account from the Latin "ape", as are confusables within one script
//     (rn and m, l and 1). Catching them needs the UTS #39 confusables
//     skeleton, a table no maintained Go library provides.
//   - Scripts are those of the Script property in the standard library's
//     tables, not Script_Extensions, which it does not have; a character
//     whose Script is Common or Inherited (digits, ASCII symbols, combining
//     marks, the Japanese prolonged sound mark) counts for no script.
//   - The local part refuses compatibility characters (PRECIS) while the
//     domain maps them (UTS #46, as resolvers do): ℯxample.com is
//     example.com. Both collapse rather than create a second key.
//   - ß and ss, ς and σ stay distinct: they are different letters, not
//     different spellings of one, and look different.
//   - The key depends on the Unicode version of the tables: Unicode 15.0 in
//     the standard library of this Go version, and 15.0 in x/text and x/net
//     before Go 1.27, 17.0 from Go 1.27 on. NFC is stable across versions
//     for assigned characters; new characters become accepted. After
//     upgrading Go or x/text, run Email over the stored keys and look for
//     any that change or are refused before relying on the new build.
//
// The canonical form is itself a valid RFC 6531 address; the typed one may
// not be deliverable as typed (a fullwidth local part, say), so a caller that
// mails may prefer the canonical form.
package identity
