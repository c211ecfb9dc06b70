package export

import (
	"strings"
	"testing"
)

func TestCompact(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"query folded to one line",
			`{"@timestamp":"2026-11-24T11:41:19.2425Z","type":"pgsql","status":"Error","query":"SELECT *\n  FROM t","event":{"duration":1500000},"kubernetes":{"namespace":"shop","pod":{"name":"api-1"}}}`,
			"2026-11-24T11:41:19.242Z shop/api-1 pgsql Error 1.5ms SELECT * FROM t"},
		{"no pod identity",
			`{"@timestamp":"2026-11-24T11:41:19Z","type":"mysql","status":"OK","method":"QUIT","event":{"duration":0}}`,
			"2026-11-24T11:41:19.000Z - mysql OK - QUIT"},
		{"http url",
			`{"@timestamp":"2026-11-24T11:41:19Z","type":"http","status":"OK","method":"GET","url":{"full":"http://a/b?c=1"},"event":{"duration":2000}}`,
			"2026-11-24T11:41:19.000Z - http OK 2µs GET http://a/b?c=1"},
		{"dns question",
			`{"@timestamp":"2026-11-24T11:41:19Z","type":"dns","status":"OK","dns":{"question":{"name":"db.shop.svc","type":"A"},"response_code":"NOERROR"},"event":{"duration":3000000000}}`,
			"2026-11-24T11:41:19.000Z - dns OK 3s A db.shop.svc NOERROR"},
		{"loss report",
			`{"@timestamp":"2026-11-24T11:41:20Z","type":"loss","event":{"start":"2026-11-24T11:41:19Z","end":"2026-11-24T11:41:19.5Z","duration":500000000},"loss":{"events":{"pgsql":2,"mysql":5},"total":7,"reason":"queue_full"}}`,
			"2026-11-24T11:41:20.000Z - loss - 500ms LOST 7 events (mysql=5 pgsql=2) from 2026-11-24T11:41:19Z to 2026-11-24T11:41:19.5Z, reason queue_full"},
		{"truncated",
			`{"@timestamp":"2026-11-24T11:41:19Z","type":"mysql","status":"OK","query":"SELECT 'xx","export_truncated":{"original_bytes":2000000}}`,
			"2026-11-24T11:41:19.000Z - mysql OK - SELECT 'xx [truncated by exporter]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Compact([]byte(tc.in))
			if err != nil || got != tc.want {
				t.Errorf("Compact = %q, %v\nwant      %q", got, err, tc.want)
			}
		})
	}
	if _, err := Compact([]byte("not json")); err == nil || !strings.Contains(err.Error(), "not an event") {
		t.Errorf("bad input: %v", err)
	}
}

// FuzzCompact: whatever a topic holds, the events view prints a line or an error, never panics.
func FuzzCompact(f *testing.F) {
	f.Add([]byte(`{"@timestamp":"2026-11-24T11:41:19Z","type":"mysql","status":"OK","query":"SELECT 1","event":{"duration":5}}`))
	f.Add([]byte(`{"type":"loss","loss":{"events":{"a":1},"total":1}}`))
	f.Add([]byte(`{"flow":{},"source":{"ip":"::1"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		line, err := Compact(b)
		if err == nil && strings.Contains(line, "\n") {
			t.Fatalf("line break in %q", line)
		}
	})
}
