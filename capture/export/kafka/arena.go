package kafka

// chunkSize is the size of the chunks messages are carved from; a message larger than
// chunkSize/8 gets an allocation of its own.
const chunkSize = 1 << 20

// maxFreeChunks bounds the chunks kept for reuse: enough for the acknowledged batches
// (BatchBytes, 4 MiB by default) to refill the queue without allocating.
const maxFreeChunks = 8

// chunk holds the messages of consecutive events. live counts those not yet acknowledged
// (or dropped); full says that no more will be carved from it.
type chunk struct {
	buf  []byte
	live int
	full bool
}

// arena carves messages out of chunks and reuses a chunk once Kafka has acknowledged every
// message in it. Allocating each message on its own was half the bytes allocated with
// --output kafka, and most of the collector's work. Exporter.mu guards it.
//
// A chunk is reused only once kafka-go is done with its bytes: WriteMessages (synchronous)
// has returned with every message of the chunk acknowledged. Messages that are never
// acknowledged (lost at shutdown) keep their chunk from reuse; the collector frees it.
type arena struct {
	cur  *chunk
	free []*chunk
}

// alloc returns n bytes for a message and the chunk that holds them (nil for a message with
// an allocation of its own), to give to release once the message is acknowledged.
func (a *arena) alloc(n int) ([]byte, *chunk) {
	if n > chunkSize/8 {
		return make([]byte, n), nil
	}
	if a.cur == nil || len(a.cur.buf)+n > cap(a.cur.buf) {
		if c := a.cur; c != nil {
			c.full = true
			if c.live == 0 {
				a.recycle(c)
			}
		}
		a.cur = a.get()
	}
	c := a.cur
	at := len(c.buf)
	c.buf = c.buf[:at+n]
	c.live++
	return c.buf[at : at+n : at+n], c
}

// release says that one message of c is acknowledged or dropped.
func (a *arena) release(c *chunk) {
	if c == nil {
		return
	}
	c.live--
	if c.live == 0 && c.full {
		a.recycle(c)
	}
}

func (a *arena) get() *chunk {
	if n := len(a.free); n > 0 {
		c := a.free[n-1]
		a.free = a.free[:n-1]
		return c
	}
	return &chunk{buf: make([]byte, 0, chunkSize)}
}

func (a *arena) recycle(c *chunk) {
	if len(a.free) >= maxFreeChunks {
		return
	}
	c.buf, c.live, c.full = c.buf[:0], 0, false
	a.free = append(a.free, c)
}
