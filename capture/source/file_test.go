package source

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func writeCaptures(t *testing.T, frames [][]byte) (pcapPath, ngPath string) {
	t.Helper()
	dir := t.TempDir()
	pcapPath, ngPath = filepath.Join(dir, "a.pcap"), filepath.Join(dir, "a.pcapng")
	pf, err := os.Create(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	pw := pcapgo.NewWriterNanos(pf)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	nf, err := os.Create(ngPath)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := pcapgo.NewNgWriter(nf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_700_000_000, int64(i)), CaptureLength: len(f), Length: len(f)}
		if err := pw.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
		if err := nw.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = pf.Close()
	_ = nf.Close()
	return pcapPath, ngPath
}

func readAll(t *testing.T, path string) [][]byte {
	t.Helper()
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type %v", src.LinkType())
	}
	var out [][]byte
	for range 1000 {
		data, _, err := src.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), data...))
	}
	t.Fatal("no EOF after 1000 frames")
	return nil
}

func TestOpenFileReadsPcapAndPcapng(t *testing.T) {
	frames := [][]byte{frame(t, false, false, 1, 3306, 0), frame(t, true, true, 53, 2, 0)}
	pcapPath, ngPath := writeCaptures(t, frames)
	for _, path := range []string{pcapPath, ngPath} {
		got := readAll(t, path)
		if len(got) != len(frames) || string(got[0]) != string(frames[0]) || string(got[1]) != string(frames[1]) {
			t.Errorf("%s: read %d frames, want the %d written", filepath.Base(path), len(got), len(frames))
		}
	}
}

func TestOpenFileBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pcap")
	if err := os.WriteFile(garbage, []byte("this is not a capture file"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pcap")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{garbage, empty, filepath.Join(dir, "missing.pcap")} {
		if _, err := OpenFile(path); err == nil || !strings.Contains(err.Error(), filepath.Base(path)) {
			t.Errorf("OpenFile(%s) = %v, want an error naming the file", filepath.Base(path), err)
		}
	}

	// A file cut in the middle of a packet ends at the last whole packet.
	pcapPath, _ := writeCaptures(t, [][]byte{frame(t, false, false, 1, 3306, 0), frame(t, false, false, 1, 3306, 0)})
	data, err := os.ReadFile(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, cut); len(got) != 1 {
		t.Errorf("cut file: %d frames, want 1", len(got))
	}
}
