// Command capture is the audit sidecar. This build loads and checks the config the webhook
// renders; live capture, decoding and export arrive with the capture and export issues.
//
// It must not link client-go or controller-runtime: it runs in every audited pod.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/audit-io/wire-audit/capture/config"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
}

// identity is the pod identity the downward API passes through the environment.
type identity struct{ podName, namespace, podUID, nodeName string }

func run(args []string) error {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	var configPath, labelsPath string
	var printConfig bool
	fs.StringVar(&configPath, "config", "", "Capture config rendered by the webhook (JSON). Without it, every protocol on its standard ports.")
	fs.StringVar(&labelsPath, "labels-file", "", "Downward-API file with the pod's labels; replaces the labels known at admission.")
	fs.BoolVar(&printConfig, "print-config", false, "Print the effective config as JSON and exit.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id := identity{os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE"), os.Getenv("POD_UID"), os.Getenv("NODE_NAME")}
	cfg, err := effectiveConfig(configPath, labelsPath, id)
	if err != nil {
		return err
	}
	if printConfig {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(cfg)
	}
	return errors.New("live capture is not in this build yet; use --print-config to check a config")
}

func effectiveConfig(configPath, labelsPath string, id identity) (config.Config, error) {
	cfg := config.Default()
	if configPath != "" {
		var err error
		if cfg, err = config.Load(configPath); err != nil {
			return config.Config{}, err
		}
	}
	if labelsPath != "" {
		labels, err := config.LoadLabels(labelsPath)
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
	return cfg, nil
}
