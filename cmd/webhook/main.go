// Command webhook runs the mutating admission webhook that injects the capture sidecar.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"

	"github.com/go-logr/zapr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/audit-io/wire-audit/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr, pprofAddr                string
		webhookCertPath, webhookCertName, webhookCertKey string
		configPath, namespace                            string
		webhookPort                                      int
		leaderElect, secureMetrics, enableHTTP2          bool
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint: :8443 for HTTPS, :8080 for HTTP, 0 to disable.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "Address of the Go pprof endpoints, for profiling; 0 disables them.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Enable leader election. The admission webhook itself serves on every replica.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Enable HTTP/2 on the webhook and metrics servers (off because of CVE-2023-44487 and CVE-2023-39325).")
	flag.StringVar(&webhookCertPath, "webhook-cert-path", "", "Directory holding the webhook's serving certificate and key.")
	flag.StringVar(&webhookCertName, "webhook-cert-name", "tls.crt", "File name of the webhook certificate.")
	flag.StringVar(&webhookCertKey, "webhook-cert-key", "tls.key", "File name of the webhook key.")
	flag.IntVar(&webhookPort, "webhook-port", 9443, "Port the webhook server listens on.")
	flag.StringVar(&configPath, "config", "", "YAML file with the cluster defaults for the sidecar; built-in defaults when empty.")
	flag.StringVar(&namespace, "namespace", os.Getenv("POD_NAMESPACE"), "The webhook's own namespace, never injected (default $POD_NAMESPACE).")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	logger := zapr.NewLogger(zap.NewRaw(zap.UseFlagOptions(&zapOpts)))
	ctrl.SetLogger(logger)
	setupLog := logger.WithName("setup")

	defaults, err := webhook.LoadDefaults(configPath)
	if err != nil {
		return err
	}
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	mode := defaults.Sidecar.Mode
	if mode == webhook.ModeAuto {
		dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
		if err != nil {
			return fmt.Errorf("discovery client: %w", err)
		}
		v, err := dc.ServerVersion()
		if err != nil {
			return fmt.Errorf("read server version for sidecar mode auto: %w", err)
		}
		if mode, err = webhook.ResolveMode(mode, v.Major, v.Minor); err != nil {
			return err
		}
		setupLog.Info("sidecar mode resolved", "server", v.GitVersion, "mode", mode)
	}

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, TLSOpts: tlsOpts}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsOpts,
		WebhookServer: crwebhook.NewServer(crwebhook.Options{
			Port: webhookPort, CertDir: webhookCertPath, CertName: webhookCertName, KeyName: webhookCertKey, TLSOpts: tlsOpts,
		}),
		HealthProbeBindAddress: probeAddr,
		PprofBindAddress:       pprofAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "wire-audit-webhook.audit.io",
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}

	injector, err := webhook.NewInjector(webhook.InjectorOptions{Defaults: defaults, Mode: mode, Namespace: namespace})
	if err != nil {
		return err
	}
	m, err := webhook.NewMetrics(metrics.Registry)
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	handler, err := webhook.NewHandler(admission.NewDecoder(mgr.GetScheme()), injector, m)
	if err != nil {
		return err
	}
	mgr.GetWebhookServer().Register(webhook.Path, &crwebhook.Admission{Handler: handler})

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	// Ready only while the webhook server accepts TLS connections.
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	if namespace == "" {
		setupLog.Info("no --namespace and no $POD_NAMESPACE: only the namespaceSelector keeps the webhook out of its own namespace")
	}
	setupLog.Info("starting", "webhookPort", webhookPort, "certDir", webhookCertPath, "mode", mode, "namespace", namespace)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}
