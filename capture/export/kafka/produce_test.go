package kafka

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// TestMurmur2: the producer places a key where kafka-go's Murmur2Balancer (the Java client's
// partitioner) does, for keys of every length mod 4 and several partition counts.
func TestMurmur2(t *testing.T) {
	var m kafkago.Murmur2Balancer
	r := rand.New(rand.NewPCG(1, 2))
	keys := [][]byte{{}, []byte("1:LQU9qZlK+B5F5dhT8OFGRXm4=")}
	for n := range 200 {
		k := make([]byte, n%67)
		for i := range k {
			k[i] = byte(r.Uint32())
		}
		keys = append(keys, k, []byte(fmt.Sprintf("1:conn-%d=", n)))
	}
	for _, key := range keys {
		for _, n := range []int{1, 2, 3, 4, 7, 12, 100} {
			parts := make([]int, n)
			for i := range parts {
				parts[i] = 10 + i
			}
			it := item{key: key, hash: murmur2(key)}
			if got, want := parts[it.partition(0, n)], m.Balance(kafkago.Message{Key: key}, parts...); got != want {
				t.Fatalf("key %x over %d partitions: %d, Murmur2Balancer says %d", key, n, got, want)
			}
		}
	}
}

// TestQueueRing: items come out in the order they went in, across wraps and growth of the
// ring, and take honours its count and byte bounds (but always returns one item).
func TestQueueRing(t *testing.T) {
	var q queue
	var want []int // the values of the items queued, oldest first
	next := 0
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 3000 {
		for range r.IntN(50) {
			q.push(item{value: make([]byte, 1+next%7), at: time.Unix(int64(next), 0)})
			want = append(want, next)
			next++
		}
		n, maxBytes := 1+r.IntN(40), 1+r.IntN(100)
		got := q.take(nil, n, maxBytes)
		if len(want) > 0 && len(got) == 0 {
			t.Fatalf("round %d: nothing taken from %d items", round, len(want))
		}
		bytes := 0
		for i, it := range got {
			if v := int(it.at.Unix()); v != want[i] {
				t.Fatalf("round %d: item %d is %d, want %d", round, i, v, want[i])
			}
			bytes += it.size()
		}
		if len(got) > n || (len(got) > 1 && bytes > maxBytes) {
			t.Fatalf("round %d: took %d items of %d bytes, bounds %d and %d", round, len(got), bytes, n, maxBytes)
		}
		want = want[len(got):]
		if q.len() != len(want) {
			t.Fatalf("round %d: len %d, want %d", round, q.len(), len(want))
		}
	}
}
