// Command capture is the audit sidecar. It captures the pod's traffic through AF_PACKET (or
// replays a pcap/pcapng file with --pcap), reassembles TCP, decodes each configured protocol
// into one audit event per transaction, and writes the events out.
//
// It must not link client-go or controller-runtime: it runs in every audited pod.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/export"
	"github.com/audit-io/wire-audit/capture/health"
	"github.com/audit-io/wire-audit/capture/pipeline"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/all"
	"github.com/audit-io/wire-audit/capture/source"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(os.Args[1:], os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
}

// identity is the pod identity the downward API passes through the environment.
type identity struct{ podName, namespace, podUID, nodeName string }

// options are the command line. Flags that were set override the config file.
type options struct {
	configPath, labelsPath string
	printConfig            bool
	pcap                   string
	output                 string
	set                    map[string]bool
	interfaces             string
	maxQueryLength         int
	maskLiterals, flows    bool
	statsEvery             time.Duration
	memoryLimit            int64
	ringMiB                int
}

func run(args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.configPath, "config", "", "Capture config rendered by the webhook (JSON). Without it, every protocol on its standard ports.")
	fs.StringVar(&o.labelsPath, "labels-file", "", "Downward-API file with the pod's labels; replaces the labels known at admission.")
	fs.BoolVar(&o.printConfig, "print-config", false, "Print the effective config as JSON and exit.")
	fs.StringVar(&o.pcap, "pcap", "", "Replay this pcap or pcapng file instead of capturing live; exit once every transaction is flushed.")
	fs.StringVar(&o.output, "output", "stdout", "Where events go: stdout (one JSON event per line).")
	fs.StringVar(&o.interfaces, "interfaces", "", "Comma-separated interfaces to capture on (overrides the config; default: every interface but lo).")
	fs.IntVar(&o.maxQueryLength, "max-query-length", 0, "Cut statement text longer than this many bytes (overrides the config; 0: no limit).")
	fs.BoolVar(&o.maskLiterals, "mask-literals", false, "Replace literal values in statements with ? (overrides the config).")
	fs.BoolVar(&o.flows, "flows", true, "Emit flow records (overrides the config).")
	fs.Int64Var(&o.memoryLimit, "memory-limit-mib", 40, "Soft limit for the Go heap in MiB (GOMEMLIMIT): the collector works harder near it, so the sidecar stays small with many connections. 0 turns it off.")
	fs.IntVar(&o.ringMiB, "ring-mib", 8, "Size of each interface's AF_PACKET ring in MiB; it absorbs bursts while the decoder is busy.")
	fs.DurationVar(&o.statsEvery, "stats-interval", 30*time.Second, "How often live capture logs its counters, kernel drops included.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.memoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(o.memoryLimit << 20)
	}
	if o.ringMiB < 1 || o.ringMiB > 1024 {
		return fmt.Errorf("--ring-mib %d: must be 1-1024", o.ringMiB)
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })

	id := identity{os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE"), os.Getenv("POD_UID"), os.Getenv("NODE_NAME")}
	cfg, err := effectiveConfig(o, id)
	if err != nil {
		return err
	}
	if o.printConfig {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(cfg)
	}
	if o.output != "stdout" {
		return fmt.Errorf("--output %q: accepted: stdout", o.output)
	}
	out := export.NewJSONLines(stdout)
	popts, filter, err := pipelineOptions(cfg, out, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if o.pcap != "" {
		err = replay(ctx, o.pcap, popts, log)
	} else {
		err = live(ctx, cfg, popts, filter, o.ringMiB, o.statsEvery, log)
	}
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write events: %w", ferr)
	}
	return err
}

func effectiveConfig(o options, id identity) (config.Config, error) {
	cfg := config.Default()
	if o.configPath != "" {
		var err error
		if cfg, err = config.Load(o.configPath); err != nil {
			return config.Config{}, err
		}
	}
	if o.labelsPath != "" {
		labels, err := config.LoadLabels(o.labelsPath)
		if err != nil {
			return config.Config{}, err
		}
		cfg.Kubernetes.Labels = labels
	}
	k := &cfg.Kubernetes
	for _, f := range []struct {
		dst *string
		v   string
	}{{&k.PodName, id.podName}, {&k.Namespace, id.namespace}, {&k.PodUID, id.podUID}, {&k.NodeName, id.nodeName}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if o.set["interfaces"] {
		cfg.Interfaces = nil
		for _, name := range strings.Split(o.interfaces, ",") {
			if name = strings.TrimSpace(name); name != "" {
				cfg.Interfaces = append(cfg.Interfaces, name)
			}
		}
	}
	if o.set["max-query-length"] {
		cfg.Privacy.MaxQueryLength = o.maxQueryLength
	}
	if o.set["mask-literals"] {
		cfg.Privacy.MaskLiterals = o.maskLiterals
	}
	if o.set["flows"] {
		cfg.Flows = o.flows
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("capture config after flags: %w", err)
	}
	return cfg, nil
}

// pipelineOptions maps the config to pipeline options and the kernel filter for its ports.
func pipelineOptions(cfg config.Config, sink protocols.Sink, log *slog.Logger) (pipeline.Options, source.Filter, error) {
	opts := pipeline.Options{
		Sink:  sink,
		Flows: cfg.Flows,
		Parser: protocols.Options{
			MaxQueryLength: cfg.Privacy.MaxQueryLength,
			MaskLiterals:   cfg.Privacy.MaskLiterals,
			HTTPHeaders:    cfg.Privacy.HTTPHeaders,
			HTTPBodyBytes:  cfg.Privacy.HTTPBodyBytes,
		},
	}
	var filter source.Filter
	for _, p := range cfg.Protocols {
		factory, ok := all.Factories[p.Name]
		switch {
		case !ok:
			log.Warn("protocol has no decoder in this build; its traffic is not captured", "protocol", p.Name)
			continue
		case len(p.Ports) == 0:
			log.Warn("protocol has no ports and this build has no detection by content; it is not captured", "protocol", p.Name)
			continue
		}
		opts.Protocols = append(opts.Protocols, pipeline.Protocol{Name: p.Name, Ports: p.Ports, Factory: factory})
		filter.TCPPorts = append(filter.TCPPorts, p.Ports...)
	}
	if len(opts.Protocols) == 0 {
		return opts, filter, errors.New("no configured protocol can be decoded by this build")
	}
	slices.Sort(filter.TCPPorts)
	filter.TCPPorts = slices.Compact(filter.TCPPorts)
	k := cfg.Kubernetes
	if k.Namespace != "" || k.PodName != "" || k.PodUID != "" || k.NodeName != "" || len(k.Labels) > 0 {
		opts.Kubernetes = &event.Kubernetes{
			Namespace: k.Namespace,
			Pod:       event.Pod{Name: k.PodName, UID: k.PodUID},
			Node:      event.Node{Name: k.NodeName},
			Labels:    k.Labels,
		}
	}
	return opts, filter, nil
}

func replay(ctx context.Context, path string, opts pipeline.Options, log *slog.Logger) error {
	src, err := source.OpenFile(path)
	if err != nil {
		return err
	}
	defer src.Close()
	p, err := pipeline.New(opts)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := pipeline.Run(ctx, src, p, nil); err != nil {
		return fmt.Errorf("replay %s: %w", path, err)
	}
	logStats(log, "replay finished", "pcap", p.Stats(), nil, "file", path, "seconds", time.Since(start).Seconds())
	return nil
}

func live(ctx context.Context, cfg config.Config, opts pipeline.Options, filter source.Filter, ringMiB int, every time.Duration, log *slog.Logger) error {
	ifaces := cfg.Interfaces
	if len(ifaces) == 0 {
		var err error
		if ifaces, err = podInterfaces(); err != nil {
			return err
		}
	}
	prog, err := filter.Program()
	if err != nil {
		return err
	}
	hs, err := health.Listen(":" + strconv.Itoa(cfg.HealthPort))
	if err != nil {
		return fmt.Errorf("health server: %w", err)
	}
	go func() {
		if err := hs.Serve(); err != nil {
			log.Error("health server stopped", "err", err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()

	type capture struct {
		name string
		src  *source.Live
		p    *pipeline.Pipeline
	}
	var caps []capture
	defer func() {
		for _, c := range caps {
			_ = c.src.Close()
		}
	}()
	for _, name := range ifaces {
		src, err := source.OpenLive(source.LiveOptions{Interface: name, Filter: prog, BlockSize: 1 << 20, NumBlocks: ringMiB})
		if err != nil {
			return err
		}
		o := opts
		o.Interface = name
		p, err := pipeline.New(o)
		if err != nil {
			_ = src.Close()
			return err
		}
		caps = append(caps, capture{name, src, p})
	}
	log.Info("capturing", "interfaces", ifaces, "tcpPorts", filter.TCPPorts)
	hs.SetReady(true)

	var wg sync.WaitGroup
	errs := make([]error, len(caps))
	for i, c := range caps {
		wg.Go(func() {
			errs[i] = pipeline.Run(ctx, c.src, c.p, func(err error) bool { return errors.Is(err, source.ErrTimeout) })
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			for _, c := range caps {
				ks, _ := c.src.Stats()
				logStats(log, "capture stats", c.name, c.p.Stats(), &ks)
			}
		case <-done:
			hs.SetReady(false)
			for _, c := range caps {
				ks, _ := c.src.Stats()
				logStats(log, "capture stopped", c.name, c.p.Stats(), &ks)
			}
			return errors.Join(errs...)
		}
	}
}

// podInterfaces lists the pod's interfaces that are up, except loopback: eth0, and the
// extra interfaces of Multus pods.
func podInterfaces() ([]string, error) {
	list, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var names []string
	for _, i := range list {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
			names = append(names, i.Name)
		}
	}
	if len(names) == 0 {
		return nil, errors.New("no interface is up besides lo; set interfaces in the config or --interfaces")
	}
	return names, nil
}

func logStats(log *slog.Logger, msg, iface string, s *pipeline.Stats, ks *source.KernelStats, kv ...any) {
	attrs := append([]any{"interface", iface,
		"packets", s.Packets.Load(), "bytes", s.Bytes.Load(), "events", s.Events.Load(), "flows", s.Flows.Load(),
		"connections", s.Conns.Load(), "activeConnections", s.ActiveConns.Load(), "connectionsRefused", s.ConnsRefused.Load(),
		"retransmissions", s.Retransmissions.Load(), "gaps", s.Gaps.Load(), "gapBytes", s.GapBytes.Load(),
		"decodeErrors", s.DecodeErrors.Load(), "truncated", s.Truncated.Load()}, kv...)
	if ks != nil {
		attrs = append(attrs, "kernelPackets", ks.Packets, "kernelDrops", ks.Drops)
	}
	log.Info(msg, attrs...)
}
