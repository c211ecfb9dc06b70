package kafka

import (
	"context"
	"net"
	"testing"

	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

type countingTripper struct {
	calls   int
	errCode int16
}

func (c *countingTripper) RoundTrip(_ context.Context, _ net.Addr, req protocol.Message) (protocol.Message, error) {
	c.calls++
	m, ok := req.(*metadataAPI.Request)
	if !ok {
		return &produceAPI.Response{}, nil
	}
	r := &metadataAPI.Response{}
	for _, name := range m.TopicNames {
		r.Topics = append(r.Topics, metadataAPI.ResponseTopic{Name: name, ErrorCode: c.errCode,
			Partitions: []metadataAPI.ResponsePartition{{PartitionIndex: 0}, {PartitionIndex: 1}}})
	}
	return r, nil
}

// TestMetadataCache: the Writer's per-message metadata request reaches the transport once
// per partitionsTTL; another topic, an error answer and other requests always pass through.
func TestMetadataCache(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092}
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		errCode int16
		reqs    []protocol.Message
		want    int
	}{
		{"same topic", 0, []protocol.Message{&metadataAPI.Request{TopicNames: []string{"a"}}, &metadataAPI.Request{TopicNames: []string{"a"}}, &metadataAPI.Request{TopicNames: []string{"a"}}}, 1},
		{"other topic", 0, []protocol.Message{&metadataAPI.Request{TopicNames: []string{"a"}}, &metadataAPI.Request{TopicNames: []string{"b"}}, &metadataAPI.Request{TopicNames: []string{"a"}}}, 3},
		{"other flags", 0, []protocol.Message{&metadataAPI.Request{TopicNames: []string{"a"}}, &metadataAPI.Request{TopicNames: []string{"a"}, AllowAutoTopicCreation: true}}, 2},
		{"error answer", 3, []protocol.Message{&metadataAPI.Request{TopicNames: []string{"a"}}, &metadataAPI.Request{TopicNames: []string{"a"}}}, 2},
		{"all topics", 0, []protocol.Message{&metadataAPI.Request{}, &metadataAPI.Request{}}, 2},
		{"produce", 0, []protocol.Message{&produceAPI.Request{}, &produceAPI.Request{}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &countingTripper{errCode: tc.errCode}
			c := &metadataCache{next: next}
			for _, req := range tc.reqs {
				r, err := c.RoundTrip(ctx, addr, req)
				if err != nil || r == nil {
					t.Fatalf("RoundTrip: %v, %v", r, err)
				}
			}
			if next.calls != tc.want {
				t.Errorf("%d requests reached the transport, want %d", next.calls, tc.want)
			}
		})
	}
}
