package kafka

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
)

// FuzzTruncate: any oversized event becomes valid JSON within the limit, marked truncated.
func FuzzTruncate(f *testing.F) {
	f.Add("SELECT 1", "app", "orders", 1024)
	f.Add(strings.Repeat("é\x00<", 3000), strings.Repeat("k", 500), strings.Repeat("\"", 5000), 1500)
	f.Add("", "", strings.Repeat("v", 100000), 2048)
	f.Fuzz(func(t *testing.T, query, labelKey, labelValue string, limit int) {
		limit = minMessageBytes + (limit&0xffff)%8192
		ev := &event.Event{Type: event.TypeMySQL, Query: query, Error: &event.Error{Message: query},
			Kubernetes: &event.Kubernetes{Namespace: "ns", Labels: map[string]string{labelKey: labelValue}}}
		ev.Network.CommunityID = "1:abc="
		b := encode(ev)
		if len(b) <= limit {
			return
		}
		out := truncate(ev, len(b), limit)
		if len(out) > limit {
			t.Fatalf("%d bytes over the limit %d", len(out), limit)
		}
		var back event.Event
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("invalid JSON: %v", err)
		}
		if back.ExportTruncated == nil || back.ExportTruncated.OriginalBytes != len(b) || back.Network.CommunityID != "1:abc=" {
			t.Fatalf("marker %+v, community_id %q", back.ExportTruncated, back.Network.CommunityID)
		}
	})
}
