package protocols

// Queue is the FIFO of requests a parser has seen and whose answers have not come yet, oldest
// first. It keeps its array: a pop moves the start forward, and once the queue is empty the
// next push starts again at the front, so a connection that alternates request and answer
// never allocates for its queue. Not safe for concurrent use (parsers run on one goroutine).
type Queue[T any] struct {
	q []T
	// buf is the start of the array under q.
	buf []T
}

// Len is the number of queued items.
func (q *Queue[T]) Len() int { return len(q.q) }

// Items are the queued items, oldest first; valid until the next change to the queue.
func (q *Queue[T]) Items() []T { return q.q }

// Front is the oldest item; the queue must not be empty.
func (q *Queue[T]) Front() T { return q.q[0] }

// Back is the newest item; the queue must not be empty.
func (q *Queue[T]) Back() T { return q.q[len(q.q)-1] }

// Push appends v.
func (q *Queue[T]) Push(v T) {
	grows := len(q.q) == cap(q.q)
	q.q = append(q.q, v)
	if grows { // a new array, starting with the queue
		q.buf = q.q[:0]
	}
}

// Pop removes and returns the oldest item; the queue must not be empty.
func (q *Queue[T]) Pop() T {
	v := q.q[0]
	var zero T
	q.q[0] = zero
	q.q = q.q[1:]
	if len(q.q) == 0 {
		q.q = q.buf[:0] // back to the start of the array, which is kept
	}
	return v
}

// Reset empties the queue and keeps its array.
func (q *Queue[T]) Reset() {
	clear(q.q)
	q.q = q.buf[:0]
}

// Release empties the queue and lets its array go (the connection has ended).
func (q *Queue[T]) Release() { q.q, q.buf = nil, nil }
