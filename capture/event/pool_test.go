package event

import "testing"

// TestRelease: a released event comes back from New zeroed, and an event that New did not
// make (a literal, as tests build them) is left as it was.
func TestRelease(t *testing.T) {
	ev := New()
	ev.Type, ev.Query, ev.Redis = TypeRedis, "GET k", &Redis{ReturnValue: "v"}
	Release(ev)
	for range 4 {
		if got := New(); *got != (Event{pooled: true}) {
			t.Fatalf("New returned a used event: %+v", got)
		}
	}
	lit := &Event{Type: TypeMySQL}
	Release(lit)
	if lit.Type != TypeMySQL {
		t.Errorf("Release changed an event New did not make: %+v", lit)
	}
	Release(nil)
}
