package pipeline

import (
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/reassembly"
)

// flow emits the flow record of c: totals since the connection was first seen, and whether
// it is the last one.
func (p *Pipeline) flow(c *conn, final bool) {
	up, down := &c.half[protocols.ToServer].Stats, &c.half[protocols.ToClient].Stats
	ev := protocols.NewEvent(&c.info, event.TypeFlow, c.first)
	ev.Timestamp = c.last
	ev.Event.Kind = "metric"
	ev.Event.Category = "network"
	ev.Network.Protocol = c.protoName()
	protocols.Finish(ev, c.last, up.Bytes, down.Bytes)
	ev.Source.Packets, ev.Client.Packets = up.Packets, up.Packets
	ev.Destination.Packets, ev.Server.Packets = down.Packets, down.Packets
	ev.Flow = &event.Flow{
		ID:              c.info.CommunityID,
		Final:           final,
		Retransmissions: event.Directional{Source: up.Retransmissions, Destination: down.Retransmissions},
		Gaps:            event.Directional{Source: up.Gaps, Destination: down.Gaps},
		GapBytes:        event.Directional{Source: up.GapBytes, Destination: down.GapBytes},
	}
	c.reported = [2]reassembly.Stats{*up, *down}
	p.stats.Flows.Add(1)
	p.emit(ev)
}
