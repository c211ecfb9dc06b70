package kafka_test

import (
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/audit-io/wire-audit/capture/export/kafka"
)

func kfakePort(p int) kfake.Opt { return kfake.Ports(p) }

func r2kgo(r kafka.Record) *kgo.Record {
	return &kgo.Record{Key: r.Key, Value: r.Value, Partition: int32(r.Partition), Offset: r.Offset}
}
