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

type part struct{ recycled int }

func (p *part) Recycle() { p.recycled++ }

// TestOwn: Release recycles the part an event owns once, after the event is cleared; an event
// that New did not make owns nothing, and its part is never recycled.
func TestOwn(t *testing.T) {
	ev, p := New(), &part{}
	if !ev.Own(p) {
		t.Fatal("an event from New refused its part")
	}
	Release(ev)
	if p.recycled != 1 || ev.part != nil {
		t.Errorf("part recycled %d times, event still owns %v", p.recycled, ev.part)
	}
	lit, q := &Event{}, &part{}
	if lit.Own(q) {
		t.Error("a literal event took a part")
	}
	Release(lit)
	if q.recycled != 0 {
		t.Errorf("a literal's part was recycled %d times", q.recycled)
	}
}
