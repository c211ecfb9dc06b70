package flowid

import (
	"net/netip"
	"testing"
)

// IPv4 vectors from the Community ID spec baseline, seed 0. IPv6 takes the same path with
// 16-byte addresses; tshark 4.0 (Debian 12) has no communityid field to check it against, so
// its test checks only the properties.
func TestCommunityID(t *testing.T) {
	tests := []struct {
		name     string
		src, dst string
		proto    uint8
		want     string
	}{
		{"tcp ipv4", "128.232.110.120:34855", "66.35.250.204:80", 6, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{"tcp ipv4 reversed", "66.35.250.204:80", "128.232.110.120:34855", 6, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{"udp ipv4", "192.168.1.52:54585", "8.8.8.8:53", 17, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CommunityID(netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst), tc.proto)
			if got != tc.want {
				t.Errorf("CommunityID(%s, %s, %d) = %s, want %s", tc.src, tc.dst, tc.proto, got, tc.want)
			}
		})
	}
}

func TestCommunityIDIPv6(t *testing.T) {
	a := netip.MustParseAddrPort("[fd00::1]:40000")
	b := netip.MustParseAddrPort("[fd00::2]:5432")
	id := CommunityID(a, b, 6)
	if id != CommunityID(b, a, 6) {
		t.Errorf("direction changes the id")
	}
	if id == CommunityID(a, b, 17) || id == CommunityID(netip.MustParseAddrPort("[fd00::1]:40001"), b, 6) {
		t.Errorf("protocol or port does not change the id")
	}
	if len(id) != len("1:")+28 || id[:2] != "1:" {
		t.Errorf("id %q is not 1:<base64 of 20 bytes>", id)
	}
	// An IPv4-mapped address hashes as the IPv4 address it holds.
	v4 := CommunityID(netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"), 6)
	if mapped := CommunityID(netip.MustParseAddrPort("[::ffff:10.0.0.1]:1"), netip.MustParseAddrPort("[::ffff:10.0.0.2]:2"), 6); mapped != v4 {
		t.Errorf("mapped %s != v4 %s", mapped, v4)
	}
}

func TestCommunityIDAllocs(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.0.0.1:53000"), netip.MustParseAddrPort("10.0.0.2:53")
	if n := testing.AllocsPerRun(100, func() { CommunityID(a, b, 17) }); n > 1 {
		t.Errorf("%v allocations, want 1 (the string)", n)
	}
}
