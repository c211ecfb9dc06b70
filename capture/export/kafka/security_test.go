package kafka_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/capture/export/kafka"
	"github.com/audit-io/wire-audit/test/kafkatest"
)

// deliverOne sends 20 events through a new exporter and reads them back with consumer options.
func deliverOne(t *testing.T, o kafka.Options, consume ...kgo.Opt) {
	t.Helper()
	e := newExporter(t, o)
	for i := range 20 {
		e.Emit(mkEvent(i%3, i/3))
	}
	if err := closeExporter(t, e, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if recs := kafkatest.Consume(t, o.Brokers, 20, 20*time.Second, consume...); len(recs) != 20 {
		t.Fatalf("consumed %d records, want 20", len(recs))
	}
}

func TestTLS(t *testing.T) {
	pki := kafkatest.NewPKI(t)
	for _, tc := range []struct {
		name string
		cfg  config.KafkaTLS
	}{
		{"server verified", config.KafkaTLS{CAFile: pki.CAFile}},
		{"client certificate", config.KafkaTLS{CAFile: pki.CAFile, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile}},
		{"verification explicitly off", config.KafkaTLS{InsecureSkipVerify: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlsCfg, err := kafka.TLSConfig(&tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := kafkatest.Start(t, kfake.TLS(pki.Server))
			deliverOne(t, kafka.Options{Brokers: c.ListenAddrs(), TLS: tlsCfg}, kgo.DialTLSConfig(pki.Client()))
		})
	}
	t.Run("unknown CA is refused", func(t *testing.T) {
		other := kafkatest.NewPKI(t)
		c := kafkatest.Start(t, kfake.TLS(pki.Server))
		tlsCfg, err := kafka.TLSConfig(&config.KafkaTLS{CAFile: other.CAFile})
		if err != nil {
			t.Fatal(err)
		}
		e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs(), TLS: tlsCfg, StartTimeout: 300 * time.Millisecond})
		<-e.Done()
		if err := e.Err(); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate verification error", err)
		}
	})
	t.Run("bad files name the field", func(t *testing.T) {
		_, err := kafka.TLSConfig(&config.KafkaTLS{CAFile: pki.ClientKeyFile})
		if err == nil || !strings.Contains(err.Error(), "tls.caFile") {
			t.Fatalf("err = %v", err)
		}
		_, err = kafka.TLSConfig(&config.KafkaTLS{CAFile: pki.CAFile, CertFile: pki.CAFile, KeyFile: pki.CAFile})
		if err == nil || !strings.Contains(err.Error(), "tls.certFile") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSASL(t *testing.T) {
	const user, pass = "audit", "s3cret-pass"
	start := func(t *testing.T) *kfake.Cluster {
		return kafkatest.Start(t, kfake.EnableSASL(),
			kfake.Superuser(config.SASLPlain, user, pass),
			kfake.Superuser(config.SASLScramSHA256, user, pass),
			kfake.Superuser(config.SASLScramSHA512, user, pass))
	}
	consumers := map[string]kgo.Opt{
		config.SASLPlain:       kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()),
		config.SASLScramSHA256: kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()),
		config.SASLScramSHA512: kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()),
	}
	for _, mech := range config.SASLMechanisms {
		t.Run(mech, func(t *testing.T) {
			m, err := kafka.SASLMechanism(mech, user, pass)
			if err != nil {
				t.Fatal(err)
			}
			c := start(t)
			deliverOne(t, kafka.Options{Brokers: c.ListenAddrs(), SASL: m}, consumers[mech])
		})
		t.Run(mech+" wrong password", func(t *testing.T) {
			m, err := kafka.SASLMechanism(mech, user, "wrong")
			if err != nil {
				t.Fatal(err)
			}
			c := start(t)
			var attempts int
			e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs(), SASL: m, StartTimeout: time.Second,
				BackoffMin: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond,
				OnError: func(error, int, time.Duration) { attempts++ }})
			e.Emit(mkEvent(1, 0))
			<-e.Done()
			err = e.Err()
			if err == nil || !strings.Contains(err.Error(), "SASL "+mech) || !strings.Contains(err.Error(), "check the credentials") {
				t.Fatalf("err = %v, want a SASL authentication error", err)
			}
			// Backoff, not a hot loop: 100+200+400+400 ms fit in the second.
			if attempts < 2 || attempts > 6 {
				t.Fatalf("%d connection attempts in 1s, want 2-6 (exponential backoff)", attempts)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if cerr := e.Close(ctx); cerr == nil || !strings.Contains(fmt.Sprint(cerr), "1 events lost") {
				t.Fatalf("Close = %v, want the lost event reported", cerr)
			}
		})
		t.Run(mech+" wrong password, live", func(t *testing.T) {
			m, err := kafka.SASLMechanism(mech, user, "wrong")
			if err != nil {
				t.Fatal(err)
			}
			c := start(t)
			reported := make(chan error, 1)
			e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs(), SASL: m, StartTimeout: time.Second,
				BackoffMin: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond,
				KeepRetrying: true, OnStartTimeout: func(err error) { reported <- err }})
			e.Emit(mkEvent(1, 0))
			select {
			case err := <-reported:
				if !strings.Contains(err.Error(), "SASL "+mech) || !strings.Contains(err.Error(), "check the credentials") {
					t.Fatalf("reported %v, want a SASL authentication error", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the failed authentication was never reported")
			}
			before := e.Stats().KafkaErrors.Load()
			time.Sleep(time.Second)
			select {
			case <-e.Done():
				t.Fatalf("the sender stopped on wrong credentials: %v", e.Err())
			default:
			}
			// Still trying, with backoff (at most 400 ms apart), not in a hot loop.
			if more := e.Stats().KafkaErrors.Load() - before; more < 1 || more > 6 {
				t.Fatalf("%d attempts in the second after the start timeout, want 1-6", more)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if cerr := e.Close(ctx); cerr == nil || !strings.Contains(fmt.Sprint(cerr), "1 events lost") {
				t.Fatalf("Close = %v, want the lost event reported", cerr)
			}
		})
	}
	t.Run("SCRAM-SHA-512 over TLS", func(t *testing.T) {
		pki := kafkatest.NewPKI(t)
		c := kafkatest.Start(t, kfake.TLS(pki.Server), kfake.EnableSASL(), kfake.Superuser(config.SASLScramSHA512, user, pass))
		tlsCfg, err := kafka.TLSConfig(&config.KafkaTLS{CAFile: pki.CAFile})
		if err != nil {
			t.Fatal(err)
		}
		m, err := kafka.SASLMechanism(config.SASLScramSHA512, user, pass)
		if err != nil {
			t.Fatal(err)
		}
		deliverOne(t, kafka.Options{Brokers: c.ListenAddrs(), TLS: tlsCfg, SASL: m}, kgo.DialTLSConfig(pki.Client()), consumers[config.SASLScramSHA512])
	})
	if _, err := kafka.SASLMechanism("GSSAPI", user, pass); err == nil || !strings.Contains(err.Error(), "sasl.mechanism") {
		t.Fatalf("err = %v", err)
	}
}
