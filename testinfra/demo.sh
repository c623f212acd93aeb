#!/usr/bin/env bash
# make demo: start the local Cassandra and a search engine, write a synthetic
# Sunbird data set, sync it both ways (straight to the index, and through the
# Sync API with the old job's command line), verify, and say what happened.
# DEMO_USERS sets the size (default 20000); STACK_ENGINE the engine
# (`make demo ENGINE=elasticsearch-6.8`; default opensearch-2.19).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin/indexsync
USERS=${DEMO_USERS:-20000}
ENGINE=${STACK_ENGINE:-opensearch-2.19}
export STACK_ENGINE=$ENGINE
STATE=${STACK_DIR:-$PWD/.stack}/demo
PORT=${DEMO_API_PORT:-9000}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# count refreshes first: a count straight after a run may not see its last second (refresh_interval 1s)
count() { curl -fsS -XPOST "$INDEXSYNC_SEARCH_URL/$1/_refresh" >/dev/null && curl -fsS "$INDEXSYNC_SEARCH_URL/$1/_count" | sed -E 's/.*"count":([0-9]+).*/\1/'; }

step "Starting Cassandra 5.0 and $ENGINE (STACK_ENGINE=$ENGINE testinfra/stack.sh up)"
testinfra/stack.sh up
eval "$(testinfra/stack.sh env)"
echo "  $ENGINE at $INDEXSYNC_TEST_SEARCH_URL: $(curl -fsS "$INDEXSYNC_TEST_SEARCH_URL/" | python3 -c 'import json,sys; v=json.load(sys.stdin)["version"]; print(("OpenSearch " if v.get("distribution") == "opensearch" else "Elasticsearch ") + v["number"])')"
export INDEXSYNC_CASSANDRA_USERNAME="$INDEXSYNC_TEST_CASSANDRA_USERNAME"
export INDEXSYNC_CASSANDRA_PASSWORD="$INDEXSYNC_TEST_CASSANDRA_PASSWORD"
export INDEXSYNC_CASSANDRA_HOSTS="${INDEXSYNC_TEST_CASSANDRA%:*}"
export INDEXSYNC_CASSANDRA_PORT="${INDEXSYNC_TEST_CASSANDRA##*:}"
export INDEXSYNC_SEARCH_URL="$INDEXSYNC_TEST_SEARCH_URL"
rm -rf "$STATE" && mkdir -p "$STATE/search" "$STATE/api" "$STATE/verify"

step "Creating keyspace sunbird, its tables, and the indexes behind user_alias, org_alias, location"
"$BIN" schema --index-replicas 0

step "Writing $USERS synthetic Sunbird users (indexsync seed)"
"$BIN" seed --users "$USERS"
echo "  user_alias holds $(count user_alias) documents before the sync"

step "Direct sync: indexsync run --target search (rebuilds into a fresh index, swaps the alias)"
"$BIN" run --target search --rebuild --delete-old --state-dir "$STATE/search" --progress never 2>&1 | grep -v '^time=' || true
"$BIN" run --target search --object-type organisation --state-dir "$STATE/search-org" --progress never >/dev/null 2>&1
"$BIN" run --target search --object-type location --state-dir "$STATE/search-loc" --progress never >/dev/null 2>&1
echo "  user_alias $(count user_alias), org_alias $(count org_alias), location $(count location) documents"

step "Sunbird's own searches on the indexes (they filter and sort on <field>.raw only)"
hits() { curl -fsS -H 'Content-Type: application/json' "$INDEXSYNC_SEARCH_URL/$1/_count" -d "$2" | sed -E 's/.*"count":([0-9]+).*/\1/'; }
echo "  users with status.raw = 1:                     $(hits user_alias '{"query":{"bool":{"filter":[{"term":{"status.raw":1}}]}}}')"
echo "  users with roles.role.raw = public:            $(hits user_alias '{"query":{"bool":{"filter":[{"term":{"roles.role.raw":"public"}}]}}}')"
echo "  tenants by channel.raw + isTenant.raw:         $(hits org_alias '{"query":{"bool":{"filter":[{"term":{"channel.raw":"channel_0"}},{"term":{"isTenant.raw":true}}]}}}')"
echo "  districts by type.raw, sorted by name.raw:     $(curl -fsS -H 'Content-Type: application/json' "$INDEXSYNC_SEARCH_URL/location/_search?filter_path=hits.hits._source.name" \
  -d '{"size":3,"query":{"bool":{"filter":[{"term":{"type.raw":"district"}}]}},"sort":[{"name.raw":"asc"}]}' | grep -o '"name":"[^"]*"' | cut -d'"' -f4 | paste -sd, -), …"
echo "  an organisation document as Sunbird writes it (organisationSubType, isSchool/isBoard from orgTypeConfig, the null defaults):"
curl -fsS -H 'Content-Type: application/json' "$INDEXSYNC_SEARCH_URL/org_alias/_search?size=1" \
  -d '{"query":{"bool":{"filter":[{"term":{"organisationType.raw":2}}]}}}' |
  python3 -c 'import json,sys; d=json.load(sys.stdin)["hits"]["hits"][0]["_source"]; d.pop("keys",None); print(json.dumps(d,sort_keys=True,ensure_ascii=False))' |
  fold -s -w 100 | sed 's/^/    /'

step "The Sync API: indexsync serve on 127.0.0.1:$PORT, and the old job's command line (UserSync_run.sh)"
KEY=demo-key-$RANDOM$RANDOM
ADMIN=127.0.0.1:$((PORT + 1))
INDEXSYNC_API_KEYS=$KEY "$BIN" serve --listen "127.0.0.1:$PORT" --admin-listen "$ADMIN" --state-dir "$STATE/api" --log-format json >"$STATE/api/serve.log" 2>&1 &
SERVE=$!
trap 'kill -TERM $SERVE 2>/dev/null || true; wait $SERVE 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
echo "  GET /health: $(curl -fsS "127.0.0.1:$PORT/health")    (admin address $ADMIN/health: $(curl -fsS "$ADMIN/health"))"
(cd "$STATE/api" && INDEXSYNC_BIN=$BIN "$OLDPWD/UserSync_run.sh" \
  --context_param sunbird_cassandra_server="$INDEXSYNC_CASSANDRA_HOSTS" \
  --context_param sunbird_cassandra_port="$INDEXSYNC_CASSANDRA_PORT" \
  --context_param sunbird_cassandra_username="$INDEXSYNC_CASSANDRA_USERNAME" \
  --context_param sunbird_cassandra_password="$INDEXSYNC_CASSANDRA_PASSWORD" \
  --context_param sunbird_user_sync_api_endpoint="http://127.0.0.1:$PORT/api/data/v1/index/sync" \
  --context_param sunbird_user_sync_api_key="$KEY" \
  --context_param sunbird_user_sync_block_size="100" \
  --context_param sunbird_user_sync_sleep_time="1" \
  --concurrency 4 --progress never 2>&1) | grep -v '^Sync API call done' | grep -v '^time=' || true
echo "  (the 'Sync API call done for x/N records...' lines are left out here; one per call)"
echo "  the files it wrote, in the old job's format:"
ls -1 "$STATE/api" | sed 's/^/    /'
echo "  a record of the success log:"
head -4 "$STATE"/api/userSyncSuccess_*.log | cut -c1-160 | sed 's/^/    /'

step "Verify: does the index match Cassandra? (indexsync verify)"
"$BIN" verify --state-dir "$STATE/verify" --progress never 2>&1 | grep -v '^time=' || true

step "Done"
cat <<TXT
  Cassandra and $ENGINE keep running: make stack-down ENGINE=$ENGINE stops them.
  Files of this demo: $STATE
  Try: bin/indexsync run --help, bin/indexsync verify --repair --search-url $INDEXSYNC_SEARCH_URL,
       curl '$INDEXSYNC_SEARCH_URL/user_alias/_search?q=firstName:ana'
TXT
