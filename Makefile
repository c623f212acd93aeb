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

.PHONY: build test unit lint demo bench stack-up stack-down stack-status clean

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

clean:
	rm -rf bin
