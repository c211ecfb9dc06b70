package mysql

import (
	"strconv"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// TestQueryCache: a cached statement is the one newStmt makes of the same bytes under the
// same options, however the texts and options are interleaved: never one of a text that
// differs by a byte, by its cut, or by the options it was made under.
func TestQueryCache(t *testing.T) {
	texts := []string{"SELECT 1", "SELECT 2", "select 1", "SELECT 1 ", "INSERT INTO t VALUES (1,'a')", "", strings.Repeat("SELECT 'x', ", 200)}
	for i := range 3 * querySlots {
		texts = append(texts, "SELECT "+strconv.Itoa(i)+" FROM t WHERE a = 'v"+strconv.Itoa(i)+"'")
	}
	optss := []*protocols.Options{nil, {}, {MaskLiterals: true}, {MaxQueryLength: 10}, {MaxQueryLength: 20}, {MaskLiterals: true, MaxQueryLength: 10}}
	check := func(text string, cut bool, opts *protocols.Options) {
		t.Helper()
		if got, want := queryStmt([]byte(text), cut, opts), newStmt(text, cut, opts); *got != *want {
			t.Fatalf("%q cut %v opts %+v: got %+v, want %+v", text, cut, opts, *got, *want)
		}
	}
	for range 2 { // each key after another of the same text that differs in one part
		for _, cut := range []bool{false, true} {
			for _, opts := range optss {
				for _, text := range texts {
					check(text, cut, opts)
				}
			}
		}
		for _, text := range texts {
			for _, opts := range optss {
				check(text, false, opts)
				check(text, true, opts)
				check(text, false, opts) // a hit
			}
		}
	}
}
