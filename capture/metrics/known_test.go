package metrics

import "testing"

// TestKnownTypes: the switch and the list of known types agree, so a counter is never filed
// under another type's slot.
func TestKnownTypes(t *testing.T) {
	for i, typ := range knownTypes {
		if got := typeIndex(typ); got != i {
			t.Errorf("typeIndex(%q) = %d, want %d", typ, got, i)
		}
	}
	if typeIndex("other") != -1 {
		t.Error("an unknown type has a slot")
	}
}
