package kafka

import "github.com/audit-io/wire-audit/capture/event"

// Encode encodes ev as Emit does (into a pooled scratch buffer, no copy), for the benchmark's
// split of CPU time between encoding and transport.
func Encode(ev *event.Event) int {
	s := scratches.Get().(*scratch)
	defer scratches.Put(s)
	return len(s.message(ev))
}
