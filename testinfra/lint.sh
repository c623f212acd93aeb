#!/usr/bin/env bash
# make lint: gofmt, go vet, golangci-lint (errcheck, govet, staticcheck, revive,
# unused, bodyclose, depguard; .golangci.yml) and a dead-code check, each at a
# pinned version from the Go module proxy (built into the Go build cache on
# first use: about 5 minutes on 2 cores, seconds after).
set -euo pipefail
cd "$(dirname "$0")/.."
GOLANGCI_VERSION=${GOLANGCI_VERSION:-v2.15.0}
DEADCODE_VERSION=${DEADCODE_VERSION:-v0.52.0}
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "$unformatted"
  echo "gofmt: the files above are not formatted (run gofmt -w on them)" >&2
  exit 1
fi
echo "== go vet"
go vet ./...
echo "== golangci-lint $GOLANGCI_VERSION"
go run "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_VERSION}" run ./...
echo "== deadcode $DEADCODE_VERSION (functions no command reaches)"
# -test counts what tests reach as used only for test files: a production
# function that only tests call is dead and reported.
out=$(go run "golang.org/x/tools/cmd/deadcode@${DEADCODE_VERSION}" ./cmd/... ./bench/...)
if [ -n "$out" ]; then
  echo "$out"
  echo "deadcode: the functions above are reached by no command (delete them, or give them their production caller)" >&2
  exit 1
fi
echo "no dead code"
