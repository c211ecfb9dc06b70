# Makefile for wire-audit. `make` (or `make help`) lists the targets.

# Tool versions. Bumping one makes the matching bin/ target reinstall it.
# kustomize v5.8.3 needs go >= 1.27, so stay on v5.8.2 while the toolchain is go 1.26.
GOLANGCI_LINT_VERSION ?= v2.15.0
KUSTOMIZE_VERSION ?= v5.8.2
HELM_VERSION ?= v3.22.0

# Tools and the envtest control plane live in bin/ (git-ignored).
LOCALBIN ?= bin
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)

# controller-runtime envtest looks for kube-apiserver and etcd here.
export KUBEBUILDER_ASSETS := $(abspath $(LOCALBIN))

# Extra flags, e.g. make test TEST_ARGS='-run TestInject -v', make bench BENCH_ARGS='-benchtime=3s'.
TEST_ARGS ?=
BENCH_ARGS ?=

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec
.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: fmt
fmt: ## Run go fmt against the code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against the code.
	go vet ./...

.PHONY: tidy
tidy: ## Run go mod tidy on the root module.
	go mod tidy

# make demo DEMO_DURATION=1m; KAFKA_BROKERS=host:9092[,...] (and KAFKA_TOPIC) use a real Kafka
# instead of the embedded one.
DEMO_DURATION ?= 20s
KAFKA_BROKERS ?=
KAFKA_TOPIC ?=

.PHONY: demo
demo: demo-packages envtest build ## The main job: API server, webhook and Kafka; an annotated pod's sidecar run as stored against real servers; its audit events (DEMO_DURATION, KAFKA_BROKERS).
	go run ./test/demo -duration $(DEMO_DURATION) -capture-binary $(LOCALBIN)/capture -kafka-brokers '$(KAFKA_BROKERS)' -kafka-topic '$(KAFKA_TOPIC)'

# The demo creates network namespaces and runs the sidecar with its capabilities, so it checks
# for root before installing anything or building kube-apiserver.
.PHONY: demo-packages
demo-packages:
	@if [ "$$(id -u)" != 0 ]; then echo 'make demo needs root (network namespaces, the sidecar'"'"'s capabilities): run it as root, e.g. sudo -E env PATH="$$PATH" make demo' >&2; exit 1; fi
	hack/ensure-packages.sh demo

.PHONY: test
test: envtest kustomize helm ## Install the Debian packages the tests use, run go vet, then all tests against a real kube-apiserver and etcd (TEST_ARGS adds flags).
	hack/ensure-packages.sh all
	go vet ./...
	go test ./... -count=1 $(TEST_ARGS)

.PHONY: bench
bench: envtest load-pcaps $(LOCALBIN)/packetbeat ## Run the benchmarks: unit benchmarks with allocations, capture replay against tshark and live capture, pod creation through the API server, forced certificate rotation (BENCH_ARGS adds flags).
	go test $$(go list ./... | grep -v -e /test/integration -e /test/capturebench -e /test/e2e -e /capture/export/kafka) -run '^$$' -bench . -benchmem $(BENCH_ARGS)
	@# Kafka export to a kfake process: 300k events through the exporter and through a bare kafka-go Writer (overhead ratio), then enqueue-to-ack percentiles at 10k events/s for 3 s.
	go test ./capture/export/kafka -run '^$$' -bench Throughput -benchtime 300000x $(BENCH_ARGS)
	go test ./capture/export/kafka -run '^$$' -bench Latency -benchtime 30000x $(BENCH_ARGS)
	@# Replay of real pgbench, mariadb-slap, redis-benchmark, curl and DNS lookup load on one core, with tshark on the same file.
	go test ./test/capturebench -run '^$$' -bench Replay -benchtime 5x $(BENCH_ARGS)
	@# The whole sidecar process on one core on a mixed capture of all five, with tshark and Packetbeat on the same file and Kafka output to a kfake process.
	go test ./test/capturebench -run '^$$' -bench Process -benchtime 5x -timeout 60m $(BENCH_ARGS)
	@# The sidecar live on a veth: 10k concurrent connections injected at 200k packets/s.
	go test ./test/capturebench -run '^$$' -bench Live -benchtime 1x $(BENCH_ARGS)
	@# 1000 rounds of three pods at 240/s, three times: enough samples for a p99 per class.
	go test ./test/integration -run '^$$' -bench PodCreate -benchtime 1000x -count 3 $(BENCH_ARGS)
	@# Forced rotation to the new certificate in a TLS handshake: 20 serving rotations, 3 CA rotations.
	go test ./test/integration -run '^$$' -bench 'ForcedRotation/serving' -benchtime 20x $(BENCH_ARGS)
	go test ./test/integration -run '^$$' -bench 'ForcedRotation/ca' -benchtime 3x $(BENCH_ARGS)
	@# End to end: pod Create call to its first event in Kafka (webhook, sidecar started as rendered, one curl), 20 pods.
	go test ./test/e2e -run '^$$' -bench CreateToFirstEvent -benchtime 20x $(BENCH_ARGS)

# Captures of sustained real load (pgbench, mariadb-slap, redis-benchmark, curl, DNS lookups) for
# the replay benchmark, made once.
LOAD_PCAPS := $(LOCALBIN)/pgsql-load.pcap $(LOCALBIN)/mysql-load.pcap $(LOCALBIN)/redis-load.pcap $(LOCALBIN)/http-load.pcap $(LOCALBIN)/dns-load.pcap

.PHONY: load-pcaps
load-pcaps: $(LOAD_PCAPS) ## Capture 600k+ packets each of pgbench, mariadb-slap, redis-benchmark, curl and DNS lookup load into bin/ (needs root).

# Packetbeat 7.17.29, the tool the sidecar replaces, for BenchmarkProcess only (not make test).
# libpcap-dev is its cgo dependency.
$(LOCALBIN)/packetbeat: test/tools/packetbeat/go.mod test/tools/packetbeat/go.sum | $(LOCALBIN)
	cd test/tools/packetbeat && CGO_ENABLED=1 go build -o $(abspath $@) github.com/elastic/beats/v7/packetbeat
	touch $@

$(LOAD_PCAPS) &:
	go run ./test/realnet/cmd/loadpcap -out $(LOCALBIN) -packets 600000 -protocols pgsql,mysql,redis,http,dns

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (linters and formatters from .golangci.yml).
	$(GOLANGCI_LINT) run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	$(GOLANGCI_LINT) run --fix

.PHONY: manifests-check
manifests-check: kustomize ## Check that the kustomize manifests build (default builtin certificates, cert-manager and own-Secret overlays, samples).
	$(KUSTOMIZE) build config/default > /dev/null
	$(KUSTOMIZE) build config/overlays/certmanager > /dev/null
	$(KUSTOMIZE) build config/overlays/secret > /dev/null
	$(KUSTOMIZE) build config/samples > /dev/null
	@echo "manifests OK"

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart in each certificate mode (the chart tests in test/chart do more).
	$(HELM) lint --strict charts/wire-audit
	$(HELM) lint --strict charts/wire-audit --set certificates.mode=cert-manager
	$(HELM) lint --strict charts/wire-audit --set certificates.mode=secret --set certificates.secret.name=tls --set-file certificates.caBundle=test/chart/testdata/ca.crt

##@ Build

.PHONY: build
build: ## Build the webhook manager and the capture sidecar into bin/.
	go build -o $(LOCALBIN)/webhook ./cmd/webhook
	$(MAKE) capture

# gopacket's afpacket needs cgo (for the kernel's tpacket structs), so the sidecar links glibc
# statically; netgo/osusergo keep the resolver and user lookups in pure Go.
CAPTURE_BUILD_FLAGS ?= -tags netgo,osusergo -ldflags '-s -w -linkmode external -extldflags "-static"'

.PHONY: capture
capture: ## Build the capture sidecar as one static binary into bin/capture.
	CGO_ENABLED=1 go build $(CAPTURE_BUILD_FLAGS) -o $(LOCALBIN)/capture ./cmd/capture

# Images (no engine here; test/images runs each Dockerfile's build and checks the binary is static).
CONTAINER_TOOL ?= docker
WEBHOOK_IMG ?= ghcr.io/audit-io/wire-audit-webhook:v0.1.0
CAPTURE_IMG ?= ghcr.io/audit-io/wire-audit-capture:v0.1.0

.PHONY: docker-build
docker-build: ## Build the webhook and sidecar images (WEBHOOK_IMG, CAPTURE_IMG; CONTAINER_TOOL=docker or podman).
	$(CONTAINER_TOOL) build -f cmd/webhook/Dockerfile -t $(WEBHOOK_IMG) .
	$(CONTAINER_TOOL) build -f cmd/capture/Dockerfile -t $(CAPTURE_IMG) .

.PHONY: docker-push
docker-push: ## Push both images.
	$(CONTAINER_TOOL) push $(WEBHOOK_IMG)
	$(CONTAINER_TOOL) push $(CAPTURE_IMG)

.PHONY: clean
clean: ## Remove build outputs and coverage files (keeps tools and the envtest binaries).
	rm -f $(LOCALBIN)/webhook $(LOCALBIN)/capture cover.out coverage.out *.coverprofile

.PHONY: distclean
distclean: clean ## Remove all of bin/, including the envtest binaries (rebuilding kube-apiserver takes minutes).
	rm -rf $(LOCALBIN)

##@ Dependencies

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

.PHONY: envtest
envtest: $(LOCALBIN)/kube-apiserver $(LOCALBIN)/etcd ## Build kube-apiserver and etcd for envtest from source (test/tools).

# Built from the module proxy because no release binaries can be downloaded here (see test/tools/README.md).
# go build leaves the file alone when it is already up to date, so touch it to keep make from retrying.
# The version is stamped as Kubernetes' release builds do (hack/lib/version.sh); unstamped, the
# server reports v0.0.0-master and helm refuses the chart's kubeVersion.
KUBE_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" || $$2 == "k8s.io/kubernetes" { print $$NF; exit }' test/tools/kube-apiserver/go.mod)
KUBE_VERSION_PKG := k8s.io/component-base/version
KUBE_LDFLAGS := -X $(KUBE_VERSION_PKG).gitVersion=$(KUBE_VERSION) -X $(KUBE_VERSION_PKG).gitTreeState=clean \
	-X $(KUBE_VERSION_PKG).gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION:v%=%))) -X $(KUBE_VERSION_PKG).gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION:v%=%)))

$(LOCALBIN)/kube-apiserver: test/tools/kube-apiserver/go.mod test/tools/kube-apiserver/go.sum | $(LOCALBIN)
	cd test/tools/kube-apiserver && go build -ldflags '$(KUBE_LDFLAGS)' -o $(abspath $@) k8s.io/kubernetes/cmd/kube-apiserver
	touch $@

$(LOCALBIN)/etcd: test/tools/etcd/go.mod test/tools/etcd/go.sum | $(LOCALBIN)
	cd test/tools/etcd && go build -o $(abspath $@) go.etcd.io/etcd/server/v3
	touch $@

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into bin/ if missing.
$(GOLANGCI_LINT): | $(LOCALBIN)
	$(call go-install-tool,$@,github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize into bin/ if missing.
$(KUSTOMIZE): | $(LOCALBIN)
	$(call go-install-tool,$@,sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

# helm's own module graph stays out of go.mod: `go install pkg@version` ignores the main module.
# The -X flags are those of helm's release builds: without them helm reports no version and
# assumes Kubernetes v1.20 for `helm template` and `helm install --dry-run`, below the chart's
# kubeVersion. 1.37 is the minor of the k8s.io modules helm v3.22.0 builds with.
HELM_LDFLAGS = -ldflags '-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37'

.PHONY: helm
helm: $(HELM) ## Install helm into bin/ if missing.
$(HELM): | $(LOCALBIN)
	$(call go-install-tool,$@,helm.sh/helm/v3/cmd/helm,$(HELM_VERSION),$(HELM_LDFLAGS))

# go-install-tool installs package $(2)@$(3) with GOBIN=bin (and go install flags $(4)) and renames it
# to the versioned path $(1).
# A plain bin/<tool> symlink points at it for interactive use.
define go-install-tool
@set -e; \
pkg='$(2)@$(3)'; \
bin_name="$$(basename '$(2)')"; \
[ "$$bin_name" != "$${bin_name#v[0-9]}" ] && bin_name="$$(basename "$$(dirname '$(2)')")"; \
echo "installing $$pkg"; \
rm -f '$(LOCALBIN)'/"$$bin_name"; \
GOBIN='$(abspath $(LOCALBIN))' go install $(4) "$$pkg"; \
mv -f '$(LOCALBIN)'/"$$bin_name" '$(1)'; \
ln -sf "$$(basename '$(1)')" '$(LOCALBIN)'/"$$bin_name"
endef
