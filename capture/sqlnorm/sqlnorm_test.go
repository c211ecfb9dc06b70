package sqlnorm

import (
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?"},
		{"select 'it''s', \"dq\", 3.5e-2, 0xFF, x'0A', b'01'", "select ?, ?, ?, ?, ?, ?"},
		{`INSERT INTO t VALUES ('a\'b', -7)`, "INSERT INTO t VALUES (?, -?)"},
		{"SELECT $1, $2 FROM t1 WHERE c2 = ?", "SELECT $1, $2 FROM t1 WHERE c2 = ?"},
		{"SELECT $tag$ body ' $tag$, $$x$$", "SELECT ?, ?"},
		{"SELECT 1 -- id = 5\n, col2 /* 7 */", "SELECT ? -- id = 5\n, col2 /* 7 */"},
		{"SELECT `col1` FROM `t2`", "SELECT `col1` FROM `t2`"},
		{"SELECT E'\\n', N'x'", "SELECT ?, ?"},
		{"unterminated 'abc", "unterminated ?"},
	}
	for _, tc := range tests {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFingerprintGroupsStatements(t *testing.T) {
	same := [][]string{
		{"SELECT * FROM t WHERE id = 1", "select *  from T where ID=2", "SELECT * FROM t WHERE id = 3 -- c", "SELECT * FROM t WHERE id = 4;"},
		{"SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (4)", "select * from t where id in (?,?)"},
		{"INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES (3, 'c')"},
		{"SELECT a FROM b WHERE c = $1", "SELECT a FROM b WHERE c = ?"},
	}
	seen := map[string]int{}
	for gi, group := range same {
		fp := Fingerprint(group[0])
		if len(fp) != 16 {
			t.Fatalf("fingerprint %q is not 16 hex digits", fp)
		}
		for _, q := range group[1:] {
			if got := Fingerprint(q); got != fp {
				t.Errorf("group %d: %q -> %s (%q), %q -> %s (%q)", gi, group[0], fp, Normalize(group[0]), q, got, Normalize(q))
			}
		}
		if other, ok := seen[fp]; ok {
			t.Errorf("groups %d and %d share fingerprint %s", other, gi, fp)
		}
		seen[fp] = gi
	}
	if Fingerprint("SELECT a FROM t") == Fingerprint("SELECT b FROM t") {
		t.Errorf("different columns share a fingerprint")
	}
}

func TestVerbAndTruncate(t *testing.T) {
	for in, want := range map[string]string{
		"  select 1": "SELECT", "/* hint */ INSERT INTO t": "INSERT", "(SELECT 1) UNION (SELECT 2)": "SELECT",
		"-- c\nupdate t set a=1": "UPDATE", "": "", "123": "", "COMMIT": "COMMIT",
	} {
		if got := Verb(in); got != want {
			t.Errorf("Verb(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Truncate("héllo", 2); got != "h" {
		t.Errorf("Truncate split a character: %q", got)
	}
	if got := Truncate("abc", 10); got != "abc" {
		t.Errorf("Truncate of a short string: %q", got)
	}
}

// The lexer never panics, masking keeps the text's shape (only literals change), and
// truncation keeps UTF-8 valid.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"SELECT 'a' FROM t WHERE x = 1", "$a$ unterminated", "/* open", "'", "0x", "1e+", "E'\\"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, q string, n int) {
		checkFingerprint(t, q)
		if got, want := string(foldLists([]byte("x"+q), 1)), "x"+foldListsRef(q); got != want {
			t.Fatalf("foldLists(%q) = %q, want %q", q, got, want)
		}
		_ = Verb(q)
		m := Mask(q)
		if len(m) > len(q)+1 {
			t.Fatalf("Mask grew %q to %q", q, m)
		}
		if !strings.ContainsAny(q, "'\"$0123456789") && m != q {
			t.Fatalf("Mask changed text without literals: %q -> %q", q, m)
		}
		if n > 0 && utf8.ValidString(q) && !utf8.ValidString(Truncate(q, n)) {
			t.Fatalf("Truncate(%q, %d) is not valid UTF-8", q, n)
		}
	})
}

// foldListsRef is how foldLists was first written, on strings: the in-place one must agree.
func foldListsRef(s string) string {
	for _, r := range [...][2]string{{"?,?", "?"}, {"(?),(?)", "(?)"}} {
		for strings.Contains(s, r[0]) {
			s = strings.ReplaceAll(s, r[0], r[1])
		}
	}
	return s
}

// checkFingerprint compares Fingerprint(q) with hash/fnv's FNV-1a of Normalize(q).
func checkFingerprint(t *testing.T, q string) {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(Normalize(q)))
	if got, want := Fingerprint(q), hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("Fingerprint(%q) = %s, want %s", q, got, want)
	}
}

// TestFingerprintTable runs more distinct statements than the table of fingerprint texts
// keeps, and the first ones again after it forgot them, and statements that differ in one
// character or only in case (which normalise the same): each must get its own hash's text.
func TestFingerprintTable(t *testing.T) {
	var qs []string
	for i := range maxFingerprints + 10 {
		qs = append(qs, "SELECT c"+strconv.Itoa(i)+" FROM t WHERE id IN (1, 2, 3)")
	}
	qs = append(qs, qs[:20]...)
	qs = append(qs, "SELECT a FROM t", "select A from T", "SELECT b FROM t", "SELECT a FROM u;;", "SELECT a FROM t WHERE x IN ((1),(2),(3))")
	for _, q := range qs {
		checkFingerprint(t, q)
	}
	if Fingerprint("SELECT a FROM t") != Fingerprint("select A from T") || Fingerprint("SELECT a FROM t") == Fingerprint("SELECT b FROM t") {
		t.Errorf("fingerprints of the same and of different statements")
	}
	if n := len(fingerprints.m); n > maxFingerprints {
		t.Errorf("table holds %d, bound %d", n, maxFingerprints)
	}
	if n := testing.AllocsPerRun(100, func() { Fingerprint("SELECT a FROM t WHERE id = 1") }); n != 0 {
		t.Errorf("Fingerprint of a known statement: %v allocations, want 0", n)
	}
}
