#!/usr/bin/env bash
# make test: start the local stack servers that are not running, vet and
# lint, run every test (integration tests included) with the race detector,
# and stop again the servers this script started. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tools module first: it needs no server (the image, the Helm chart, the
# packaging files; make tools-test).
echo "== tools module: vet, staticcheck, the image, chart and packaging tests"
make -s tools-test

started=()
status=$(testinfra/stack.sh status 2>/dev/null || true)
for server in cassandra opensearch; do
  if ! grep -q "^${server} *running" <<<"$status"; then
    started+=("$server")
  fi
done
cleanup() {
  rc=$?
  if [ -z "${KEEP_STACK:-}" ]; then
    for server in "${started[@]}"; do
      testinfra/stack.sh down "$server" || true
    done
  fi
  exit "$rc"
}
trap cleanup EXIT
if [ "${#started[@]}" -gt 0 ]; then
  testinfra/stack.sh up
fi

eval "$(testinfra/stack.sh env)"
testinfra/lint.sh
echo "== go test -race (Cassandra ${INDEXSYNC_TEST_CASSANDRA}, search ${INDEXSYNC_TEST_SEARCH_URL})"
go test -race -count=1 -timeout 60m ${GOTESTFLAGS:-} ./...
