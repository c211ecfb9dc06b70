package kafka_test

import "github.com/twmb/franz-go/pkg/kfake"

func kfakePort(p int) kfake.Opt { return kfake.Ports(p) }
