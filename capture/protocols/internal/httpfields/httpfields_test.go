package httpfields

import (
	"bytes"
	"strconv"
	"testing"
)

// The two parts SplitHost does by hand must agree with strconv and bytes.ToLower on anything.
func checkParts(t *testing.T, b []byte) {
	t.Helper()
	if got, want := lower(b), string(bytes.ToLower(b)); got != want {
		t.Errorf("lower(%q) = %q, want %q", b, got, want)
	}
	var want uint16
	if n, err := strconv.ParseUint(string(b), 10, 16); err == nil {
		want = uint16(n)
	}
	if got := portNumber(b); got != want {
		t.Errorf("portNumber(%q) = %d, want %d", b, got, want)
	}
}

var hosts = []string{
	"", "example.com", "Example.COM", "example.com:8080", "8080", "0", "65535", "65536", "000080", "+80", "example.com:", "example.com:0",
	"example.com:65535", "example.com:65536", "example.com:000080", "example.com:+80",
	"example.com:-1", "example.com:8o", "example.com:99999999999999999999", "[::1]:443", "[::1]",
	"[FD00::1]:x", "[", "10.0.0.2", "ÄBC.example:81", "\xff\xfeA:1", "a:b:c", "İ.example",
}

func TestSplitHost(t *testing.T) {
	for _, h := range hosts {
		checkParts(t, []byte(h))
	}
	for _, tc := range []struct {
		h      string
		domain string
		port   uint16
	}{
		{"Example.COM:8080", "example.com", 8080}, {"[FD00::1]:443", "fd00::1", 443}, {"[::1]", "::1", 0},
		{"a:65536", "a", 0}, {"a:", "a", 0}, {"", "", 0},
	} {
		if d, p := SplitHost([]byte(tc.h)); d != tc.domain || p != tc.port {
			t.Errorf("SplitHost(%q) = %q, %d; want %q, %d", tc.h, d, p, tc.domain, tc.port)
		}
	}
}

func FuzzSplitHost(f *testing.F) {
	for _, h := range hosts {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, h []byte) {
		checkParts(t, h)
		SplitHost(h)
	})
}
