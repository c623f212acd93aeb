# indexsync — build, test and run against a local Cassandra + OpenSearch.
# Every target works on a fresh machine: the stack scripts resolve the server
# jars from Maven Central on first use and Go fetches modules from the proxy.

SHELL := /bin/bash
GO ?= go
BIN := bin/indexsync
STACK := testinfra/stack.sh
# ENGINE picks the search engine of the stack-* targets (stack.sh's
# STACK_ENGINE): opensearch-2.19 (default), elasticsearch-6.8,
# elasticsearch-7.17, elasticsearch-8. Each has its own ports and work dir.
ENGINE ?=
STACK_ENV := $(if $(ENGINE),STACK_ENGINE=$(ENGINE) )
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/indexsync/indexsync/internal/buildinfo.Version=$(VERSION) \
           -X github.com/indexsync/indexsync/internal/buildinfo.Commit=$(COMMIT)

.PHONY: build test unit lint demo bench stack-up stack-down stack-status clean dist image \
        tools-test image-test chart-test manifests licenses

# Release tools, pinned as Go tools in modules of their own (tools/go.mod,
# tools/goreleaser/go.mod) so the product's go.mod never sees their
# dependencies. The first use builds them into the Go build cache.
GORELEASER := $(GO) tool -modfile=tools/goreleaser/go.mod goreleaser
# The version without its v, as archive and package names carry it.
DIST_VERSION := $(patsubst v%,%,$(VERSION))
COMMIT_TIME ?= $(shell git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
KV_VENV ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/indexsync/kubernetes-validate-$(shell sha256sum tools/chart/requirements.txt | cut -c1-12)
KUBERNETES_VALIDATE := $(KV_VENV)/bin/kubernetes-validate
# GoReleaser reads the commit (and its time, the files' mtime) only from a
# repository with a remote, whose URL it asks for; without one it stamps
# "none" and time zero. A clone without a remote gives its own path.
DIST_GIT_ENV := $(if $(shell git remote 2>/dev/null),,GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=$(CURDIR))

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/indexsync

# make test: start the stack unless it already runs, lint, run every test
# (integration tests included) with the race detector, and stop the stack again
# if this target started it.
test:
	@testinfra/run-tests.sh

# unit: the tests that need no server (integration tests skip without the
# stack's addresses in the environment).
unit:
	$(GO) vet ./...
	$(GO) test -race ./...

# lint: go vet, golangci-lint (.golangci.yml: errcheck, govet, staticcheck,
# revive, unused, bodyclose, depguard for the layering) and a dead-code check.
lint:
	@testinfra/lint.sh
	cd tools && $(GO) vet ./...
	@testinfra/staticcheck.sh tools

# demo: ENGINE=elasticsearch-6.8 (or another engine) runs it on that engine.
demo: build
	@$(STACK_ENV)testinfra/demo.sh

# bench: measure indexsync run against the ceilings of this machine on the
# local stack (started if needed, stopped again if this target started it):
# prints a table and writes bench/results.json. BENCH_* variables change the
# sizes and settings (bench/README.md). About 10 minutes.
bench: build
	$(GO) build -o bench/out/bench ./bench
	bench/out/bench

stack-up:
	@$(STACK_ENV)$(STACK) up

stack-down:
	@$(STACK_ENV)$(STACK) down

stack-status:
	@$(STACK_ENV)$(STACK) status

# dist: the release archives (linux amd64/arm64, darwin arm64), SHA256SUMS,
# and the .deb and .rpm packages, into dist/ (.goreleaser.yaml). A snapshot:
# offline, nothing published. On a release tag, run
# `$(GORELEASER) release --clean` instead (README, "Releasing").
dist:
	$(DIST_GIT_ENV) $(GORELEASER) release --snapshot --clean
	@cd dist && ls -l *.tar.gz *.deb *.rpm SHA256SUMS && cat SHA256SUMS

# image: the container image, built without a Docker daemon, as an OCI
# archive dist/indexsync_<version>_oci.tar holding one image per platform
# of IMAGE_PLATFORMS (tools/ociimage; the Dockerfile builds the same).
image:
	@mkdir -p dist/image
	@set -e; for p in $(IMAGE_PLATFORMS); do \
	  echo "go build $$p"; \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath \
	    -ldflags '-s -w $(LDFLAGS)' -o dist/image/$${p%/*}_$${p#*/}/indexsync ./cmd/indexsync; \
	done
	$(GO) -C tools run ./ociimage -out $(CURDIR)/dist/indexsync_$(DIST_VERSION)_oci.tar \
	  -version $(VERSION) -commit $(COMMIT) -created $(COMMIT_TIME) -license $(CURDIR)/LICENSE -notices $(CURDIR)/THIRD_PARTY_LICENSES \
	  $(foreach p,$(IMAGE_PLATFORMS),-binary $(p)=$(CURDIR)/dist/image/$(subst /,_,$(p))/indexsync)

# tools-test: vet, staticcheck and every test of the tools module: the image
# (built, unpacked and run), the Helm chart (lint, render, Kubernetes schemas),
# the packaging files (systemd-analyze, .goreleaser.yaml). No server needed;
# make test runs it after lint, while the servers start.
tools-test: $(KUBERNETES_VALIDATE)
	cd tools && $(GO) vet ./...
	testinfra/staticcheck.sh tools
	cd tools && KUBERNETES_VALIDATE=$(KUBERNETES_VALIDATE) $(GO) test -count=1 ./...

# image-test: build the image, unpack it, run the binary from it (verbose).
image-test:
	cd tools && $(GO) test -count=1 -v -run 'TestImage|TestDockerfile' ./ociimage/

# chart-test: helm lint, the chart rendered with the default and the Sunbird
# values, every object validated against the Kubernetes schemas, and the
# checks of tools/chart (verbose).
chart-test: $(KUBERNETES_VALIDATE)
	cd tools && KUBERNETES_VALIDATE=$(KUBERNETES_VALIDATE) $(GO) test -count=1 -v ./chart/

# licenses: write THIRD_PARTY_LICENSES, the license texts of the Go standard
# library and every module in the binary (tools-test fails when it is stale).
licenses:
	cd tools && $(GO) test -count=1 -run TestThirdPartyLicenses ./licenses/ -update

# manifests: render deploy/kubernetes/*.yaml from the chart
# (deploy/kubernetes/values.yaml); chart-test fails when they are stale.
manifests:
	cd tools && $(GO) test -count=1 -run TestKubernetesManifests ./chart/ -update

# kubernetes-validate, which ships the Kubernetes JSON schemas, from PyPI at
# the versions of tools/chart/requirements.txt, in a venv under the cache
# (a new one when the pins change).
$(KUBERNETES_VALIDATE): tools/chart/requirements.txt
	python3 -m venv $(KV_VENV)
	$(KV_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/chart/requirements.txt

clean:
	rm -rf bin dist
