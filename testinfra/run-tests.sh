#!/usr/bin/env bash
# make test: start the local stack servers that are not running, vet and
# lint, run every test (integration tests included) with the race detector,
# and stop again the servers this script started. CI runs exactly this.
#
# Besides Cassandra and the engine: the three-node Cassandra cluster and the
# https Elasticsearch (search-tls) that the cluster and TLS tests need. They
# start in the background while lint runs (about 1.5 minutes, 3 × 1.2 GiB and
# 0.4 GiB RSS); TEST_CLUSTER=0 leaves them out (their tests then skip, or
# fail under CI).
set -euo pipefail
cd "$(dirname "$0")/.."

started=()
status=$(testinfra/stack.sh status 2>/dev/null || true)
for server in cassandra opensearch; do
  if ! grep -q "^${server} *running" <<<"$status"; then
    started+=("$server")
  fi
done
extra=()
if [ "${TEST_CLUSTER:-1}" != 0 ]; then
  grep -q "^search-tls *running" <<<"$status" || extra+=(search-tls)
  for node in cluster-1 cluster-2 cluster-3; do
    if ! grep -q "^${node} *running" <<<"$status"; then
      extra+=(cluster)
      break
    fi
  done
fi
bg=""
cleanup() {
  rc=$?
  if [ -n "$bg" ]; then wait "$bg" 2>/dev/null || true; fi
  if [ -z "${KEEP_STACK:-}" ]; then
    for server in "${started[@]}" "${extra[@]}"; do
      testinfra/stack.sh down "$server" || true
    done
  fi
  exit "$rc"
}
trap cleanup EXIT
if [ "${#started[@]}" -gt 0 ]; then
  testinfra/stack.sh up
fi
extra_log=$(mktemp)
if [ "${#extra[@]}" -gt 0 ]; then
  echo "== starting ${extra[*]} in the background (log: $extra_log)"
  (
    t0=$SECONDS
    for server in "${extra[@]}"; do testinfra/stack.sh up "$server"; done
    echo "stack: ${extra[*]} ready after $((SECONDS - t0)) s"
  ) >"$extra_log" 2>&1 &
  bg=$!
fi

testinfra/lint.sh
if [ -n "$bg" ]; then
  echo "== waiting for ${extra[*]}"
  waited=$SECONDS
  if ! wait "$bg"; then
    bg=""
    cat "$extra_log"
    echo "run-tests: could not start ${extra[*]} (TEST_CLUSTER=0 leaves them out)" >&2
    exit 1
  fi
  bg=""
  tail -n 4 "$extra_log"
  echo "(waited $((SECONDS - waited)) s after lint)"
fi
rm -f "$extra_log"

eval "$(testinfra/stack.sh env)"
echo "== go test -race (Cassandra ${INDEXSYNC_TEST_CASSANDRA}, search ${INDEXSYNC_TEST_SEARCH_URL}, cluster ${INDEXSYNC_TEST_CLUSTER:-none}, https search ${INDEXSYNC_TEST_SEARCH_TLS_URL:-none})"
go test -race -count=1 -timeout 60m ${GOTESTFLAGS:-} ./...
