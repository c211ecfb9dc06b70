package kafka

import (
	"fmt"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

// TestLastKeyBalancer: the partition is always Murmur2Balancer's, for repeated and changing
// keys and partition counts.
func TestLastKeyBalancer(t *testing.T) {
	var l lastKeyBalancer
	var m kafkago.Murmur2Balancer
	for i := range 2000 {
		key := []byte(fmt.Sprintf("1:conn-%03d=", i/7%40)) // runs of one key, keys coming back
		parts := []int{0, 1, 2, 3, 4, 5}[:3+i/500]
		msg := kafkago.Message{Key: key}
		if got, want := l.Balance(msg, parts...), m.Balance(msg, parts...); got != want {
			t.Fatalf("key %s over %d partitions: %d, Murmur2Balancer says %d", key, len(parts), got, want)
		}
	}
}
