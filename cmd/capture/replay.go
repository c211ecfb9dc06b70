package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/pipeline"
	"github.com/audit-io/wire-audit/capture/source"
)

// replay decodes a capture file as live capture would have: one pipeline per interface of a
// pcapng file (named by its Interface Description Blocks), the configured interfaces only when
// the config or --interfaces names them, and with a mesh, every TCP connection recognised by
// content and lo's events marked network.mesh. A classic pcap has no interface names: it is
// one interface, replayed whole.
func replay(ctx context.Context, path string, cfg config.Config, opts pipeline.Options, log *slog.Logger) error {
	src, err := source.OpenFile(path)
	if err != nil {
		return err
	}
	defer src.Close()
	opts.Claims = pipeline.NewClaims()
	opts.IgnorePorts = []uint16{uint16(cfg.HealthPort)} // as live: probes of the sidecar itself
	opts.DetectAll = cfg.Mesh != ""
	d, err := decode.New(src.LinkType())
	if err != nil {
		return err
	}
	var ifaces []*replayInterface // by the frames' InterfaceIndex
	closeAll := func(at time.Time) {
		for _, ri := range ifaces {
			if ri != nil && ri.p != nil {
				ri.p.Close(at)
			}
		}
	}
	start := time.Now()
	var pkt decode.Packet
	var last time.Time
	for ctx.Err() == nil {
		frame, ci, err := src.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			closeAll(last)
			return fmt.Errorf("replay %s: %w", path, err)
		}
		i := ci.InterfaceIndex
		if i >= len(ifaces) || ifaces[i] == nil {
			names := src.Interfaces() // a pcapng file may describe interfaces as it goes
			if i < 0 || i >= len(names) {
				closeAll(last)
				return fmt.Errorf("replay %s: a packet of interface %d, but the file describes %d interfaces", path, i, len(names))
			}
			ifaces = append(ifaces, make([]*replayInterface, i+1-min(i+1, len(ifaces)))...)
			ri, err := newReplayInterface(names[i], len(names), cfg, opts, log)
			if err != nil {
				closeAll(last)
				return err
			}
			ifaces[i] = ri
		}
		if ifaces[i].p == nil {
			continue // an interface the config leaves out
		}
		last = ci.Timestamp
		ifaces[i].p.Frame(d, frame, ci.Timestamp, &pkt)
	}
	closeAll(last)
	for _, ri := range ifaces {
		if ri != nil && ri.p != nil {
			logStats(log, "replay finished", ri.label(), ri.p.Stats(), nil, "file", path, "seconds", time.Since(start).Seconds())
		}
	}
	return nil
}

// replayInterface is one interface of a replayed file; p is nil when the config leaves it out.
type replayInterface struct {
	name string
	p    *pipeline.Pipeline
}

// label names the interface in the log: "pcap" for a classic pcap's one unnamed interface.
func (ri *replayInterface) label() string {
	if ri.name == "" {
		return "pcap"
	}
	return ri.name
}

func newReplayInterface(name string, described int, cfg config.Config, opts pipeline.Options, log *slog.Logger) (*replayInterface, error) {
	ri := &replayInterface{name: name}
	if name == "" && len(cfg.Interfaces) > 0 {
		log.Warn("the capture file does not name its interfaces; it is replayed whole", "interfaces", cfg.Interfaces, "fileInterfaces", described)
	} else if len(cfg.Interfaces) > 0 && !slices.Contains(cfg.Interfaces, name) {
		return ri, nil
	}
	opts.Interface = name
	// The plaintext leg between the mesh proxy and the application, as live.
	opts.Mesh = cfg.Mesh != "" && name == "lo"
	if opts.Mesh {
		opts.IgnorePorts = append(slices.Clone(opts.IgnorePorts), config.MeshControlPorts[cfg.Mesh]...)
	}
	p, err := pipeline.New(opts)
	if err != nil {
		return nil, err
	}
	ri.p = p
	return ri, nil
}
