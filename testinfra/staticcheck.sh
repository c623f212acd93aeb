#!/usr/bin/env bash
# Runs staticcheck at a pinned version, installed from the Go module proxy
# into the Go build cache on first use, over the module in the directory given
# (relative to the repository root; default: the product's module).
set -euo pipefail
cd "$(dirname "$0")/.."
cd "${1:-.}"
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" ./...
