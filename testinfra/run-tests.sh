#!/usr/bin/env bash
# make test: start the local stack servers that are not running — Cassandra
# and every search engine the suites need —, vet and lint, run the tests with
# the race detector, and stop again the servers this script started. CI runs
# exactly this (.ci/run).
#
# The suites (README "Tests"):
#   whole suite   go test ./... on each engine of TEST_FULL_ENGINES
#                 (default: OpenSearch 2.19, Elasticsearch 6.8 — what Sunbird
#                 runs); the first pass also runs the TestEngines… tests,
#                 which compare every engine of the stack with each other
#   conformance   TestConformance, TestRebuildKeepsSunbirdQueries and
#                 TestBuiltinMatchesSunbird on each engine of
#                 TEST_CONFORMANCE_ENGINES (default: Elasticsearch 7.17, 8.x)
#
# Besides Cassandra and the engines: the three-node Cassandra cluster and the
# https Elasticsearch (search-tls) that the cluster and TLS tests need (3 ×
# 1.2 GiB and 0.4 GiB RSS); they run in the first whole-suite pass only.
# TEST_CLUSTER=0 leaves them out (their tests then skip, or fail under CI).
#
# KEEP_STACK=1 leaves the servers running; GOTESTFLAGS adds go test flags.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0

TEST_FULL_ENGINES=${TEST_FULL_ENGINES-opensearch-2.19 elasticsearch-6.8}
TEST_CONFORMANCE_ENGINES=${TEST_CONFORMANCE_ENGINES-elasticsearch-7.17 elasticsearch-8}
CONFORMANCE_RUN='^(TestConformance|TestRebuildKeepsSunbirdQueries|TestBuiltinMatchesSunbird)$'
CONFORMANCE_PKGS=(./cmd/indexsync ./internal/schema)
read -ra full <<<"$TEST_FULL_ENGINES"
read -ra conformance <<<"$TEST_CONFORMANCE_ENGINES"
engines=("${full[@]}" "${conformance[@]}")
((${#full[@]} + ${#conformance[@]} > 0)) || { echo "run-tests: no engine to test on" >&2; exit 2; }

server_of() { [[ $1 == opensearch-* ]] && echo opensearch || echo "$1"; }

# What runs already is left alone, what this script starts it stops.
started=()
status=$(testinfra/stack.sh status 2>/dev/null || true)
grep -q '^cassandra *running' <<<"$status" || started+=(cassandra)
for e in "${engines[@]}"; do
  s=$(server_of "$e")
  if ! grep -q "^$s *running" <<<"$(STACK_ENGINE=$e testinfra/stack.sh status 2>/dev/null || true)"; then
    started+=("$e")
  fi
done
if [[ ${TEST_CLUSTER:-1} != 0 ]]; then
  grep -q '^search-tls *running' <<<"$status" || started+=(search-tls)
  for node in cluster-1 cluster-2 cluster-3; do
    if ! grep -q "^$node *running" <<<"$status"; then
      started+=(cluster)
      break
    fi
  done
fi
# The tests that need the cluster or the https engine (first pass only).
CLUSTER_TESTS='TestVerifyDeleteOrphansRechecksAtQuorum|TestRunNodeStoppedMidScan|TestTLSEverySide|TestScanSpreadsOverTheCluster|TestEstimateAsksEveryNode'
upper=
cleanup() {
  rc=$?
  # a start under way finishes first (stack.sh would wait for its lock anyway)
  if [[ -n $upper ]]; then wait "$upper" 2>/dev/null || true; fi
  if [[ -z ${KEEP_STACK:-} ]]; then
    for s in "${started[@]}"; do
      if [[ $s == cassandra || $s == cluster || $s == search-tls ]]; then
        testinfra/stack.sh down "$s" || true
      else
        STACK_ENGINE=$s testinfra/stack.sh down search || true
      fi
    done
  fi
  exit "$rc"
}
trap cleanup EXIT

# Start the servers while lint runs: the first start downloads and unpacks
# (network and disk), lint compiles (CPU). One stack.sh at a time (it locks
# STACK_DIR); Cassandra comes up with the first engine.
stack_dir=${STACK_DIR:-.stack}
mkdir -p "$stack_dir"
uplog=$stack_dir/run-tests-up.log
if ((${#started[@]} > 0)); then
  echo "== starting ${started[*]} in the background (log: $uplog)"
  (
    for e in "${engines[@]}"; do # up is a no-op for what runs
      STACK_ENGINE=$e testinfra/stack.sh up
    done
    for s in "${started[@]}"; do
      if [[ $s == cluster || $s == search-tls ]]; then testinfra/stack.sh up "$s"; fi
    done
  ) >"$uplog" 2>&1 &
  upper=$!
fi

lint_start=$SECONDS
testinfra/lint.sh
# The tools module needs no server (the image, the Helm chart, the packaging
# files; make tools-test).
echo "== tools module: vet, staticcheck, the image, chart and packaging tests"
make -s tools-test
lint_time=$((SECONDS - lint_start))

wait_time=0
if [[ -n $upper ]]; then
  echo "== waiting for the servers"
  wait_start=$SECONDS
  if ! wait "$upper"; then
    upper=
    cat "$uplog" >&2
    echo "run-tests: a server did not start (above); nothing was tested" >&2
    exit 1
  fi
  upper=
  wait_time=$((SECONDS - wait_start))
  grep -E 'ready|running' "$uplog" || true
fi

# INDEXSYNC_TEST_ENGINES: every engine, for the TestEngines… tests.
all=""
for e in "${engines[@]}"; do
  all+="$e=$(STACK_ENGINE=$e testinfra/stack.sh env | sed -n 's/^export INDEXSYNC_TEST_SEARCH_URL=//p') "
done
export INDEXSYNC_TEST_ENGINES=${all% }

# Every pass runs, even after one failed, so one CI run shows every engine.
summary=()
failed=0
pass() { # pass LABEL ENGINE go-test-args…
  local label=$1 e=$2 start=$SECONDS result=ok
  shift 2
  eval "$(STACK_ENGINE=$e testinfra/stack.sh env)"
  echo
  echo "== $label on $e (Cassandra $INDEXSYNC_TEST_CASSANDRA, search $INDEXSYNC_TEST_SEARCH_URL)"
  # shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
  if ! go test -race -count=1 -timeout 60m ${GOTESTFLAGS:-} "$@"; then
    result=FAIL
    failed=1
  fi
  summary+=("$(printf '%-12s %-20s %5d s  %s' "$label" "$e" $((SECONDS - start)) "$result")")
}

first=1
for e in "${full[@]}"; do
  if ((first)); then
    pass "whole suite" "$e" ./...
    first=0
  else
    # the TestEngines… tests compared every engine in the first pass, which
    # also ran the cluster and TLS tests
    pass "whole suite" "$e" -skip "^(TestEngines.*|$CLUSTER_TESTS)\$" ./...
  fi
done
for e in "${conformance[@]}"; do
  pass conformance "$e" -run "$CONFORMANCE_RUN" "${CONFORMANCE_PKGS[@]}"
done

echo
echo "== make test: lint and tools $lint_time s, then $wait_time s more waiting for the servers; the suites:"
printf '   %s\n' "${summary[@]}"
echo "   total $SECONDS s"
exit "$failed"
