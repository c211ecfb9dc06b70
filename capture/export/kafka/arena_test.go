package kafka

import (
	"bytes"
	"testing"
)

// TestArena: messages never share bytes while live, a chunk is reused only once every
// message carved from it is released and it is full, big messages get their own allocation,
// and the chunks kept for reuse are bounded.
func TestArena(t *testing.T) {
	var a arena
	type msg struct {
		b []byte
		c *chunk
		v byte
	}
	var live []msg
	fill := func(n int, v byte) msg {
		b, c := a.alloc(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("alloc(%d): len %d cap %d", n, len(b), cap(b))
		}
		for i := range b {
			b[i] = v
		}
		return msg{b, c, v}
	}
	check := func() {
		for _, m := range live {
			if !bytes.Equal(m.b, bytes.Repeat([]byte{m.v}, len(m.b))) {
				t.Fatalf("a live message of %d bytes was overwritten", len(m.b))
			}
		}
	}
	// Three chunks' worth in FIFO order, released in order, twice over.
	for round := range 2 {
		for i := range 3 * chunkSize / 1000 {
			live = append(live, fill(1000, byte(i+round)))
		}
		check()
		for len(live) > 0 {
			a.release(live[0].c)
			live = live[1:]
			if len(live)%97 == 0 {
				check()
			}
		}
	}
	if len(a.free) == 0 {
		t.Error("no chunk was kept for reuse")
	}
	if big, c := a.alloc(chunkSize); c != nil || len(big) != chunkSize {
		t.Errorf("a %d-byte message came from a chunk", chunkSize)
	}
	// Many released chunks: only maxFreeChunks are kept.
	for range 4 * maxFreeChunks * chunkSize / 100_000 {
		_, c := a.alloc(100_000)
		a.release(c)
	}
	_, c := a.alloc(chunkSize / 8) // seals the current chunk
	a.release(c)
	if len(a.free) > maxFreeChunks {
		t.Errorf("%d chunks kept, at most %d", len(a.free), maxFreeChunks)
	}
}
