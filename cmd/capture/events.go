package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/capture/export"
	kafkaexport "github.com/audit-io/wire-audit/capture/export/kafka"
)

// runEvents is `capture events`: it reads the audit topic and prints one compact line per
// event (or the raw JSON with -o json), like `tetra getevents -o compact`.
func runEvents(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("capture events", flag.ContinueOnError)
	var k kafkaFlags
	k.registerConnection(fs)
	configPath := fs.String("config", "", "Take brokers, topic, TLS and SASL from this capture config (flags override it).")
	fromStart := fs.Bool("from-beginning", false, "Print the topic from its first record instead of only new events.")
	exitAtEnd := fs.Bool("exit-at-end", false, "Exit once the records that were in the topic at start are printed.")
	format := fs.String("o", "compact", "Output: compact (one line per event) or json (the event as stored).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("events: unexpected arguments %q", fs.Args())
	}
	if *format != "compact" && *format != "json" {
		return fmt.Errorf("events: -o %q: accepted: compact, json", *format)
	}
	cfg := config.Default()
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			return err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	k.apply(&cfg.Kafka, set)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("events: no brokers: set --kafka-brokers or --config")
	}
	tc, mech, err := k.security(cfg.Kafka)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	o := kafkaexport.ConsumeOptions{Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.Topic, TLS: tc, SASL: mech, FromStart: *fromStart, ExitAtEnd: *exitAtEnd}
	return kafkaexport.Consume(ctx, o, func(r kafkaexport.Record) error {
		line := string(r.Value)
		if *format == "compact" {
			if line, err = export.Compact(r.Value); err != nil {
				fmt.Fprintf(os.Stderr, "events: partition %d offset %d: %v\n", r.Partition, r.Offset, err)
				return nil
			}
		}
		_, err := fmt.Fprintln(stdout, line)
		return err
	})
}
