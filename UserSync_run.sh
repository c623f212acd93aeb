#!/usr/bin/env bash
# UserSync_run.sh — a drop-in for Sunbird's user sync job. It takes the old
# job's arguments unchanged:
#
#   UserSync_run.sh --context_param sunbird_cassandra_server="10.0.0.5" \
#     --context_param sunbird_cassandra_port="9042" \
#     --context_param sunbird_cassandra_username="cassandra" \
#     --context_param sunbird_cassandra_password="…" \
#     --context_param sunbird_user_sync_api_endpoint="https://host/api/data/v1/index/sync" \
#     --context_param sunbird_user_sync_api_key="…" \
#     --context_param sunbird_user_sync_block_size="100" \
#     --context_param sunbird_user_sync_sleep_time="10000"
#
# and runs `indexsync run --target api` with them. The Cassandra password and
# the API key are moved from the arguments into the environment before the
# exec, so they never appear in the process list of indexsync. Other indexsync
# flags may follow (e.g. --state-dir, --resume, --concurrency).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${INDEXSYNC_BIN:-}
if [ -z "$bin" ]; then
  if [ -x "$here/bin/indexsync" ]; then
    bin=$here/bin/indexsync
  elif [ -x "$here/indexsync" ]; then
    bin=$here/indexsync # beside it, as in a release archive
  elif command -v indexsync >/dev/null 2>&1; then
    bin=$(command -v indexsync)
  else
    echo "UserSync_run.sh: indexsync not found: run 'make build' or set INDEXSYNC_BIN" >&2
    exit 2
  fi
fi

args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --context_param)
      if [ $# -lt 2 ]; then
        echo "UserSync_run.sh: --context_param needs name=value" >&2
        exit 2
      fi
      kv=$2
      shift 2
      ;;
    --context_param=*)
      kv=${1#--context_param=}
      shift
      ;;
    *)
      args+=("$1")
      shift
      continue
      ;;
  esac
  name=${kv%%=*}
  value=${kv#*=}
  # one pair of surrounding quotes is not part of the value
  case "$value" in
    \"*\") value=${value#\"}; value=${value%\"} ;;
  esac
  case "$name" in
    sunbird_cassandra_password) export INDEXSYNC_CASSANDRA_PASSWORD="$value" ;;
    sunbird_user_sync_api_key) export INDEXSYNC_API_KEY="$value" ;;
    *) args+=(--context_param "$name=$value") ;;
  esac
done

exec "$bin" run --target api "${args[@]}"
