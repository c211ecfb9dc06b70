package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// sameAsGopacket decodes frame on the fast path and with gopacket alone, and fails unless
// both give the same packet and the same error. It reports whether the fast path took it.
func sameAsGopacket(t testing.TB, fast, slow *Decoder, frame []byte) bool {
	t.Helper()
	var pf, ps Packet
	took, _ := fast.fast(frame, &pf)
	ef, es := fast.Decode(frame, &pf), slow.layers(frame, &ps)
	if fmt.Sprint(ef) != fmt.Sprint(es) || errors.Is(ef, ErrNotTransport) != errors.Is(es, ErrNotTransport) {
		t.Fatalf("frame %x: error %v on the fast path, %v from gopacket", frame, ef, es)
	}
	payloadF, payloadS := pf.Payload, ps.Payload
	pf.Payload, ps.Payload = nil, nil
	if !reflect.DeepEqual(pf, ps) || !bytes.Equal(payloadF, payloadS) {
		t.Fatalf("frame %x:\nfast     %+v payload %x\ngopacket %+v payload %x", frame, pf, payloadF, ps, payloadS)
	}
	return took
}

func decoders(t testing.TB) (fast, slow *Decoder) {
	fast, err := New(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	slow, _ = New(layers.LinkTypeEthernet)
	return fast, slow
}

// captureFrames reads the frames of the parsers' real captures (Ethernet, IPv4 and IPv6,
// TCP with options, UDP), up to max.
func captureFrames(t testing.TB, max int) [][]byte {
	paths, _ := filepath.Glob("../protocols/*/testdata/*.pcap")
	var frames [][]byte
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(f)
		if err != nil || r.LinkType() != layers.LinkTypeEthernet {
			_ = f.Close()
			continue
		}
		for len(frames) < max {
			data, _, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			frames = append(frames, data)
		}
		_ = f.Close()
	}
	if len(frames) < 1000 {
		t.Fatalf("%d frames from %d captures, want 1000 or more", len(frames), len(paths))
	}
	// The captures are IPv4: carry every fifth frame's TCP or UDP over IPv6 too.
	for i, n := 0, len(frames); i < n; i += 5 {
		var eth layers.Ethernet
		var ip layers.IPv4
		if eth.DecodeFromBytes(frames[i], gopacket.NilDecodeFeedback) != nil || eth.EthernetType != layers.EthernetTypeIPv4 ||
			ip.DecodeFromBytes(eth.Payload, gopacket.NilDecodeFeedback) != nil {
			continue
		}
		eth.EthernetType = layers.EthernetTypeIPv6
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, &eth,
			&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: ip.Protocol, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")},
			gopacket.Payload(ip.Payload))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, buf.Bytes())
	}
	return frames
}

// Every frame of the real captures, every prefix of some, and each with one header byte
// changed, decode on the fast path exactly as gopacket decodes them.
func TestFastEqualsGopacket(t *testing.T) {
	fast, slow := decoders(t)
	frames := captureFrames(t, 20000)
	took, v6 := 0, 0
	for i, frame := range frames {
		if sameAsGopacket(t, fast, slow, frame) {
			took++
			if frame[12] == 0x86 {
				v6++
			}
		}
		if i%50 != 0 {
			continue
		}
		for n := range frame {
			sameAsGopacket(t, fast, slow, frame[:n])
		}
		for at := 12; at < min(len(frame), 14+40+60); at++ {
			for _, v := range []byte{0, 1, 2, 4, 5, 6, 0x11, 0x45, 0x46, 0x50, 0x80, 0xff} {
				changed := bytes.Clone(frame)
				changed[at] = v
				sameAsGopacket(t, fast, slow, changed)
			}
		}
	}
	// The fast path must take nearly all real traffic, IPv6 included, or it is no use.
	if took < len(frames)*9/10 || v6 == 0 {
		t.Errorf("the fast path took %d of %d frames (%d IPv6)", took, len(frames), v6)
	}
}

func FuzzFast(f *testing.F) {
	fast, slow := decoders(f)
	for i, frame := range captureFrames(f, 20000) {
		if i%97 == 0 {
			f.Add(frame)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		sameAsGopacket(t, fast, slow, frame)
	})
}

func BenchmarkDecodeCaptures(b *testing.B) {
	frames := captureFrames(b, 20000)
	for _, path := range []string{"fast", "gopacket"} {
		b.Run(path, func(b *testing.B) {
			d, _ := New(layers.LinkTypeEthernet)
			decode := d.Decode
			if path == "gopacket" {
				decode = d.layers
			}
			var p Packet
			for b.Loop() {
				for _, f := range frames {
					_ = decode(f, &p)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
		})
	}
}
