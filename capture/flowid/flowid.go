// Package flowid computes the Community ID (v1) of a connection, the flow hash that Zeek,
// Suricata, Packetbeat and ECS `network.community_id` share, so audit events join with other
// tools' records of the same connection. Spec: https://github.com/corelight/community-id-spec
package flowid

import (
	"crypto/sha1" //nolint:gosec // the Community ID spec defines SHA-1; it is an identifier, not a MAC
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

// CommunityID returns "1:<base64 sha1>" for the 5-tuple with seed 0. The result is the same
// for both directions of the connection.
func CommunityID(src, dst netip.AddrPort, proto uint8) string {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	sp, dp := src.Port(), dst.Port()
	if c := sa.Compare(da); c > 0 || (c == 0 && sp > dp) {
		sa, da, sp, dp = da, sa, dp, sp
	}
	var buf [2 + 16 + 16 + 2 + 4]byte
	b := buf[:2] // seed 0
	b = append(b, sa.AsSlice()...)
	b = append(b, da.AsSlice()...)
	b = append(b, proto, 0)
	b = binary.BigEndian.AppendUint16(b, sp)
	b = binary.BigEndian.AppendUint16(b, dp)
	sum := sha1.Sum(b) //nolint:gosec // see import
	// Encoded beside the prefix in one array: one allocation, for the string, instead of
	// three (EncodeToString's buffer and string, then the concatenation).
	var out [2 + 28]byte
	out[0], out[1] = '1', ':'
	base64.StdEncoding.Encode(out[2:], sum[:])
	return string(out[:])
}
