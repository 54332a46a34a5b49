# syntax=docker/dockerfile:1
# lifeboat's container image: a static binary on distroless, as user 65532.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t lifeboat .
# Without a Docker engine, .ko.yaml builds the same image with ko (see docs/INSTALL.md); the node
# agent's image (lifeboat-agent, ./cmd/lifeboat-agent with -tags lifeboat_agent) is built with ko only.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/lifeboat-dev/lifeboat/internal/version.Version=${VERSION}" \
      -o /out/lifeboat ./cmd/lifeboat

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/lifeboat /usr/local/bin/lifeboat
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/lifeboat"]
