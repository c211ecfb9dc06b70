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
	kafkaexport "github.com/audit-io/wire-audit/capture/export/kafka"
	"github.com/audit-io/wire-audit/capture/health"
	"github.com/audit-io/wire-audit/capture/metrics"
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
	txTimeout              time.Duration
	kafka                  kafkaFlags
}

func run(args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) > 0 && args[0] == "events" {
		return runEvents(args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "selfcheck" {
		return runSelfCheck(args[1:], stdout)
	}
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.configPath, "config", "", "Capture config rendered by the webhook (JSON). Without it, every protocol on its standard ports.")
	fs.StringVar(&o.labelsPath, "labels-file", "", "Downward-API file with the pod's labels; replaces the labels known at admission.")
	fs.BoolVar(&o.printConfig, "print-config", false, "Print the effective config as JSON and exit.")
	fs.StringVar(&o.pcap, "pcap", "", "Replay this pcap or pcapng file instead of capturing live; exit once every transaction is flushed.")
	fs.StringVar(&o.output, "output", "auto", "Where events go: stdout (one JSON event per line), kafka (see --kafka-*), or auto: kafka when the config or --kafka-brokers names brokers, else stdout.")
	fs.StringVar(&o.interfaces, "interfaces", "", "Comma-separated interfaces to capture on (overrides the config; default: every interface but lo).")
	fs.IntVar(&o.maxQueryLength, "max-query-length", 0, "Cut statement text longer than this many bytes (overrides the config; 0: no limit).")
	fs.BoolVar(&o.maskLiterals, "mask-literals", false, "Replace literal values in statements with ? (overrides the config).")
	fs.BoolVar(&o.flows, "flows", true, "Emit flow records (overrides the config).")
	fs.Int64Var(&o.memoryLimit, "memory-limit-mib", 40, "Soft limit for the Go heap in MiB (GOMEMLIMIT wins): the collector works harder near it, so the sidecar stays small with many connections. With Kafka output and this flag unset, --kafka-queue-mib is added. 0 turns it off.")
	fs.IntVar(&o.ringMiB, "ring-mib", 8, "Size of each interface's AF_PACKET ring in MiB; it absorbs bursts while the decoder is busy.")
	fs.DurationVar(&o.txTimeout, "transaction-timeout", protocols.DefaultTransactionTimeout, "How long a DNS query waits for its response before it is reported with status Error.")
	fs.DurationVar(&o.statsEvery, "stats-interval", 30*time.Second, "How often live capture logs its counters, kernel drops included.")
	o.kafka.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.ringMiB < 1 || o.ringMiB > 1024 {
		return fmt.Errorf("--ring-mib %d: must be 1-1024", o.ringMiB)
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	o.defaultQueue()

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
	if o.output == "auto" {
		// The webhook renders brokers from the cluster defaults, so an injected sidecar exports.
		o.output = "stdout"
		if len(cfg.Kafka.Brokers) > 0 {
			o.output = "kafka"
		}
	}
	if limit := heapLimitMiB(o); limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit << 20)
	}
	popts, filter, err := pipelineOptions(cfg, nil, log)
	if err != nil {
		return err
	}
	popts.Parser.TransactionTimeout = o.txTimeout
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := metrics.New()
	out, ctx, err := newSink(ctx, o, cfg, popts.Kubernetes, m, stdout, log)
	if err != nil {
		return err
	}
	popts.Sink = m.Sink(out)
	if o.pcap != "" {
		err = replay(ctx, o.pcap, cfg, popts, log)
	} else {
		err = live(ctx, cfg, popts, filter, m, o.ringMiB, o.statsEvery, log)
	}
	// Capture has stopped (SIGTERM, end of the file, or a failed exporter): flush what is queued.
	fctx, cancel := context.WithTimeout(context.Background(), o.kafka.flushTimeout)
	defer cancel()
	if ferr := out.finish(fctx); ferr != nil {
		err = errors.Join(err, fmt.Errorf("%s output: %w", o.output, ferr))
	}
	return err
}

// defaultQueue sets --kafka-queue-mib, when it is not set, to its default for a queue that
// blocks.
func (o *options) defaultQueue() {
	if !o.set["kafka-queue-mib"] && o.kafka.blocks(o.pcap != "") {
		o.kafka.queueMiB = blockingQueueMiB
	}
}

// heapLimitMiB is the soft Go heap limit: --memory-limit-mib for capture, plus the Kafka queue
// bound when exporting to Kafka and the limit was not set explicitly, because the queue lives
// on the heap and a full queue must not make the collector run without pause.
func heapLimitMiB(o options) int64 {
	if o.memoryLimit <= 0 || o.output != "kafka" || o.set["memory-limit-mib"] {
		return o.memoryLimit
	}
	return o.memoryLimit + int64(o.kafka.queueMiB)
}

// newSink opens the output. With kafka, the returned context also ends when the exporter gives
// up, which only a replay's does (brokers unusable past --kafka-start-timeout), so the replay
// stops instead of waiting forever; a live exporter keeps retrying.
func newSink(ctx context.Context, o options, cfg config.Config, kube *event.Kubernetes, m *metrics.Metrics, stdout io.Writer, log *slog.Logger) (sink, context.Context, error) {
	switch o.output {
	case "stdout":
		return stdoutSink{export.NewJSONLines(stdout)}, ctx, nil
	case "kafka":
		kopts, err := o.kafka.exporterOptions(cfg, o.pcap != "", kube, log)
		if err != nil {
			return nil, ctx, err
		}
		kopts.Latency = m.ExportLatency
		exp, err := kafkaexport.New(kopts)
		if err != nil {
			return nil, ctx, err
		}
		m.AddExporter(exp)
		ctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-exp.Done():
				if exp.Err() != nil {
					log.Error("kafka export failed; stopping capture", "err", exp.Err())
				}
				cancel()
			case <-ctx.Done():
			}
		}()
		return kafkaSink{exp}, ctx, nil
	}
	return nil, ctx, fmt.Errorf("--output %q: accepted: stdout, kafka", o.output)
}

type stdoutSink struct{ *export.JSONLines }

func (s stdoutSink) finish(context.Context) error { return s.Flush() }

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
	o.kafka.apply(&cfg.Kafka, o.set)
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
		pr, ok := pipeline.Builtin(p.Name, p.Ports)
		switch {
		case !ok:
			log.Warn("protocol has no decoder in this build; its traffic is not captured", "protocol", p.Name)
			continue
		case len(p.Ports) == 0 && pr.Detect == nil && pr.Datagram == nil:
			log.Warn("protocol has no ports and cannot be recognised by content in this build; it is not captured", "protocol", p.Name)
			continue
		}
		opts.Protocols = append(opts.Protocols, pr)
		if up := all.Upgrades[p.Name]; up != nil {
			opts.Parser.Upgrade = up // TLS after MySQL's SSL request or PostgreSQL's SSLRequest
		}
		// Explicit ports go to the kernel filter; a protocol without ports needs every packet
		// of its transports, as it is recognised by content.
		if pr.Factory != nil {
			filter.TCPPorts = append(filter.TCPPorts, p.Ports...)
			filter.AllTCP = filter.AllTCP || len(p.Ports) == 0
		}
		if pr.Datagram != nil {
			filter.UDPPorts = append(filter.UDPPorts, p.Ports...)
			filter.AllUDP = filter.AllUDP || len(p.Ports) == 0
		}
	}
	if len(opts.Protocols) == 0 {
		return opts, filter, errors.New("no configured protocol can be decoded by this build")
	}
	for _, ports := range []*[]uint16{&filter.TCPPorts, &filter.UDPPorts} {
		slices.Sort(*ports)
		*ports = slices.Compact(*ports)
	}
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

func live(ctx context.Context, cfg config.Config, opts pipeline.Options, filter source.Filter, m *metrics.Metrics, ringMiB int, every time.Duration, log *slog.Logger) error {
	ifaces := cfg.Interfaces
	if len(ifaces) == 0 {
		var err error
		if ifaces, err = podInterfaces(); err != nil {
			return err
		}
		if cfg.Mesh != "" && !slices.Contains(ifaces, "lo") {
			ifaces = append(ifaces, "lo")
		}
	}
	prog, err := filter.Program()
	if err != nil {
		return err
	}
	if cfg.Mesh != "" {
		// On lo the application talks to the proxy's ports, and eth0 carries mTLS on the
		// application's: every TCP connection is looked at, and TLS is reported as such.
		filter.AllTCP = true
		if prog, err = filter.Program(); err != nil {
			return err
		}
		opts.DetectAll = true
	}
	opts.Claims = pipeline.NewClaims()
	opts.IgnorePorts = []uint16{uint16(cfg.HealthPort)} // probes of the sidecar itself are not audited
	hs, err := health.Listen(":" + strconv.Itoa(cfg.HealthPort))
	if err != nil {
		return fmt.Errorf("health server: %w", err)
	}
	hs.Handle("/metrics", m.Handler())
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

	var caps []*capture
	defer func() {
		for _, c := range caps {
			_ = c.src.Close()
		}
	}()
	for _, name := range ifaces {
		o := opts
		o.Interface = name
		// The plaintext leg between the mesh proxy and the application.
		o.Mesh = cfg.Mesh != "" && name == "lo"
		if o.Mesh {
			o.IgnorePorts = append(slices.Clone(opts.IgnorePorts), config.MeshControlPorts[cfg.Mesh]...)
		}
		src, err := source.OpenLive(source.LiveOptions{Interface: name, Filter: prog, BlockSize: 1 << 20, NumBlocks: ringMiB})
		if err != nil {
			return err
		}
		p, err := pipeline.New(o)
		if err != nil {
			_ = src.Close()
			return err
		}
		c := &capture{name: name, src: src, p: p}
		caps = append(caps, c)
		m.AddInterface(name, p.Stats(), c.kernel)
	}
	log.Info("capturing", "interfaces", ifaces, "tcpPorts", filter.TCPPorts, "udpPorts", filter.UDPPorts,
		"allTCP", filter.AllTCP, "allUDP", filter.AllUDP, "mesh", cfg.Mesh)
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
				ks := c.kernel()
				logStats(log, "capture stats", c.name, c.p.Stats(), &ks)
			}
		case <-done:
			hs.SetReady(false)
			for _, c := range caps {
				ks := c.kernel()
				logStats(log, "capture stopped", c.name, c.p.Stats(), &ks)
			}
			return errors.Join(errs...)
		}
	}
}

// capture is one interface's socket and pipeline.
type capture struct {
	name string
	src  *source.Live
	p    *pipeline.Pipeline
}

// kernel reads the socket's statistics; gopacket accumulates them under its own lock, so the
// stats ticker and /metrics scrapes may both call it.
func (c *capture) kernel() source.KernelStats {
	ks, _ := c.src.Stats()
	return ks
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
		"decodeErrors", s.DecodeErrors.Load(), "truncated", s.Truncated.Load(),
		"detected", s.Detected.Load(), "undetected", s.Undetected.Load(), "encrypted", s.Encrypted.Load(),
		"duplicateConnections", s.Duplicates.Load()}, kv...)
	if ks != nil {
		attrs = append(attrs, "kernelPackets", ks.Packets, "kernelDrops", ks.Drops)
	}
	log.Info(msg, attrs...)
}
