# Makefile for wire-audit. `make` (or `make help`) lists the targets.

# Tool versions. Bumping one makes the matching bin/ target reinstall it.
# kustomize v5.8.3 needs go >= 1.27, so stay on v5.8.2 while the toolchain is go 1.26.
GOLANGCI_LINT_VERSION ?= v2.15.0
KUSTOMIZE_VERSION ?= v5.8.2
HELM_VERSION ?= v3.22.0
GOTESTSUM_VERSION ?= v1.13.0

# Tools and the envtest control plane live in bin/ (git-ignored).
LOCALBIN ?= bin
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
GOTESTSUM ?= $(LOCALBIN)/gotestsum-$(GOTESTSUM_VERSION)

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

# make demo DEMO_DURATION=1m. The demo runs on the real node (test/node), whose pods reach only
# the node's addresses, so its Kafka is kfake on the node's address; KAFKA_BROKERS is refused
# with that reason (docs/demo.md).
DEMO_DURATION ?= 20s

# What make demo builds, each a numbered step with progress (hack/build-steps.sh): the node's
# binaries from source (tens of minutes on 2 cores the first time), helm, and the demo itself.
# The image tarballs it installs are bin/images/*.tar (make images).
DEMO_STEPS := node-bins helm images demo-bin

.PHONY: demo
demo: demo-packages ## The main job, on a real node: helm install of the chart with our images, an annotated Deployment and Job whose sidecars capture their traffic to real servers; their audit events from Kafka as they arrive, then a summary (DEMO_DURATION).
	hack/build-steps.sh $(DEMO_STEPS)
	$(LOCALBIN)/demo -duration $(DEMO_DURATION)

# The demo starts a node (mounts, cgroups, iptables, containers), so it checks for root before
# installing anything or building the node. br_netfilter is what a node on a fresh machine
# most often lacks (test/node's Preflight names it); loading it here keeps `make demo` one command.
.PHONY: demo-packages
# test-packages comes first among test's prerequisites: building runc (node-bins) needs
# libseccomp-dev and pkg-config, and the node needs br_netfilter.
.PHONY: test-packages
test-packages:
	hack/ensure-packages.sh all
	@[ -d /proc/sys/net/bridge ] || modprobe br_netfilter || { echo 'the node needs the br_netfilter module: load it with modprobe br_netfilter (Debian package kmod)' >&2; exit 1; }

demo-packages:
	@if [ "$$(id -u)" != 0 ]; then echo 'make demo needs root (it starts a Kubernetes node: mounts, cgroups, iptables, containers): run it as root, e.g. sudo -E env PATH="$$PATH" make demo' >&2; exit 1; fi
	hack/ensure-packages.sh demo
	@[ -d /proc/sys/net/bridge ] || modprobe br_netfilter || { echo 'the node needs the br_netfilter module: load it with modprobe br_netfilter (Debian package kmod)' >&2; exit 1; }

.PHONY: demo-bin
demo-bin: | $(LOCALBIN)
	go build -o $(LOCALBIN)/demo ./test/demo

.PHONY: test
test: test-packages envtest node-bins kustomize helm images ferretdb gotestsum ## Install the Debian packages the tests use, run go vet, then all tests: a real kube-apiserver and etcd, and a real node (TEST_ARGS adds flags).
	go vet ./...
	@# -p 3 on 2 cores: the three packages that start a node take turns on its lock, and most
	@# integration tests wait on servers rather than compute, so a third package keeps both cores busy.
	@# gotestsum prints a line per package as it ends and a failing test's output as go test does
	@# (--- FAIL), then each skipped test with its reason and a DONE line that counts the skips:
	@# a skip is a machine that cannot have a tool (internal/testenv). -v in TEST_ARGS prints all.
	$(GOTESTSUM) --format $(if $(filter -v -v=true -test.v,$(TEST_ARGS)),standard-verbose,pkgname-and-test-fails) \
		--format-icons text --format-hide-empty-pkg -- ./... -count=1 -p 3 $(TEST_ARGS)

.PHONY: bench
bench: test-packages envtest node-bins helm images ferretdb load-pcaps $(LOCALBIN)/grpc-load.pcap $(LOCALBIN)/mongodb-load.pcap $(LOCALBIN)/packetbeat ## Run the benchmarks: unit benchmarks with allocations, capture replay against tshark and live capture, the whole sidecar against tshark and Packetbeat, pod creation through the API server, forced certificate rotation, the real node (BENCH_ARGS adds flags).
	go test $$(go list ./... | grep -v -e /test/integration -e /test/capturebench -e /test/e2e -e /capture/export/kafka) -run '^$$' -bench . -benchmem $(BENCH_ARGS)
	@# Kafka export to a kfake process: 300k events through the exporter and through a bare kafka-go Writer (overhead ratio), then enqueue-to-ack percentiles at 10k events/s for 3 s.
	go test ./capture/export/kafka -run '^$$' -bench Throughput -benchtime 300000x $(BENCH_ARGS)
	go test ./capture/export/kafka -run '^$$' -bench Latency -benchtime 30000x $(BENCH_ARGS)
	@# Replay of real pgbench, mariadb-slap, redis-benchmark, curl, DNS lookup and gRPC load on one core, with tshark on the same file.
	go test ./test/capturebench -run '^$$' -bench Replay -benchtime 5x $(BENCH_ARGS)
	@# The whole sidecar process on one core on a mixed capture of all five, with tshark and Packetbeat on the same file and Kafka output to a kfake process.
	go test ./test/capturebench -run '^$$' -bench Process -benchtime 5x -timeout 60m $(BENCH_ARGS)
	@# The same with Redis one command per round trip: the mix of issue 14, 0.5 events a packet instead of 2.
	go test ./test/capturebench -run '^$$' -bench Process -benchtime 5x -timeout 60m -mixed-pcaps $(MIX_RR) $(BENCH_ARGS)
	@# The sidecar live on a veth: 10k concurrent connections injected at 200k packets/s.
	go test ./test/capturebench -run '^$$' -bench Live -benchtime 1x $(BENCH_ARGS)
	@# 1000 rounds of three pods at 240/s, three times: enough samples for a p99 per class.
	go test ./test/integration -run '^$$' -bench PodCreate -benchtime 1000x -count 3 $(BENCH_ARGS)
	@# Forced rotation to the new certificate in a TLS handshake: 20 serving rotations, 3 CA rotations.
	go test ./test/integration -run '^$$' -bench 'ForcedRotation/serving' -benchtime 20x $(BENCH_ARGS)
	go test ./test/integration -run '^$$' -bench 'ForcedRotation/ca' -benchtime 3x $(BENCH_ARGS)
	@# The real node: built binaries to a Ready node, and its idle memory, 3 times.
	go test ./test/node -run '^$$' -bench NodeStart -benchtime 3x $(BENCH_ARGS)
	@# End to end on the real node: pod Create call to the sidecar started and to its first event in Kafka, 20 pods.
	go test ./test/e2e -run '^$$' -bench CreateToFirstEvent -benchtime 20x $(BENCH_ARGS)
	@# The sidecar's CPU and memory under the demo's load, from the kubelet's cgroup statistics, 3 pods of 20 s.
	go test ./test/e2e -run '^$$' -bench SidecarUnderDemoLoad -benchtime 3x $(BENCH_ARGS)

# Captures of sustained real load (pgbench, mariadb-slap, redis-benchmark, curl, DNS lookups) for
# the replay benchmark, made once.
LOAD_PCAPS := $(LOCALBIN)/pgsql-load.pcap $(LOCALBIN)/mysql-load.pcap $(LOCALBIN)/redis-load.pcap $(LOCALBIN)/http-load.pcap $(LOCALBIN)/dns-load.pcap
TLS_LOAD_PCAP := $(LOCALBIN)/tls-load.pcap
# BenchmarkProcess's second mix (paths from test/capturebench).
MIX_RR := ../../bin/pgsql-load.pcap,../../bin/mysql-load.pcap,../../bin/redis-rr-load.pcap,../../bin/http-load.pcap,../../bin/dns-load.pcap

.PHONY: load-pcaps
load-pcaps: $(LOAD_PCAPS) $(LOCALBIN)/redis-rr-load.pcap $(TLS_LOAD_PCAP) ## Capture 600k+ packets each of pgbench, mariadb-slap, redis-benchmark (pipelined, and one command per round trip), curl and DNS lookup load, and 3000 curl HTTPS connections, into bin/ (needs root).

.PHONY: pgo
pgo: load-pcaps $(LOCALBIN)/grpc-load.pcap $(LOCALBIN)/mongodb-load.pcap ## Rewrite cmd/capture/default.pgo, the CPU profile go build uses to optimize the sidecar, from one-core replays of every load capture (stdout and Kafka output to a kfake process).
	hack/pgo.sh $(LOCALBIN)

# Packetbeat 7.17.29, the tool the sidecar replaces, for BenchmarkProcess only (not make test).
# libpcap-dev is its cgo dependency.
$(LOCALBIN)/packetbeat: test/tools/packetbeat/go.mod test/tools/packetbeat/go.sum | $(LOCALBIN)
	cd test/tools/packetbeat && CGO_ENABLED=1 go build -o $(abspath $@) github.com/elastic/beats/v7/packetbeat
	touch $@

$(LOAD_PCAPS) &:
	go run ./test/realnet/cmd/loadpcap -out $(LOCALBIN) -packets 600000 -protocols pgsql,mysql,redis,http,dns

# Go-driver inserts and finds against FerretDB, on its own (FerretDB on SQLite is slow: about
# 10 minutes) so that adding it does not remake the others.
$(LOCALBIN)/mongodb-load.pcap: | $(LOCALBIN)/ferretdb
	go run ./test/realnet/cmd/loadpcap -out $(LOCALBIN) -packets 600000 -protocols mongodb

# redis-benchmark with one command per round trip, as most application clients talk, for the
# five-protocol mix at issue 14's density of events (0.5 a packet; redis-load.pcap's -P 16 has 8).
$(LOCALBIN)/redis-rr-load.pcap:
	go run ./test/realnet/cmd/loadpcap -out $(LOCALBIN) -packets 600000 -protocols redis-rr

# gRPC unary calls over HTTP/2 (test/h2peer, grpc-go), made once, on its own so that adding it
# does not remake the others.
$(LOCALBIN)/grpc-load.pcap:
	go run ./test/realnet/cmd/loadpcap -out $(LOCALBIN) -packets 600000 -protocols grpc

# 3000 short HTTPS connections from curl to nginx, for the TLS replay benchmark.
$(TLS_LOAD_PCAP):
	hack/tls-load-pcap.sh $@ 3000

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

# The binaries as shipped; make images packs exactly these, so these flags are the one place
# they are set. -trimpath and an empty -buildid keep build paths and IDs out, so the same
# sources give the same bytes (and the same image digests).
WEBHOOK_BUILD_FLAGS ?= -trimpath -ldflags '-s -w -buildid='

.PHONY: build
build: ## Build the webhook manager (pure Go, static) and the capture sidecar into bin/.
	CGO_ENABLED=0 go build $(WEBHOOK_BUILD_FLAGS) -o $(LOCALBIN)/webhook ./cmd/webhook
	$(MAKE) capture

# gopacket's afpacket needs cgo (for the kernel's tpacket structs), so the sidecar links glibc
# statically; netgo/osusergo keep the resolver and user lookups in pure Go.
CAPTURE_BUILD_FLAGS ?= -trimpath -tags netgo,osusergo -ldflags '-s -w -buildid= -linkmode external -extldflags "-static"'

.PHONY: capture
capture: ## Build the capture sidecar as one static binary into bin/capture.
	CGO_ENABLED=1 go build $(CAPTURE_BUILD_FLAGS) -o $(LOCALBIN)/capture ./cmd/capture

# Images, built without a container engine by hack/imagebuild (go-containerregistry): the
# binaries above on a base equivalent to distroless static, as tarballs for docker load,
# ctr images import and kind load image-archive. SOURCE_DATE_EPOCH, if set, dates the files.
WEBHOOK_IMG ?= ghcr.io/audit-io/wire-audit-webhook:v0.1.0
CAPTURE_IMG ?= ghcr.io/audit-io/wire-audit-capture:v0.1.0
IMAGES_DIR ?= $(LOCALBIN)/images
# make image-push REGISTRY=registry.example/wire-audit pushes REGISTRY/wire-audit-webhook:TAG
# and REGISTRY/wire-audit-capture:TAG (credentials from ~/.docker/config.json).
REGISTRY ?=

.PHONY: images
images: build ## Build the webhook and capture images as tarballs into bin/images/ (WEBHOOK_IMG, CAPTURE_IMG; no Docker needed).
	go run ./hack/imagebuild build -image webhook -binary $(LOCALBIN)/webhook -tag '$(WEBHOOK_IMG)' -out $(IMAGES_DIR)/webhook.tar
	go run ./hack/imagebuild build -image capture -binary $(LOCALBIN)/capture -tag '$(CAPTURE_IMG)' -out $(IMAGES_DIR)/capture.tar

.PHONY: image-push
image-push: images ## Push both images to REGISTRY (e.g. REGISTRY=registry.example/wire-audit).
	go run ./hack/imagebuild push -registry '$(REGISTRY)' $(IMAGES_DIR)/webhook.tar $(IMAGES_DIR)/capture.tar

.PHONY: clean
clean: ## Remove build outputs and coverage files (keeps tools and the envtest binaries).
	rm -rf $(LOCALBIN)/webhook $(LOCALBIN)/capture $(IMAGES_DIR) cover.out coverage.out *.coverprofile

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
KUBE_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" || $$2 == "k8s.io/kubernetes" { print $$NF; exit }' test/tools/kubernetes/go.mod)
KUBE_VERSION_PKG := k8s.io/component-base/version
KUBE_LDFLAGS := -X $(KUBE_VERSION_PKG).gitVersion=$(KUBE_VERSION) -X $(KUBE_VERSION_PKG).gitTreeState=clean \
	-X $(KUBE_VERSION_PKG).gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION:v%=%))) -X $(KUBE_VERSION_PKG).gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION:v%=%)))

# The Kubernetes binaries are built in ONE go build call so that they share the build cache: the
# API server for envtest, and the rest for the real node (test/node).
KUBE_BINS := kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl
KUBE_BIN_PATHS := $(addprefix $(LOCALBIN)/,$(KUBE_BINS))
$(KUBE_BIN_PATHS) &: test/tools/kubernetes/go.mod test/tools/kubernetes/go.sum | $(LOCALBIN)
	@echo "building $(KUBE_BINS) $(KUBE_VERSION) from source (cold: about 8-12 minutes on 2 cores)"
	cd test/tools/kubernetes && go build -ldflags '$(KUBE_LDFLAGS)' -o $(abspath $(LOCALBIN))/ $(addprefix k8s.io/kubernetes/cmd/,$(KUBE_BINS))
	touch $(KUBE_BIN_PATHS)

$(LOCALBIN)/etcd: test/tools/etcd/go.mod test/tools/etcd/go.sum | $(LOCALBIN)
	cd test/tools/etcd && go build -o $(abspath $@) go.etcd.io/etcd/server/v3
	touch $@

# The real node (test/node): containerd, its runc shim and ctr; runc with seccomp (cgo,
# libseccomp-dev); the CNI plugins into bin/cni. Each from a pinned module in test/tools.
CONTAINERD_VERSION := $(shell awk '$$1 == "require" && $$2 == "github.com/containerd/containerd/v2" { print $$3 }' test/tools/containerd/go.mod)
RUNC_VERSION := $(shell awk '$$1 == "require" && $$2 == "github.com/opencontainers/runc" { print $$3 }' test/tools/runc/go.mod)
CONTAINERD_BINS := $(addprefix $(LOCALBIN)/,containerd containerd-shim-runc-v2 ctr)
CNI_PLUGINS := bridge host-local loopback portmap
CNI_BINS := $(addprefix $(LOCALBIN)/cni/,$(CNI_PLUGINS))
NODE_BINS := $(KUBE_BIN_PATHS) $(LOCALBIN)/etcd $(CONTAINERD_BINS) $(LOCALBIN)/runc $(CNI_BINS)

.PHONY: node-bins
node-bins: $(NODE_BINS) ## Build every binary of the real node from source into bin/ (cold: tens of minutes on 2 cores).

.PHONY: node
node: node-bins ## Start a real single-node cluster (as root) and keep it until Ctrl-C; prints its KUBECONFIG.
	go run ./test/node/cmd/node -repo .

$(CONTAINERD_BINS) &: test/tools/containerd/go.mod test/tools/containerd/go.sum | $(LOCALBIN)
	@echo "building containerd $(CONTAINERD_VERSION), its runc shim and ctr from source"
	cd test/tools/containerd && CGO_ENABLED=0 go build -tags 'no_btrfs no_devmapper' \
		-ldflags '-X github.com/containerd/containerd/v2/version.Version=$(CONTAINERD_VERSION)' \
		-o $(abspath $(LOCALBIN))/ $(addprefix github.com/containerd/containerd/v2/cmd/,containerd containerd-shim-runc-v2 ctr)
	touch $(CONTAINERD_BINS)

$(LOCALBIN)/runc: test/tools/runc/go.mod test/tools/runc/go.sum | $(LOCALBIN)
	@echo "building runc $(RUNC_VERSION) from source (cgo, seccomp)"
	cd test/tools/runc && CGO_ENABLED=1 go build -tags seccomp -ldflags '-X main.version=$(RUNC_VERSION:v%=%)' \
		-o $(abspath $@) github.com/opencontainers/runc
	touch $@

$(CNI_BINS) &: test/tools/cni/go.mod test/tools/cni/go.sum | $(LOCALBIN)
	@echo "building the CNI plugins $(CNI_PLUGINS) from source"
	mkdir -p $(LOCALBIN)/cni
	cd test/tools/cni && CGO_ENABLED=0 go build -o $(abspath $(LOCALBIN))/cni/ \
		github.com/containernetworking/plugins/plugins/main/bridge github.com/containernetworking/plugins/plugins/ipam/host-local \
		github.com/containernetworking/plugins/plugins/main/loopback github.com/containernetworking/plugins/plugins/meta/portmap
	touch $(CNI_BINS)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into bin/ if missing.
$(GOLANGCI_LINT): | $(LOCALBIN)
	$(call go-install-tool,$@,github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: gotestsum
gotestsum: $(GOTESTSUM) ## Install gotestsum (make test's runner and summary) into bin/ if missing.
$(GOTESTSUM): | $(LOCALBIN)
	$(call go-install-tool,$@,gotest.tools/gotestsum,$(GOTESTSUM_VERSION))

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

# FerretDB (the MongoDB wire protocol on SQLite) for the mongodb capture tests, built once from
# the module proxy (hack/build-ferretdb.sh fills in the version file the published module lacks).
.PHONY: ferretdb
ferretdb: $(LOCALBIN)/ferretdb ## Build FerretDB v1.24.0 into bin/ for the MongoDB capture tests.

$(LOCALBIN)/ferretdb: hack/build-ferretdb.sh | $(LOCALBIN)
	hack/build-ferretdb.sh $@
