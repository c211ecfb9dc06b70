package realnet

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Credentials of the account that every server of this package creates for the tests.
const (
	User     = "app"
	Password = "secret"
	Database = "audit"
)

// Endpoint is where a server of this package listens and the account it created for the tests.
type Endpoint struct {
	Addr     string // host:port on the peer's IPv4 address, for dialling from the pod
	Addr6    string // the same on the peer's IPv6 address
	Port     int
	User     string // "app": all privileges on Database; mysql_native_password on MariaDB
	Password string
	Database string
}

func newEndpoint(pair *Pair, port int) Endpoint {
	return Endpoint{
		Addr:  net.JoinHostPort(pair.PeerIP.String(), strconv.Itoa(port)),
		Addr6: net.JoinHostPort(pair.PeerIP6.String(), strconv.Itoa(port)),
		Port:  port, User: User, Password: Password, Database: Database,
	}
}

// runWithInput runs cmd with stdin, bounded by timeout, and returns stdout. Errors are
// prefixed with name and include stderr.
func runWithInput(name string, cmd *exec.Cmd, stdin string, timeout time.Duration) (string, error) {
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return stdout.String(), fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
		}
		return stdout.String(), fmt.Errorf("%s: %w", name, err)
	}
	return stdout.String(), nil
}
