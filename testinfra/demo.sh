#!/usr/bin/env bash
# make demo: start the local stack, create the Sunbird schema, write a
# synthetic data set, and show what is where. DEMO_USERS sets the size.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/indexsync
USERS=${DEMO_USERS:-20000}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting Cassandra 5.0 and OpenSearch 2.19 (testinfra/stack.sh up)"
testinfra/stack.sh up
eval "$(testinfra/stack.sh env)"
export INDEXSYNC_CASSANDRA_USERNAME="$INDEXSYNC_TEST_CASSANDRA_USERNAME"
export INDEXSYNC_CASSANDRA_PASSWORD="$INDEXSYNC_TEST_CASSANDRA_PASSWORD"
export INDEXSYNC_CASSANDRA_HOSTS="${INDEXSYNC_TEST_CASSANDRA%:*}"
export INDEXSYNC_CASSANDRA_PORT="${INDEXSYNC_TEST_CASSANDRA##*:}"
export INDEXSYNC_SEARCH_URL="$INDEXSYNC_TEST_SEARCH_URL"
export INDEXSYNC_KEYSPACE="${DEMO_KEYSPACE:-sunbird}"

step "Creating keyspace, tables and indexes (indexsync schema)"
$BIN schema --index-replicas 0

step "Writing $USERS synthetic Sunbird users (indexsync seed)"
$BIN seed --users "$USERS"

step "What the index holds before a sync"
for alias in user_alias org_alias location; do
  printf '  %-12s %s documents\n' "$alias" "$(curl -fsS "$INDEXSYNC_SEARCH_URL/$alias/_count" | sed -E 's/.*"count":([0-9]+).*/\1/')"
done

step "Next"
cat <<TXT
  The stack keeps running (make stack-down stops it). Try:
    export INDEXSYNC_CASSANDRA_USERNAME=cassandra INDEXSYNC_CASSANDRA_PASSWORD=cassandra
    bin/indexsync serve --insecure-no-auth --listen 127.0.0.1:9000 &
    curl -s -XPOST localhost:9000/v1/data/sync -d '{"request":{"objectType":"location","objectIds":["…"],"operationType":"sync"}}'
TXT
