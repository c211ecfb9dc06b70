package event

import "testing"

// TestRelease: a released event comes back from New zeroed, and an event that New did not
// make (a literal, as tests build them) is left as it was.
func TestRelease(t *testing.T) {
	ev := New()
	ev.Type, ev.Query = TypeRedis, "GET k"
	ev.NewRedis().ReturnValue = "v"
	if ev.Redis == nil || ev.Redis.ReturnValue != "v" {
		t.Fatalf("NewRedis did not set ev.Redis: %+v", ev.Redis)
	}
	Release(ev)
	for range 4 {
		if got := New(); *got != (Event{pooled: true}) {
			t.Fatalf("New returned a used event: %+v", got)
		}
	}
	lit := &Event{Type: TypeMySQL}
	lit.NewRedis().Error = "e"
	Release(lit)
	if lit.Type != TypeMySQL || lit.Redis.Error != "e" {
		t.Errorf("Release changed an event New did not make: %+v", lit)
	}
	Release(nil)
}
