// Command node starts a real single-node cluster (test/node) and keeps it until Ctrl-C or
// SIGTERM, then removes everything it made. `make node` runs it, as root:
//
//	make node
//	export KUBECONFIG=/var/tmp/wa-node-.../admin.kubeconfig   # printed at start
//	bin/kubectl get nodes
//
// -image loads image tarballs (`make images` writes bin/images/*.tar) into the node's
// containerd, so `helm install` of charts/wire-audit runs our images with pullPolicy Never.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/audit-io/wire-audit/test/node"
)

func main() {
	repo := flag.String("repo", ".", "Repository root (bin/ holds what `make node-bins` built).")
	images := flag.String("image", "", "Comma-separated image tarballs to import into the node's containerd.")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := node.Options{RepoRoot: *repo, Log: os.Stderr}
	if *images != "" {
		opts.Images = strings.Split(*images, ",")
	}
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	n, err := node.Start(startCtx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1) //nolint:gocritic // stop() ran just above
	}
	fmt.Printf("node %s Ready in %.1fs; API server %s\nexport KUBECONFIG=%s\nCtrl-C stops the node and removes everything it made.\n",
		node.Name, n.Ready.Seconds(), n.APIServerURL(), n.Kubeconfig)
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping the node")
	n.Stop()
}
