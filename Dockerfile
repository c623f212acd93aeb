# syntax=docker/dockerfile:1
# The indexsync container image, for those who build with Docker:
#
#   docker build -t indexsync:$(git describe --tags --always) \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse --short HEAD) \
#     --build-arg CREATED=$(git log -1 --format=%cI) .
#
# A static binary on distroless (CA certificates, /etc/passwd with the user
# nonroot 65532, no shell), run as 65532 with /state as its working and state
# directory. `make image` builds the same image without a Docker daemon
# (tools/ociimage; tools/ociimage/image_test.go checks that the two agree).
# UserSync_run.sh is not in the image: it needs a shell; in Kubernetes, use the
# Helm chart's Job, which gives indexsync its flags directly.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY internal ./internal
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/indexsync/indexsync/internal/buildinfo.Version=${VERSION} -X github.com/indexsync/indexsync/internal/buildinfo.Commit=${COMMIT}" \
      -o /out/indexsync ./cmd/indexsync \
 && mkdir /out/state

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
ARG CREATED
COPY --from=build /out/indexsync /usr/local/bin/indexsync
COPY --from=build --chown=65532:65532 /out/state /state
COPY LICENSE /usr/share/doc/indexsync/LICENSE
COPY THIRD_PARTY_LICENSES /usr/share/doc/indexsync/THIRD_PARTY_LICENSES
USER 65532:65532
WORKDIR /state
EXPOSE 9000
ENTRYPOINT ["/usr/local/bin/indexsync"]
LABEL org.opencontainers.image.title=indexsync \
      org.opencontainers.image.description="Keeps a Sunbird search index (Elasticsearch/OpenSearch) in step with Cassandra" \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.revision=${COMMIT} \
      org.opencontainers.image.created=${CREATED} \
      org.opencontainers.image.licenses=Apache-2.0 \
      org.opencontainers.image.base.name=gcr.io/distroless/static-debian12:nonroot
