package pipeline

import "github.com/audit-io/wire-audit/capture/protocols/all"

// Builtin returns the pipeline protocol of name with ports (none: recognised by content) from
// the parsers built into the sidecar (protocols/all), and false when this build has no parser
// for it. The wiring lives here, beside Protocol, so that the protocol tables need not import
// the pipeline: the capture chain's imports all point one way.
func Builtin(name string, ports []uint16) (Protocol, bool) {
	pr := Protocol{Name: name, Ports: ports, Factory: all.Factories[name], Detect: all.Detectors[name], Datagram: all.Datagrams[name]}
	return pr, pr.Factory != nil || pr.Datagram != nil
}
