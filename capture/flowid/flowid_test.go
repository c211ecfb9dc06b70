package flowid

import (
	"net/netip"
	"testing"
)

// IPv4 vectors from the Community ID spec baseline, seed 0. IPv6 is checked against tshark's
// communityid field in the capture pipeline tests.
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
