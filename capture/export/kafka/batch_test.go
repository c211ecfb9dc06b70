package kafka

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// TestRecordBatchDecodes: kafka-go's decoder reads back every record of a batch that
// appendRecordBatch wrote, with each codec: keys (null included), values, offsets and
// timestamps, and the batch's CRC checks out.
func TestRecordBatchDecodes(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_123)
	var items []item
	for i := range 300 {
		it := item{value: bytes.Repeat([]byte(fmt.Sprintf("{\"n\":%d}", i)), 1+i%50), at: base.Add(time.Duration(i%7) * time.Millisecond)}
		if i%5 != 0 {
			it.key = []byte(fmt.Sprintf("1:key-%d=", i%9))
		}
		if i == 7 {
			it.key = []byte{} // empty, not null
		}
		items = append(items, it)
	}
	order := []int32{3, 0, 7, 8, 299}
	for i := 10; i < 290; i += 3 {
		order = append(order, int32(i))
	}
	for _, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(name, func(t *testing.T) {
			comp, err := ParseCompression(name)
			if err != nil {
				t.Fatal(err)
			}
			var buf, raw []byte
			for round := range 2 { // the second reuses the buffers
				buf, raw, err = appendRecordBatch(buf[:0], raw[:0], items, order, comp, new(lz4Scratch))
				if err != nil {
					t.Fatal(err)
				}
				var rs protocol.RecordSet
				if _, err := rs.ReadFrom(bytes.NewReader(buf)); err != nil {
					t.Fatalf("round %d: kafka-go cannot read the batch: %v", round, err)
				}
				// kafka-go does not read the batch's first and latest timestamps back.
				first, latest := int64(binary.BigEndian.Uint64(buf[4+27:])), int64(binary.BigEndian.Uint64(buf[4+batchMaxTimeAt:]))
				if first != items[order[0]].at.UnixMilli() || latest != base.Add(6*time.Millisecond).UnixMilli() {
					t.Fatalf("batch timestamps first %d latest %d, want %d and %d", first, latest, items[order[0]].at.UnixMilli(), base.Add(6*time.Millisecond).UnixMilli())
				}
				if rs.Version != 2 || rs.Attributes.Compression() != comp {
					t.Fatalf("version %d, compression %v", rs.Version, rs.Attributes.Compression())
				}
				for j, i := range order {
					r, err := rs.Records.ReadRecord()
					if err != nil {
						t.Fatalf("record %d: %v", j, err)
					}
					want := &items[i]
					if r.Offset != int64(j) || !r.Time.Equal(want.at) {
						t.Fatalf("record %d: offset %d time %v, want %d %v", j, r.Offset, r.Time, j, want.at)
					}
					if got := readAll(t, r.Key); (r.Key == nil) != (want.key == nil) || !bytes.Equal(got, want.key) {
						t.Fatalf("record %d: key %q (null %v), want %q", j, got, r.Key == nil, want.key)
					}
					if got := readAll(t, r.Value); !bytes.Equal(got, want.value) {
						t.Fatalf("record %d: value %q, want %q", j, got, want.value)
					}
					if len(r.Headers) != 0 {
						t.Fatalf("record %d: headers %v", j, r.Headers)
					}
				}
				if _, err := rs.Records.ReadRecord(); !errors.Is(err, io.EOF) {
					t.Fatalf("after the last record: %v, want io.EOF", err)
				}
			}
		})
	}
	if _, _, err := appendRecordBatch(nil, nil, items, nil, kafkago.Lz4, new(lz4Scratch)); err == nil {
		t.Error("a batch of no records was encoded")
	}
}

func readAll(t *testing.T, b protocol.Bytes) []byte {
	t.Helper()
	if b == nil {
		return nil
	}
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestLZ4FrameBlocks: records over one LZ4 block (4 MiB), and data that does not compress
// (stored as it is), come back whole through kafka-go's lz4 decoder.
func TestLZ4FrameBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		values [][]byte
	}{
		{"incompressible", [][]byte{random(1000)}},
		{"over a block", [][]byte{random(3 << 20), bytes.Repeat([]byte("{\"a\":1}"), 300_000), random(1 << 20)}},
		{"exactly a block", [][]byte{random(lz4MaxBlock - 20)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var items []item
			var order []int32
			for i, v := range tc.values {
				items = append(items, item{value: v, key: []byte("k"), at: time.UnixMilli(1_700_000_000_000)})
				order = append(order, int32(i))
			}
			buf, _, err := appendRecordBatch(nil, nil, items, order, kafkago.Lz4, new(lz4Scratch))
			if err != nil {
				t.Fatal(err)
			}
			var rs protocol.RecordSet
			if _, err := rs.ReadFrom(bytes.NewReader(buf)); err != nil {
				t.Fatalf("kafka-go cannot read the batch: %v", err)
			}
			for i, v := range tc.values {
				rec, err := rs.Records.ReadRecord()
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if got := readAll(t, rec.Value); !bytes.Equal(got, v) {
					t.Fatalf("record %d: %d bytes back, not the %d written", i, len(got), len(v))
				}
			}
		})
	}
}

var batchEvents = flag.String("batch-events", "", "JSON lines (capture --output stdout) that BenchmarkRecordBatch encodes, e.g. a replay of test/capturebench's mixed capture.")

// BenchmarkRecordBatch encodes 8 MiB of real events (the queue's default bound when capture
// waits for Kafka) as lz4 record batches for 4 partitions, as the sender does with a full
// queue, with the records compressed every lz4Block bytes, for several block sizes in the same
// run. Keys are each event's community_id, as Emit's, and place events as the sender does.
func BenchmarkRecordBatch(b *testing.B) {
	if *batchEvents == "" {
		b.Skip("-batch-events names no file")
	}
	data, err := os.ReadFile(*batchEvents)
	if err != nil {
		b.Fatal(err)
	}
	var items []item
	order := make([][]int32, 4)
	size, now := 0, time.Now()
	for line := range bytes.Lines(data) {
		if size >= 8<<20 {
			break
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		var ev struct {
			Network struct {
				CommunityID string `json:"community_id"`
			} `json:"network"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			b.Fatal(err)
		}
		it := item{key: []byte(ev.Network.CommunityID), value: line, at: now}
		it.hash = murmur2(it.key)
		p := it.partition(0, len(order))
		order[p] = append(order[p], int32(len(items)))
		items = append(items, it)
		size += len(line)
	}
	defer func(old int) { lz4Block = old }(lz4Block)
	for _, block := range []int{256 << 10, 512 << 10, 1 << 20, 2 << 20, lz4MaxBlock} {
		b.Run(fmt.Sprintf("block=%dKiB", block>>10), func(b *testing.B) {
			lz4Block = block
			var dst, raw []byte
			var lz lz4Scratch
			b.SetBytes(int64(size))
			for b.Loop() {
				dst = dst[:0]
				for _, o := range order {
					if dst, raw, err = appendRecordBatch(dst, raw, items, o, kafkago.Lz4, &lz); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(size)/float64(len(dst)), "ratio")
		})
	}
}
