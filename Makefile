# lifeboat — the two commands that matter on a fresh machine:
#   make demo   run lifeboat end to end on a local control plane (built and cached on first use)
#   make test   run every test (builds the local control plane on first use)
#   make test-oldest   the agent, drain and e2e tests on the oldest supported Kubernetes

GO            ?= go
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -s -w -X github.com/lifeboat-dev/lifeboat/internal/version.Version=$(VERSION)
CACHE         ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/lifeboat
TOOLS         := $(CACHE)/tools
GOLANGCI      := $(TOOLS)/golangci-lint-v2.15.0
CONTROLPLANE   = $(shell bash hack/controlplane.sh newest)
CONTROLPLANE_OLDEST = $(shell bash hack/controlplane.sh oldest)
HELM           = $(shell bash hack/helm.sh)
KO             = $(shell bash hack/ko.sh)

export CGO_ENABLED ?= 0

.PHONY: all build build-agent cross test test-oldest controlplane-oldest fuzz lint bench bench-queue bench-agent demo controlplane docs helm-lint chart image image-agent clean

all: build

# AGENT_TAGS leave the queue and Lambda commands (and their AWS SDK clients)
# out of the node agent, lifeboat-agent: same `agent` command, half the size.
AGENT_TAGS    := lifeboat_agent

build: build-agent
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/lifeboat ./cmd/lifeboat

build-agent:
	$(GO) build -trimpath -tags $(AGENT_TAGS) -ldflags '$(LDFLAGS)' -o bin/lifeboat-agent ./cmd/lifeboat-agent

# Release binaries for every supported platform: lifeboat (every command)
# and lifeboat-agent (the node agent, for the DaemonSet and the systemd unit).
cross:
	GOOS=linux   GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/lifeboat-linux-amd64 ./cmd/lifeboat
	GOOS=linux   GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/lifeboat-linux-arm64 ./cmd/lifeboat
	GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/lifeboat-windows-amd64.exe ./cmd/lifeboat
	GOOS=linux   GOARCH=amd64 $(GO) build -trimpath -tags $(AGENT_TAGS) -ldflags '$(LDFLAGS)' -o dist/lifeboat-agent-linux-amd64 ./cmd/lifeboat-agent
	GOOS=linux   GOARCH=arm64 $(GO) build -trimpath -tags $(AGENT_TAGS) -ldflags '$(LDFLAGS)' -o dist/lifeboat-agent-linux-arm64 ./cmd/lifeboat-agent
	GOOS=windows GOARCH=amd64 $(GO) build -trimpath -tags $(AGENT_TAGS) -ldflags '$(LDFLAGS)' -o dist/lifeboat-agent-windows-amd64.exe ./cmd/lifeboat-agent

# The local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) built from the Go module proxy and cached.
# `make test` uses the newest supported Kubernetes (tools/controlplane/go.mod).
controlplane:
	@bash hack/controlplane.sh newest

# The oldest supported Kubernetes (tools/controlplane/go.oldest.mod).
controlplane-oldest:
	@bash hack/controlplane.sh oldest

# Every test: unit tests and the end-to-end tests on the real control plane.
test: controlplane
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./cmd/... ./internal/notice/... ./internal/emulate/...
	$(GO) build -tags $(AGENT_TAGS) -o /dev/null ./cmd/lifeboat-agent
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) test -count=1 -timeout 40m ./...

# The tests that exercise what the API server decides (agent, drain, e2e)
# again on the oldest Kubernetes the README claims to support.
test-oldest: controlplane-oldest
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE_OLDEST) $(GO) test -count=1 -timeout 30m ./internal/agent ./internal/drain ./internal/e2e

# Native Go fuzz targets, one "<package>:<FuzzName>" per line. `make test`
# runs their seed corpora (<package>/testdata/fuzz/<FuzzName>) like any
# test; `make fuzz` fuzzes each in turn for FUZZTIME with one worker and
# prints the inputs each executed (hack/fuzz.sh). A failing input is written
# to the seed corpus and printed with the command that reruns it.
FUZZ_TARGETS := \
	./internal/notice/aws:FuzzSpotInstanceAction \
	./internal/notice/aws:FuzzSpotTerminationTime \
	./internal/notice/aws:FuzzRebalance \
	./internal/notice/aws:FuzzMaintenance \
	./internal/notice/aws:FuzzTargetLifecycleState \
	./internal/notice/azure:FuzzDocument \
	./internal/notice/azure:FuzzTrackerSequence \
	./internal/notice/gcp:FuzzWatcherValues \
	./internal/notice/gcp:FuzzUpcomingMaintenance \
	./internal/notice/alibaba:FuzzTerminationTime \
	./internal/notice/tencent:FuzzTerminationTime \
	./internal/notice/digitalocean:FuzzMaintenanceEvent \
	./internal/notice/nodecondition:FuzzConditionMessage \
	./internal/queue/message:FuzzParse \
	./internal/queue:FuzzDeadLetterTarget \
	./internal/drain:FuzzReadMark \
	./internal/atrisk:FuzzAssessPod \
	./internal/handled:FuzzIDs \
	./internal/notice:FuzzSameEvent
FUZZTIME         ?= 30s
# Caps the shrinking of each new interesting input; Go's default (60 s)
# would eat a short FUZZTIME whole.
FUZZMINIMIZETIME ?= 200x

fuzz:
	@GO=$(GO) bash hack/fuzz.sh $(FUZZTIME) $(FUZZMINIMIZETIME) $(FUZZ_TARGETS)

lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

$(GOLANGCI):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
	mv $(TOOLS)/golangci-lint $(GOLANGCI)

# Benchmarks that compare side by side in one run (ratios); see README.
bench: controlplane
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) test ./internal/drain -run '^$$' -bench 'DrainVersusKubectl|Drain110Pods' -benchtime 2x -timeout 60m

# The node agent as released (lifeboat-agent) against the AWS emulator: start-up, detection, idle and
# peak resident memory (total and anonymous) during a 100-pod drain, binary and image layer size; each run
# side by side as the chart runs the agent (a seccomp filter refusing userfaultfd, like RuntimeDefault) and
# unconfined. LIFEBOAT_BENCH_AGENT=<binary> measures another build (e.g. dist/lifeboat-linux-amd64) instead.
# The same drain then runs in memory cgroups (as root): no limit, the chart's 64 MiB, 32 MiB.
# Then the detection latency of the polling sources (Alibaba, Tencent) at their default interval.
bench-agent: controlplane
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) test ./internal/cli -run '^$$' -bench AgentSpot100Pods -benchtime 3x -timeout 30m
	$(GO) test ./internal/notice/alibaba ./internal/notice/tencent -run '^$$' -bench Detection -benchtime 8x -timeout 5m

# Queue mode: 1000 kwok nodes, 200 interruption messages at once.
bench-queue: controlplane
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) test ./internal/queue/ -run '^$$' -bench InterruptionBurst -benchtime 1x -timeout 30m

# Generated files: the flags reference and the manifests rendered from the chart.
docs: controlplane
	$(GO) run ./cmd/lifeboat docs --output docs/FLAGS.md
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) LIFEBOAT_UPDATE_GOLDEN=1 $(GO) test ./internal/deploytest -run TestManifestsInSync -count=1

helm-lint:
	$(HELM) lint --strict deploy/helm/lifeboat

chart:
	mkdir -p dist && $(HELM) package deploy/helm/lifeboat --destination dist

# The container images as tarballs, without a Docker engine (pulls the distroless base):
# lifeboat (every command) and lifeboat-agent (the DaemonSet's).
image:
	mkdir -p dist
	VERSION=$(VERSION) KO_DOCKER_REPO=$(or $(KO_DOCKER_REPO),ghcr.io/lifeboat-dev/lifeboat) $(KO) build --bare --push=false --tarball=dist/lifeboat-image.tar ./cmd/lifeboat

image-agent:
	mkdir -p dist
	VERSION=$(VERSION) KO_DOCKER_REPO=$(or $(KO_DOCKER_REPO),ghcr.io/lifeboat-dev/lifeboat-agent) $(KO) build --bare --push=false --tarball=dist/lifeboat-agent-image.tar ./cmd/lifeboat-agent

clean:
	rm -rf bin dist

# The end-to-end demo on a local control plane (see hack/demo).
demo: controlplane
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) run ./hack/demo
