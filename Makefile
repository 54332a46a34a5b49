# lifeboat — the two commands that matter on a fresh machine:
#   make demo   run lifeboat end to end on a local control plane (built and cached on first use)
#   make test   run every test (builds the local control plane on first use)

GO            ?= go
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -s -w -X github.com/lifeboat-dev/lifeboat/internal/version.Version=$(VERSION)
CACHE         ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/lifeboat
TOOLS         := $(CACHE)/tools
GOLANGCI      := $(TOOLS)/golangci-lint-v2.15.0
CONTROLPLANE   = $(shell bash hack/controlplane.sh)

export CGO_ENABLED ?= 0

.PHONY: all build cross test lint bench bench-queue bench-agent demo controlplane docs clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/lifeboat ./cmd/lifeboat

# Release binaries for every supported platform.
cross:
	GOOS=linux   GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/lifeboat-linux-amd64 ./cmd/lifeboat
	GOOS=linux   GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/lifeboat-linux-arm64 ./cmd/lifeboat
	GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/lifeboat-windows-amd64.exe ./cmd/lifeboat

# The local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) built from the Go module proxy and cached.
controlplane:
	@bash hack/controlplane.sh

# Every test: unit tests and the end-to-end tests on the real control plane.
test: controlplane
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./cmd/... ./internal/notice/... ./internal/emulate/...
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) test -count=1 -timeout 40m ./...

lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

$(GOLANGCI):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
	mv $(TOOLS)/golangci-lint $(GOLANGCI)

# Benchmarks that compare side by side in one run (ratios); see README.
bench: controlplane
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) test ./internal/drain -run '^$$' -bench 'DrainVersusKubectl|Drain110Pods' -benchtime 2x -timeout 60m

# The agent binary against the AWS emulator: start-up, detection, 100-pod drain, peak RSS.
bench-agent: controlplane
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) test ./internal/cli -run '^$$' -bench AgentSpot100Pods -benchtime 3x -timeout 30m

# Queue mode: 1000 kwok nodes, 200 interruption messages at once.
bench-queue: controlplane
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) test ./internal/queue/ -run '^$$' -bench InterruptionBurst -benchtime 1x -timeout 30m

clean:
	rm -rf bin dist

# The end-to-end demo on a local control plane (see hack/demo).
demo: controlplane
	LIFEBOAT_CONTROLPLANE_DIR=$(CONTROLPLANE) $(GO) run ./hack/demo
