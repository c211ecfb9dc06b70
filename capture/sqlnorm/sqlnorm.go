// Package sqlnorm normalises SQL statement text for audit events: it masks literal values,
// computes a stable fingerprint of the normalised statement so that audits can group the same
// statement with different values, and finds the statement's verb. It is a lexer, not a
// parser: it never fails, whatever bytes it is given.
package sqlnorm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync"
	"unicode/utf8"
)

// Verb returns the upper-cased first keyword of q ("SELECT", "INSERT", ...), skipping leading
// space, comments and parentheses; "" if q has none.
func Verb(q string) string {
	i := skipNoise(q, 0)
	for i < len(q) && q[i] == '(' {
		i = skipNoise(q, i+1)
	}
	j := i
	for j < len(q) && isLetter(q[j]) {
		j++
	}
	if j == i || j-i > 32 {
		return ""
	}
	return strings.ToUpper(q[i:j])
}

// Mask returns q with every literal (quoted string, number, hex or bit literal, dollar-quoted
// string) replaced by `?`. Identifiers, keywords, comments and placeholders are kept.
func Mask(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	walk(q, func(kind tokenKind, tok string) {
		if kind == tokLiteral {
			b.WriteByte('?')
			return
		}
		b.WriteString(tok)
	})
	return b.String()
}

// Normalize returns the canonical form of q that Fingerprint hashes: literals masked, comments
// dropped, keywords and identifiers lower-cased, space kept only between words, and lists of
// placeholders such as `IN (?, ?, ?)` or `VALUES (?, ?), (?, ?)` folded to one element, so
// that the same statement with different values or list lengths normalises the same.
func Normalize(q string) string {
	return string(appendNormalized(make([]byte, 0, len(q)), q))
}

// appendNormalized appends Normalize(q) to b, for Fingerprint to hash it from a buffer it
// reuses instead of making a string.
func appendNormalized(b []byte, q string) []byte {
	start := len(b)
	// Space is kept only where it separates two words (or literals): "id=1" and "id = 1"
	// normalise the same.
	prevWord, space := false, false
	walk(q, func(kind tokenKind, tok string) {
		switch kind {
		case tokSpace, tokComment:
			space = true
			return
		}
		word := kind == tokWord || kind == tokLiteral || kind == tokPlaceholder
		if space && prevWord && word {
			b = append(b, ' ')
		}
		space, prevWord = false, word
		switch kind {
		case tokLiteral, tokPlaceholder:
			b = append(b, '?')
		case tokWord:
			for i := 0; i < len(tok); i++ {
				c := tok[i]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b = append(b, c)
			}
		default:
			b = append(b, tok...)
		}
	})
	return foldLists(b[:start+len(bytes.TrimRight(b[start:], ";"))], start)
}

// Fingerprint is a 16-hex-digit hash (FNV-1a, 64 bits) of Normalize(q).
func Fingerprint(q string) string {
	bp := normBufs.Get().(*[]byte)
	n := appendNormalized((*bp)[:0], q)
	h := uint64(fnvOffset)
	for _, c := range n {
		h = (h ^ uint64(c)) * fnvPrime
	}
	if cap(n) <= maxNormBuf {
		*bp = n
	}
	normBufs.Put(bp)
	return fingerprints.get(h)
}

// FNV-1a, 64 bits (hash/fnv), written out so that hashing allocates nothing.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// normBufs holds the buffers Fingerprint normalises into: SetQuery calls it for every
// statement, from every pipeline's goroutine. A buffer grown beyond maxNormBuf by a huge
// statement is not kept.
var normBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxNormBuf = 64 << 10

// fingerprints interns the hex text of recent hashes: the statements of an application are
// few and repeat with other values, so the same fingerprint text is made once instead of per
// statement. The table is bounded and forgets everything when full.
var fingerprints = hexTable{m: make(map[uint64]string)}

const maxFingerprints = 4096

type hexTable struct {
	mu sync.Mutex
	m  map[uint64]string
}

// get returns the 16 hex digits of h.
func (t *hexTable) get(h uint64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.m[h]; ok {
		return s
	}
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], h)
	var text [16]byte
	hex.Encode(text[:], sum[:])
	s := string(text[:])
	if len(t.m) >= maxFingerprints {
		clear(t.m)
	}
	t.m[h] = s
	return s
}

// Truncate cuts q to at most n bytes without splitting a UTF-8 character.
func Truncate(q string, n int) string {
	if len(q) <= n {
		return q
	}
	for n > 0 && !utf8.RuneStart(q[n]) {
		n--
	}
	return q[:n]
}

// foldLists rewrites "(?,?,?)" to "(?)" and "(?),(?),(?)" to "(?)", repeatedly, in b from
// start on, in place.
func foldLists(b []byte, start int) []byte {
	for _, r := range [...][2]string{{"?,?", "?"}, {"(?),(?)", "(?)"}} {
		for bytes.Contains(b[start:], []byte(r[0])) {
			b = replaceAll(b, start, r[0], r[1])
		}
	}
	return b
}

// replaceAll is strings.ReplaceAll of b[start:] for a shorter new, in place: what is written
// never reaches what is still to be read.
func replaceAll(b []byte, start int, old, new string) []byte {
	w := start
	for r := start; r < len(b); {
		if bytes.HasPrefix(b[r:], []byte(old)) {
			w += copy(b[w:], new)
			r += len(old)
			continue
		}
		b[w] = b[r]
		w++
		r++
	}
	return b[:w]
}

type tokenKind uint8

const (
	tokSpace tokenKind = iota
	tokComment
	tokWord        // keyword or identifier, including quoted identifiers
	tokLiteral     // string, number, hex, bit or dollar-quoted literal
	tokPlaceholder // ?, $1, :name
	tokOther       // operators and punctuation
)

// walk splits q into tokens and calls f for each, in order; the tokens concatenate to q.
func walk(q string, f func(tokenKind, string)) {
	for i := 0; i < len(q); {
		c := q[i]
		j := i + 1
		kind := tokOther
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			for j < len(q) && isSpace(q[j]) {
				j++
			}
			kind = tokSpace
		case c == '-' && j < len(q) && q[j] == '-', c == '#':
			j = indexFrom(q, j, "\n", len(q))
			kind = tokComment
		case c == '/' && j < len(q) && q[j] == '*':
			j = indexFrom(q, j+1, "*/", len(q)-2) + 2
			kind = tokComment
		case c == '\'':
			j = endQuote(q, j, '\'')
			kind = tokLiteral
		case c == '"':
			// Identifier in standard SQL and PostgreSQL; MySQL (without ANSI_QUOTES) reads it
			// as a string, so it is masked too: masking too much is the safe side for audit.
			j = endQuote(q, j, '"')
			kind = tokLiteral
		case c == '`':
			j = endQuote(q, j, '`')
			kind = tokWord
		case (c == 'x' || c == 'X' || c == 'b' || c == 'B' || c == 'e' || c == 'E' || c == 'n' || c == 'N') &&
			j < len(q) && q[j] == '\'' && (i == 0 || !isWordByte(q[i-1])):
			j = endQuote(q, j+1, '\'')
			kind = tokLiteral
		case c == '0' && j < len(q) && (q[j] == 'x' || q[j] == 'X'):
			j++
			for j < len(q) && isHex(q[j]) {
				j++
			}
			kind = tokLiteral
		case isDigit(c) || (c == '.' && j < len(q) && isDigit(q[j])):
			j = endNumber(q, i)
			kind = tokLiteral
		case c == '$':
			if k := dollarTag(q, i); k > i {
				tag := q[i:k]
				j = indexFrom(q, k, tag, len(q)-len(tag)) + len(tag)
				kind = tokLiteral
			} else {
				for j < len(q) && isDigit(q[j]) {
					j++
				}
				kind = tokPlaceholder
			}
		case c == '?':
			kind = tokPlaceholder
		case isWordByte(c):
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			kind = tokWord
		}
		if j > len(q) {
			j = len(q)
		}
		f(kind, q[i:j])
		i = j
	}
}

// indexFrom is the index of sub in q at or after i, or end when sub is absent.
func indexFrom(q string, i int, sub string, end int) int {
	if i > len(q) {
		return end
	}
	if k := strings.Index(q[i:], sub); k >= 0 {
		return i + k
	}
	if end < i {
		return len(q)
	}
	return end
}

// endQuote returns the index after the closing quote of a literal whose body starts at i,
// honouring doubled quotes and backslash escapes; len(q) if it never closes.
func endQuote(q string, i int, quote byte) int {
	for i < len(q) {
		switch q[i] {
		case '\\':
			i += 2
			continue
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(q)
}

func endNumber(q string, i int) int {
	for i < len(q) && (isDigit(q[i]) || q[i] == '.') {
		i++
	}
	if i < len(q) && (q[i] == 'e' || q[i] == 'E') {
		k := i + 1
		if k < len(q) && (q[k] == '+' || q[k] == '-') {
			k++
		}
		if k < len(q) && isDigit(q[k]) {
			for k < len(q) && isDigit(q[k]) {
				k++
			}
			i = k
		}
	}
	return i
}

// dollarTag returns the end of a PostgreSQL dollar-quote opener ($$ or $tag$) at i, or i.
func dollarTag(q string, i int) int {
	j := i + 1
	for j < len(q) && (isLetter(q[j]) || q[j] == '_' || (j > i+1 && isDigit(q[j]))) {
		j++
	}
	if j < len(q) && q[j] == '$' {
		return j + 1
	}
	return i
}

func skipNoise(q string, i int) int {
	for i < len(q) {
		switch {
		case isSpace(q[i]):
			i++
		case strings.HasPrefix(q[i:], "--") || q[i] == '#':
			i = indexFrom(q, i, "\n", len(q))
		case strings.HasPrefix(q[i:], "/*"):
			i = indexFrom(q, i+2, "*/", len(q)-2) + 2
		default:
			return i
		}
	}
	return len(q)
}

func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isHex(c byte) bool    { return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') }
func isLetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isWordByte(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '_' || c == '$' || c >= 0x80
}
