// Command h2peer is the HTTP/2 and gRPC peer of the capture tests and of the HTTP/2 load
// capture: an h2c server that also accepts "Upgrade: h2c" (which nginx does not), and a
// grpc-go server and client. It is a module of its own so that grpc stays out of the
// sidecar's dependencies.
//
//	h2peer h2c ADDR DIR             serve DIR over HTTP/1.1, h2c upgrade and prior knowledge
//	h2peer grpc-server ADDR         serve audit.test.Echo
//	h2peer grpc-client ADDR         one connection: unary, server streaming, client streaming,
//	                                NOT_FOUND with a message, a deadline exceeded
//	h2peer grpc-load ADDR N CONNS   N unary calls over CONNS connections
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c" //nolint:staticcheck // deprecated, but net/http's unencrypted HTTP/2 has no "Upgrade: h2c", which the tests need a server for
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "h2peer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: h2peer h2c|grpc-server|grpc-client|grpc-load ADDR [ARGS]")
	}
	addr := args[1]
	switch args[0] {
	case "h2c":
		if len(args) != 3 {
			return errors.New("usage: h2peer h2c ADDR DIR")
		}
		srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second,
			Handler: h2c.NewHandler(http.FileServer(http.Dir(args[2])), &http2.Server{})} //nolint:staticcheck // see the import
		return srv.ListenAndServe()
	case "grpc-server":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		s := grpc.NewServer()
		s.RegisterService(&echoDesc, echoServer{})
		return s.Serve(ln)
	case "grpc-client":
		return client(addr)
	case "grpc-load":
		if len(args) != 4 {
			return errors.New("usage: h2peer grpc-load ADDR N CONNS")
		}
		n, err1 := strconv.Atoi(args[2])
		conns, err2 := strconv.Atoi(args[3])
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("bad N or CONNS: %w", err)
		}
		if n < 1 || conns < 1 {
			return errors.New("the number of calls and of connections must be at least 1")
		}
		return load(addr, n, conns)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// The service, described by hand with protobuf's well-known wrapper messages, so that no
// generated code is needed: the bytes on the wire are those of any protobuf gRPC service.
const service = "audit.test.Echo"

type echoServer struct{}

func (echoServer) unary(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	return wrapperspb.String("echo: " + in.GetValue()), nil
}

func (echoServer) lookup(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	return nil, status.Errorf(codes.NotFound, "no such key: %s", in.GetValue())
}

func (echoServer) slow(ctx context.Context, _ *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	select {
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	case <-time.After(5 * time.Second):
		return wrapperspb.String("late"), nil
	}
}

func unaryHandler(f func(echoServer, context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.StringValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		return f(srv.(echoServer), ctx, in)
	}
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: service,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Unary", Handler: unaryHandler(echoServer.unary)},
		{MethodName: "Lookup", Handler: unaryHandler(echoServer.lookup)},
		{MethodName: "Slow", Handler: unaryHandler(echoServer.slow)},
	},
	Streams: []grpc.StreamDesc{
		{StreamName: "Count", ServerStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			in := new(wrapperspb.StringValue)
			if err := s.RecvMsg(in); err != nil {
				return err
			}
			for i := range 3 {
				if err := s.SendMsg(wrapperspb.String(fmt.Sprintf("%s %d", in.GetValue(), i))); err != nil {
					return err
				}
			}
			return nil
		}},
		{StreamName: "Sum", ClientStreams: true, Handler: func(_ any, s grpc.ServerStream) error {
			n := 0
			for {
				in := new(wrapperspb.StringValue)
				err := s.RecvMsg(in)
				if errors.Is(err, io.EOF) {
					return s.SendMsg(wrapperspb.String(strconv.Itoa(n)))
				}
				if err != nil {
					return err
				}
				n += len(in.GetValue())
			}
		}},
	},
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent("h2peer/1"))
}

// client makes the five calls of the capture tests on one connection, in order, and says
// what each returned.
func client(addr string) error {
	cc, err := dial(addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := new(wrapperspb.StringValue)
	if err := cc.Invoke(ctx, "/"+service+"/Unary", wrapperspb.String("hi"), out); err != nil {
		return fmt.Errorf("unary: %w", err)
	}
	fmt.Println("unary:", out.GetValue())

	cs, err := cc.NewStream(ctx, &echoDesc.Streams[0], "/"+service+"/Count")
	if err != nil {
		return err
	}
	if err := cs.SendMsg(wrapperspb.String("tick")); err != nil {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	n := 0
	for {
		if err := cs.RecvMsg(new(wrapperspb.StringValue)); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("server streaming: %w", err)
		}
		n++
	}
	fmt.Println("server streaming:", n, "messages")

	cs, err = cc.NewStream(ctx, &echoDesc.Streams[1], "/"+service+"/Sum")
	if err != nil {
		return err
	}
	for _, w := range []string{"a", "bb", "ccc", "dddd"} {
		if err := cs.SendMsg(wrapperspb.String(w)); err != nil {
			return err
		}
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	if err := cs.RecvMsg(out); err != nil {
		return fmt.Errorf("client streaming: %w", err)
	}
	fmt.Println("client streaming:", out.GetValue())

	err = cc.Invoke(ctx, "/"+service+"/Lookup", wrapperspb.String("k1"), out)
	fmt.Println("lookup:", status.Code(err), status.Convert(err).Message())

	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	err = cc.Invoke(short, "/"+service+"/Slow", wrapperspb.String("zz"), out)
	fmt.Println("slow:", status.Code(err))
	// Let the server's answer to the cancelled call, if any, arrive before the connection ends.
	time.Sleep(300 * time.Millisecond)
	return nil
}

// load makes n unary calls over conns connections, the calls of one connection in sequence.
func load(addr string, n, conns int) error {
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		calls := n / conns
		if c < n%conns {
			calls++
		}
		wg.Go(func() {
			cc, err := dial(addr)
			if err != nil {
				errs <- err
				return
			}
			defer cc.Close()
			out := new(wrapperspb.StringValue)
			for i := range calls {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := cc.Invoke(ctx, "/"+service+"/Unary", wrapperspb.String("load "+strconv.Itoa(i)), out)
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
