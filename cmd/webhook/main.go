// Command webhook runs the mutating admission webhook that injects the capture sidecar.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/audit-io/wire-audit/certs"
	"github.com/audit-io/wire-audit/webhook"
)

// Names as config/default creates them (namePrefix wire-audit-).
const (
	defaultSecretName  = "wire-audit-webhook-server-cert"
	defaultConfigName  = "wire-audit-mutating-webhook-configuration"
	defaultServiceName = "wire-audit-webhook-service"
)

// Certificate modes.
const (
	certModeBuiltin = "builtin"
	certModeFiles   = "files"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "rotate" {
		err = rotate(os.Args[2:])
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}

// rotate is `webhook rotate serving|ca`: it annotates the Secret and waits until a replica
// has taken the request.
func rotate(args []string) error {
	var namespace, secretName string
	var timeout time.Duration
	fs := flag.CommandLine
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: webhook rotate [flags] serving|ca\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&namespace, "namespace", os.Getenv("POD_NAMESPACE"), "The webhook's namespace (default $POD_NAMESPACE).")
	fs.StringVar(&secretName, "cert-secret-name", defaultSecretName, "The Secret the built-in rotator keeps the certificates in.")
	fs.DurationVar(&timeout, "timeout", time.Minute, "How long to wait for a replica to take the request; 0 returns at once.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || namespace == "" {
		fs.Usage()
		return fmt.Errorf("rotate needs --namespace and one of %q or %q", certs.RotateServing, certs.RotateCA)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	ctx := context.Background()
	what := fs.Arg(0)
	if err := certs.RequestRotation(ctx, c, namespace, secretName, what); err != nil {
		return err
	}
	fmt.Printf("requested %s rotation on secret %s/%s\n", what, namespace, secretName)
	if timeout == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := certs.WaitRotated(ctx, c, namespace, secretName); err != nil {
		return err
	}
	if what == certs.RotateCA {
		fmt.Println("new CA published in caBundle; serving switches to it after --ca-overlap, and the old CA is dropped one overlap later")
	} else {
		fmt.Println("new serving certificate issued; every replica serves it as soon as its cache has the Secret")
	}
	return nil
}

func run() error {
	var shutdownDelay time.Duration
	var (
		metricsAddr, probeAddr, pprofAddr                string
		webhookCertPath, webhookCertName, webhookCertKey string
		configPath, namespace                            string
		certMode, secretName, configName, serviceName    string
		extraSANs                                        string
		webhookPort                                      int
		leaderElect, secureMetrics, enableHTTP2          bool
		certOpts                                         certs.Options
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint: :8443 for HTTPS, :8080 for HTTP, 0 to disable.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "Address of the Go pprof endpoints, for profiling; 0 disables them.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Enable leader election. The admission webhook itself serves on every replica.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Enable HTTP/2 on the webhook and metrics servers (off because of CVE-2023-44487 and CVE-2023-39325).")
	flag.StringVar(&certMode, "cert-mode", certModeBuiltin, "builtin: create, inject and rotate the certificates in --cert-secret-name; files: serve the files in --webhook-cert-path and reload them when they change (cert-manager, or a Secret you provide).")
	flag.StringVar(&secretName, "cert-secret-name", defaultSecretName, "builtin: the Secret in --namespace that holds the CA and serving certificate.")
	flag.StringVar(&configName, "webhook-config-name", defaultConfigName, "builtin: the MutatingWebhookConfiguration whose caBundle is kept in step.")
	flag.StringVar(&serviceName, "webhook-service-name", defaultServiceName, "builtin: the webhook's Service; the serving certificate covers its DNS names.")
	flag.StringVar(&extraSANs, "cert-extra-sans", "", "builtin: comma-separated extra DNS names or IP addresses for the serving certificate.")
	flag.DurationVar(&certOpts.CAValidity, "ca-validity", 10*365*24*time.Hour, "builtin: validity of a new CA.")
	flag.DurationVar(&certOpts.ServingValidity, "serving-validity", 24*time.Hour, "builtin: validity of a new serving certificate.")
	flag.DurationVar(&certOpts.Lookahead, "cert-lookahead", 8*time.Hour, "builtin: renew the serving certificate when less than this is left; the CA rotates serving-validity plus this before it expires.")
	flag.DurationVar(&shutdownDelay, "shutdown-delay", 5*time.Second, "On SIGTERM, keep serving admissions (while /readyz fails) this long before stopping, so that the API server stops sending requests to this replica before its port closes.")
	flag.DurationVar(&certOpts.Overlap, "ca-overlap", time.Minute, "builtin: during a CA rotation, how long both CAs are trusted before serving switches to the new one, and again before the old one is dropped.")
	flag.StringVar(&webhookCertPath, "webhook-cert-path", "", "files: directory holding the webhook's serving certificate and key.")
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
	if certMode != certModeBuiltin && certMode != certModeFiles {
		return fmt.Errorf("--cert-mode %q: want %q or %q", certMode, certModeBuiltin, certModeFiles)
	}
	if certMode == certModeBuiltin && namespace == "" {
		return fmt.Errorf("--cert-mode=%s needs --namespace (or $POD_NAMESPACE) for its Secret", certModeBuiltin)
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
	// files mode: with no GetCertificate, the webhook server serves CertDir through
	// controller-runtime's certwatcher, which reloads the files when they change.
	webhookTLSOpts := tlsOpts
	var cacheOpts cache.Options
	var rotator *certs.Rotator
	if certMode == certModeBuiltin {
		certOpts.Namespace, certOpts.SecretName, certOpts.WebhookConfigName, certOpts.ServiceName = namespace, secretName, configName, serviceName
		if extraSANs != "" {
			certOpts.ExtraHosts = strings.Split(extraSANs, ",")
		}
		certOpts.Registerer = metrics.Registry
		if rotator, err = certs.New(certOpts); err != nil {
			return err
		}
		webhookTLSOpts = append(append([]func(*tls.Config){}, tlsOpts...), rotator.TLSOpt)
		cacheOpts.ByObject = certs.CacheByObject(namespace, secretName, configName)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsOpts,
		Cache:   cacheOpts,
		WebhookServer: crwebhook.NewServer(crwebhook.Options{
			Port: webhookPort, CertDir: webhookCertPath, CertName: webhookCertName, KeyName: webhookCertKey, TLSOpts: webhookTLSOpts,
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
	// A replica that closes its port at SIGTERM fails the admissions the API server still sends
	// it until its endpoint is gone: with failurePolicy Fail, failed pod creations during every
	// rollout. So the manager stops only after shutdownDelay, with /readyz failing meanwhile.
	ctx, draining := delayedShutdown(ctrl.SetupSignalHandler(), shutdownDelay, setupLog)
	ctx = logf.IntoContext(ctx, logger)
	if err := mgr.AddReadyzCheck("shutdown", func(*http.Request) error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("add shutdown ready check: %w", err)
	}
	if rotator != nil {
		if err := rotator.SetupWithManager(ctx, mgr); err != nil {
			return fmt.Errorf("set up certificate rotator: %w", err)
		}
		// Ready only once the served certificate chains to the injected caBundle.
		if err := mgr.AddReadyzCheck("certs", rotator.ReadyCheck); err != nil {
			return fmt.Errorf("add certificate ready check: %w", err)
		}
	}
	if namespace == "" {
		setupLog.Info("no --namespace and no $POD_NAMESPACE: only the namespaceSelector keeps the webhook out of its own namespace")
	}
	setupLog.Info("starting", "webhookPort", webhookPort, "certMode", certMode, "certDir", webhookCertPath, "secret", secretName, "mode", mode, "namespace", namespace)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}

// delayedShutdown returns a context that is cancelled delay after sig is, and a flag that turns
// true as soon as sig is.
func delayedShutdown(sig context.Context, delay time.Duration, log logr.Logger) (context.Context, *atomic.Bool) {
	ctx, cancel := context.WithCancel(context.Background())
	var draining atomic.Bool
	go func() {
		<-sig.Done()
		draining.Store(true)
		log.Info("shutting down: not ready, still serving", "delay", delay)
		time.Sleep(delay)
		cancel()
	}()
	return ctx, &draining
}
