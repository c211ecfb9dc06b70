package event

// RPC is `rpc.*` of a remote procedure call, in the layout of the OpenTelemetry semantic
// conventions: one event per call, also for streaming calls.
type RPC struct {
	System  string `json:"system"`            // "grpc"
	Service string `json:"service,omitempty"` // "helloworld.Greeter", from :path
	Method  string `json:"method,omitempty"`  // "SayHello", from :path
	GRPC    *GRPC  `json:"grpc,omitempty"`
}

// GRPC is `rpc.grpc.*`.
type GRPC struct {
	// StatusCode is grpc-status from the trailers (or the headers of a trailers-only
	// response); nil when the call ended without one (reset, or not captured).
	StatusCode *int `json:"status_code,omitempty"`
	// RequestMessages and ResponseMessages count the length-prefixed messages each side sent.
	RequestMessages  uint64 `json:"request_messages"`
	ResponseMessages uint64 `json:"response_messages"`
}
