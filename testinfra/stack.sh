#!/usr/bin/env bash
# Local test stack for indexsync: Apache Cassandra 5.0 and OpenSearch 2.19 run
# as plain JDK 17 processes from Maven Central artifacts (no Docker).
#
#   testinfra/stack.sh up     [cassandra|opensearch]   start (idempotent), wait until ready
#   testinfra/stack.sh down   [cassandra|opensearch]   SIGTERM the recorded pid, SIGKILL after 30 s
#   testinfra/stack.sh status                          exit 0 iff both run and answer
#   testinfra/stack.sh env                             export lines for the integration tests
#   testinfra/stack.sh logs   cassandra|opensearch [N] last N (100) lines of the server log
#   testinfra/stack.sh prepare                         only resolve the jars and compile the helpers
#
# See testinfra/README.md for the details and the environment overrides.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

STACK_DIR=${STACK_DIR:-$REPO/.stack}
STACK_CASSANDRA_PORT=${STACK_CASSANDRA_PORT:-9042}
STACK_CASSANDRA_STORAGE_PORT=${STACK_CASSANDRA_STORAGE_PORT:-7010}
STACK_SEARCH_PORT=${STACK_SEARCH_PORT:-9200}
STACK_SEARCH_TRANSPORT_PORT=${STACK_SEARCH_TRANSPORT_PORT:-9300}
STACK_CASSANDRA_HEAP=${STACK_CASSANDRA_HEAP:-1g}
STACK_SEARCH_HEAP=${STACK_SEARCH_HEAP:-1g}
STACK_READY_TIMEOUT=${STACK_READY_TIMEOUT:-180}
# Extra arguments for every mvn call, e.g. -Dmaven.repo.local=/tmp/m2 (optional).
STACK_MVN_ARGS=${STACK_MVN_ARGS:-}

CASSANDRA_USER=cassandra
CASSANDRA_PASSWORD=cassandra
ALL_SERVERS=(cassandra opensearch)
CACHE_DIR=$STACK_DIR/cache

# ---------------------------------------------------------------- helpers

log() { printf 'stack: %s\n' "$*"; }
err() { printf 'stack: error: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

usage() { # usage [EXIT_CODE]
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit "${1:-2}"
}

validate_settings() {
  local v
  for v in STACK_CASSANDRA_PORT STACK_CASSANDRA_STORAGE_PORT STACK_SEARCH_PORT \
           STACK_SEARCH_TRANSPORT_PORT STACK_READY_TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v} is not a number"
  done
  for v in STACK_CASSANDRA_HEAP STACK_SEARCH_HEAP; do
    [[ ${!v} =~ ^[0-9]+[kKmMgG]$ ]] || die "$v=${!v} is not a JVM size like 512m or 1g"
  done
  case "$STACK_DIR" in /*) ;; *) STACK_DIR=$(pwd)/$STACK_DIR; CACHE_DIR=$STACK_DIR/cache ;; esac
}

# heap_mib 1g -> 1024
heap_mib() {
  local n=${1%[kKmMgG]} u=${1: -1}
  case $u in k|K) echo $((n / 1024)) ;; m|M) echo "$n" ;; g|G) echo $((n * 1024)) ;; esac
}

workdir() { echo "$STACK_DIR/$1"; }
pidfile() { echo "$STACK_DIR/$1/server.pid"; }
port_of() {
  case $1 in
    cassandra) echo "$STACK_CASSANDRA_PORT" ;;
    opensearch) echo "$STACK_SEARCH_PORT" ;;
  esac
}
ports_of() {
  case $1 in
    cassandra) echo "$STACK_CASSANDRA_PORT $STACK_CASSANDRA_STORAGE_PORT" ;;
    opensearch) echo "$STACK_SEARCH_PORT $STACK_SEARCH_TRANSPORT_PORT" ;;
  esac
}
logfile() {
  case $1 in
    cassandra) echo "$STACK_DIR/cassandra/logs/system.log" ;;
    opensearch) echo "$STACK_DIR/opensearch/logs/opensearch.log" ;;
  esac
}
consolefile() { echo "$STACK_DIR/$1/logs/console.log"; }

check_server_name() {
  case ${1:-} in
    cassandra|opensearch) ;;
    *) die "unknown server '${1:-}': use cassandra or opensearch" ;;
  esac
}

# Every server JVM carries -Dindexsync.stack=<server>:<STACK_DIR>; the pid
# file is trusted only if the live process has it (guards against pid reuse).
marker() { echo "-Dindexsync.stack=$1:$STACK_DIR"; }

# Prints the recorded pid if that process is alive and is our server.
live_pid() {
  local pf pid
  pf=$(pidfile "$1")
  [[ -s $pf ]] || return 1
  pid=$(<"$pf")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  # no pipe into grep -q: under pipefail, grep leaving early could make a
  # SIGPIPE'd tr fail the test, and a running server look stopped
  local cmdline
  cmdline=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  grep -qxF -- "$(marker "$1")" <<<"$cmdline" || return 1
  echo "$pid"
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Who listens on a port (for error messages); empty if unknown.
port_owner() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1 || true
}

rss_mib() {
  local kb
  kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)
  [[ -n $kb ]] && echo $((kb / 1024)) || echo "?"
}

cut_lines() { awk '{ if (length($0) > 400) print substr($0, 1, 400) " [...]"; else print }'; }

tail_logs() {
  local s=$1 lf cf
  lf=$(logfile "$s")
  cf=$(consolefile "$s")
  # Long lines (Cassandra logs its whole config and classpath) are cut.
  if [[ -s $lf ]]; then
    echo "----- last 40 lines of $lf" >&2
    tail -n 40 "$lf" | cut_lines >&2
  fi
  if [[ -s $cf ]]; then
    echo "----- last 40 lines of $cf" >&2
    tail -n 40 "$cf" | cut_lines >&2
  fi
  if [[ ! -s $lf && ! -s $cf ]]; then
    echo "----- (no log output in $(workdir "$s")/logs)" >&2
  fi
  echo "-----" >&2
}

# ---------------------------------------------------------------- toolchain

is_jdk17() {
  [[ -x $1/bin/java ]] || return 1
  local v
  v=$("$1/bin/java" -version 2>&1) || return 1
  [[ ${v%%$'\n'*} =~ version\ \"17([.\"]|$) ]]
}

find_jdk17() {
  local d
  if [[ -n ${STACK_JAVA_HOME:-} ]]; then
    is_jdk17 "$STACK_JAVA_HOME" || { err "STACK_JAVA_HOME=$STACK_JAVA_HOME is not a JDK 17"; return 1; }
    echo "$STACK_JAVA_HOME"
    return 0
  fi
  for d in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-* \
           /usr/lib/jvm/*17* "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [[ -n $d && -d $d ]] || continue
    if is_jdk17 "$d"; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

setup_java() {
  local jh
  jh=$(find_jdk17) || die "no JDK 17 found (Cassandra 5.0 needs Java 11/17; tried /usr/lib/jvm/*): install one, e.g. 'apt-get install -y openjdk-17-jdk-headless', or set STACK_JAVA_HOME"
  [[ -x $jh/bin/javac ]] || die "$jh has java but no javac: install the full JDK 17, e.g. 'apt-get install -y openjdk-17-jdk-headless'"
  export JAVA_HOME=$jh
  export PATH=$JAVA_HOME/bin:$PATH
  JAVA=$JAVA_HOME/bin/java
  JAVAC=$JAVA_HOME/bin/javac
}

setup_mvn() {
  command -v mvn >/dev/null 2>&1 || die "mvn not found on PATH: install Maven 3.8+ (e.g. 'apt-get install -y maven')"
}

# ---------------------------------------------------------------- classpaths

sha_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# resolve_classpath NAME POM MIN_JARS -> writes $CACHE_DIR/NAME/classpath.txt
# Re-resolves only when the pom (or STACK_MVN_ARGS) changed or a jar vanished.
resolve_classpath() {
  local name=$1 pom=$2 min=$3
  local dir=$CACHE_DIR/$name cp stamp want n missing t0 j
  cp=$dir/classpath.txt
  stamp=$dir/classpath.sha
  want=$( { cat "$pom"; echo "$STACK_MVN_ARGS"; } | sha256sum | cut -d' ' -f1)
  mkdir -p "$dir"
  if [[ -s $cp && -s $stamp && $(<"$stamp") == "$want" ]]; then
    missing=""
    while read -r j; do [[ -f $j ]] || { missing=$j; break; }; done < <(tr ':' '\n' <"$cp")
    [[ -z $missing ]] && return 0
    log "$name: $missing is gone from the local Maven repository, resolving again"
  fi
  setup_mvn
  log "$name: resolving the classpath with Maven (first run downloads from Maven Central)..."
  t0=$(now)
  rm -f "$cp.tmp"
  # shellcheck disable=SC2086
  if ! mvn -B -q -f "$pom" $STACK_MVN_ARGS dependency:build-classpath \
        -Dmdep.outputFile="$cp.tmp" -Dmdep.includeScope=runtime >"$dir/mvn.log" 2>&1; then
    tail -n 30 "$dir/mvn.log" >&2
    die "$name: Maven could not resolve $pom (full output: $dir/mvn.log); check that Maven Central is reachable"
  fi
  n=$(tr ':' '\n' <"$cp.tmp" | grep -c '\.jar$' || true)
  if ((n < min)); then
    die "$name: Maven resolved only $n jars from $pom (expected $min+): the POM was probably judged invalid; see $dir/mvn.log"
  fi
  mv "$cp.tmp" "$cp"
  echo "$want" >"$stamp"
  log "$name: $n jars resolved in $(elapsed "$t0") s"
}

# compile_classes NAME CLASSPATH SRC... -> $CACHE_DIR/NAME/classes (cached by source + classpath hash)
compile_classes() {
  local name=$1 cpfile=$2
  shift 2
  local dir=$CACHE_DIR/$name out want
  out=$dir/classes
  local jv
  jv=$("$JAVA" -version 2>&1)
  want=$( { cat "$@"; [[ -n $cpfile ]] && cat "$cpfile"; echo "${jv%%$'\n'*}"; } | sha256sum | cut -d' ' -f1)
  mkdir -p "$dir"
  if [[ -d $out && -s $dir/classes.sha && $(<"$dir/classes.sha") == "$want" ]]; then
    return 0
  fi
  rm -rf "$out"
  mkdir -p "$out"
  local cparg=()
  [[ -n $cpfile ]] && cparg=(-cp "$(<"$cpfile")")
  if ! "$JAVAC" -nowarn -encoding UTF-8 --release 17 -d "$out" "${cparg[@]}" "$@" >"$dir/javac.log" 2>&1; then
    cat "$dir/javac.log" >&2
    die "$name: javac failed on $* (see above)"
  fi
  echo "$want" >"$dir/classes.sha"
}

prepare() {
  case $1 in
    cassandra)
      resolve_classpath cassandra "$HERE/cassandra/pom.xml" 70
      compile_classes cqlping "" "$HERE/java/io/indexsync/testinfra/CqlPing.java"
      ;;
    opensearch)
      resolve_classpath opensearch "$HERE/opensearch/pom.xml" 40
      compile_classes opensearch-launcher "$CACHE_DIR/opensearch/classpath.txt" \
        "$HERE/opensearch/src/io/indexsync/testinfra/SearchNode.java"
      ;;
  esac
}

# ---------------------------------------------------------------- launching

render() { # render TEMPLATE OUT KEY=VALUE...
  local tpl=$1 out=$2 content kv
  shift 2
  content=$(<"$tpl")
  for kv in "$@"; do
    content=${content//@${kv%%=*}@/${kv#*=}}
  done
  printf '%s\n' "$content" >"$out"
}

# Starts "$@" detached (own session, survives this script), stdout/stderr to
# the console log; the pid written is the JVM's own (bash execs into it).
launch() {
  local s=$1
  shift
  local w pf
  w=$(workdir "$s")
  pf=$(pidfile "$s")
  rm -f "$pf"
  (
    cd "$w"
    # shellcheck disable=SC2016 # $$ and $@ expand in the inner bash
    exec setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pf" "$@" \
      >"$(consolefile "$s")" 2>&1 </dev/null 9>&-
  ) &
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $pf ]] && return 0
    sleep 0.05
  done
  die "$s: the process did not record its pid in $pf"
}

# The previous run's logs stay in logs.prev/ (one generation).
rotate_logs() {
  rm -rf "$1/logs.prev"
  if [[ -d $1/logs ]]; then mv "$1/logs" "$1/logs.prev"; fi
}

start_cassandra() {
  local w cp heap
  w=$(workdir cassandra)
  # A fresh data dir every start: no cluster-name/snitch/token checks against
  # an older run, and every test run sees an empty cluster.
  rotate_logs "$w"
  rm -rf "$w/data" "$w/tmp"
  mkdir -p "$w/data" "$w/logs" "$w/tmp"
  render "$HERE/cassandra/cassandra.yaml.in" "$w/cassandra.yaml" \
    "WORK=$w" "NATIVE_PORT=$STACK_CASSANDRA_PORT" "STORAGE_PORT=$STACK_CASSANDRA_STORAGE_PORT"
  render "$HERE/cassandra/logback.xml.in" "$w/logback.xml" "LOG_DIR=$w/logs"
  cp=$(<"$CACHE_DIR/cassandra/classpath.txt")
  heap=$STACK_CASSANDRA_HEAP
  local args=(
    "$(marker cassandra)"
    -Xms"$heap" -Xmx"$heap" -Xss256k
    -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
    -Djava.net.preferIPv4Stack=true
    -Djdk.attach.allowAttachSelf=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.management/com.sun.jmx.remote.security=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED
    --add-exports java.base/java.lang.ref=ALL-UNNAMED
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED
    -Dio.netty.tryReflectionSetAccessible=true
    -Dio.netty.allocator.useCacheForAllThreads=true
    -Dio.netty.allocator.maxOrder=11
    -Dcassandra.config="file://$w/cassandra.yaml"
    -Dcassandra-foreground=yes
    -Dcassandra.storagedir="$w/data"
    -Dcassandra.logdir="$w/logs"
    -Dlogback.configurationFile="$w/logback.xml"
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    -Dcassandra.ring_delay_ms=1000
    -Dcassandra.superuser_setup_delay_ms=0
    -Djna.tmpdir="$w/tmp"
    -Djava.io.tmpdir="$w/tmp"
    -cp "$cp"
    org.apache.cassandra.service.CassandraDaemon
  )
  launch cassandra "$JAVA" "${args[@]}"
}

start_opensearch() {
  local w cp heap xms
  w=$(workdir opensearch)
  # Fresh data every start: tests expect a clean set of indexes. STACK_KEEP_DATA=1
  # keeps the indexes (a restart that simulates an outage, not a new server).
  rotate_logs "$w"
  if [[ -z ${STACK_KEEP_DATA:-} ]]; then rm -rf "$w/data"; fi
  rm -rf "$w/tmp" "$w/config" "$w/modules" "$w/plugins"
  mkdir -p "$w/data" "$w/logs" "$w/tmp" "$w/config" "$w/modules" "$w/plugins"
  render "$HERE/opensearch/log4j2.properties" "$w/log4j2.properties" "LOG_DIR=$w/logs"
  cp=$CACHE_DIR/opensearch-launcher/classes:$(<"$CACHE_DIR/opensearch/classpath.txt")
  heap=$STACK_SEARCH_HEAP
  xms=512m
  (($(heap_mib "$heap") < 512)) && xms=$heap
  # shellcheck disable=SC2054 # SPI,COMPAT is one value
  local args=(
    "$(marker opensearch)"
    -Xms"$xms" -Xmx"$heap"
    -XX:+UseG1GC -XX:G1ReservePercent=25 -XX:InitiatingHeapOccupancyPercent=30
    -XX:+ExitOnOutOfMemoryError
    -Dfile.encoding=UTF-8 -Djava.awt.headless=true
    -Djna.nosys=true
    -Dlog4j2.disable.jmx=true
    -Dlog4j.shutdownHookEnabled=false -Dlog4j2.shutdownHookEnabled=false
    -Dlog4j.configurationFile="$w/log4j2.properties"
    -Djava.locale.providers=SPI,COMPAT
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true
    -Dio.netty.recycler.maxCapacityPerThread=0
    -Djava.io.tmpdir="$w/tmp"
    -Dindexsync.search.home="$w"
    -Dindexsync.search.http_port="$STACK_SEARCH_PORT"
    -Dindexsync.search.transport_port="$STACK_SEARCH_TRANSPORT_PORT"
    -cp "$cp"
    io.indexsync.testinfra.SearchNode
  )
  launch opensearch "$JAVA" "${args[@]}"
}

# ---------------------------------------------------------------- readiness

# wait_ready SERVER START_TIME -> 0 when ready, 1 on timeout / early exit.
wait_ready() {
  local s=$1 t0=$2 pid port deadline rc out last=""
  pid=$(<"$(pidfile "$s")")
  port=$(port_of "$s")
  deadline=$((SECONDS + STACK_READY_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      err "$s (pid $pid) exited during startup"
      return 1
    fi
    if port_open "$port"; then
      case $s in
        cassandra)
          rc=0
          out=$("$JAVA" -cp "$CACHE_DIR/cqlping/classes" io.indexsync.testinfra.CqlPing \
                127.0.0.1 "$port" "$CASSANDRA_USER" "$CASSANDRA_PASSWORD" 5 2>&1) || rc=$?
          if ((rc == 0)); then
            log "cassandra ready in $(elapsed "$t0") s: release_version $out, pid $pid, RSS $(rss_mib "$pid") MiB, port $port, log $(logfile cassandra)"
            return 0
          fi
          last=$out
          ;;
        opensearch)
          rc=0
          out=$(curl -fsS -m 35 "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=30s" 2>&1) || rc=$?
          if ((rc == 0)); then
            log "opensearch ready in $(elapsed "$t0") s: pid $pid, RSS $(rss_mib "$pid") MiB, port $port, log $(logfile opensearch)"
            return 0
          fi
          last=$out
          ;;
      esac
    fi
    if ((SECONDS >= deadline)); then
      err "$s did not become ready within ${STACK_READY_TIMEOUT} s (STACK_READY_TIMEOUT); last check: ${last:-port $port not answering}"
      return 1
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------- commands

stop_server() { # stop_server SERVER [quiet]
  local s=$1 pid i t0
  if ! pid=$(live_pid "$s"); then
    rm -f "$(pidfile "$s")"
    [[ ${2:-} == quiet ]] || log "$s not running"
    return 0
  fi
  t0=$(now)
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$s (pid $pid) still running 30 s after SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$(pidfile "$s")"
  log "$s stopped (pid $pid) in $(elapsed "$t0") s"
}

cmd_up() {
  local servers=("$@") s pid p owner
  ((${#servers[@]})) || servers=("${ALL_SERVERS[@]}")
  setup_java

  local to_start=() to_wait=()
  for s in "${servers[@]}"; do
    if pid=$(live_pid "$s"); then
      if port_open "$(port_of "$s")"; then
        log "$s already running (pid $pid)"
      else
        log "$s process is up (pid $pid) but port $(port_of "$s") is not answering yet; waiting"
        to_wait+=("$s")
      fi
      continue
    fi
    rm -f "$(pidfile "$s")"
    for p in $(ports_of "$s"); do
      if port_open "$p"; then
        owner=$(port_owner "$p")
        die "$s: port $p is already in use by another process${owner:+ ($owner)}: stop it, or choose other ports (STACK_CASSANDRA_PORT/STACK_CASSANDRA_STORAGE_PORT/STACK_SEARCH_PORT/STACK_SEARCH_TRANSPORT_PORT)"
      fi
    done
    to_start+=("$s")
  done

  for s in "${to_start[@]}"; do prepare "$s"; done
  for s in "${to_wait[@]}"; do prepare "$s"; done   # the Cassandra check needs the pinger

  declare -A started_at=()
  for s in "${to_start[@]}"; do
    mkdir -p "$(workdir "$s")"
    started_at[$s]=$(now)
    "start_$s"
    log "$s starting (pid $(<"$(pidfile "$s")"), log $(logfile "$s"))"
  done
  for s in "${to_wait[@]}"; do started_at[$s]=$(now); done

  # Wait for all of them in parallel, so each reports its own time to ready.
  declare -A waiter=()
  for s in "${to_start[@]}" "${to_wait[@]}"; do
    wait_ready "$s" "${started_at[$s]}" &
    waiter[$s]=$!
  done
  local failed=()
  for s in "${!waiter[@]}"; do
    wait "${waiter[$s]}" || failed+=("$s")
  done
  ((${#failed[@]} == 0)) && return 0
  for s in "${failed[@]}"; do
    tail_logs "$s"
    stop_server "$s" quiet
    err "$s failed to start; it was stopped. Log: $(logfile "$s")"
  done
  return 1
}

cmd_down() {
  local servers=("$@") s
  ((${#servers[@]})) || servers=("${ALL_SERVERS[@]}")
  # In parallel: Cassandra takes a few seconds to flush and stop.
  local pids=() rc=0 p
  for s in "${servers[@]}"; do
    stop_server "$s" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

cmd_status() {
  local s pid port ok=0
  for s in "${ALL_SERVERS[@]}"; do
    port=$(port_of "$s")
    if pid=$(live_pid "$s"); then
      if port_open "$port"; then
        printf '%-10s running  pid %-7s port %-5s RSS %s MiB\n' "$s" "$pid" "$port" "$(rss_mib "$pid")"
      else
        printf '%-10s starting pid %-7s port %-5s (not answering) RSS %s MiB\n' "$s" "$pid" "$port" "$(rss_mib "$pid")"
        ok=1
      fi
    else
      printf '%-10s stopped\n' "$s"
      ok=1
    fi
  done
  return $ok
}

cmd_env() {
  cat <<EOF
export INDEXSYNC_TEST_CASSANDRA=127.0.0.1:$STACK_CASSANDRA_PORT
export INDEXSYNC_TEST_CASSANDRA_USERNAME=$CASSANDRA_USER
export INDEXSYNC_TEST_CASSANDRA_PASSWORD=$CASSANDRA_PASSWORD
export INDEXSYNC_TEST_SEARCH_URL=http://127.0.0.1:$STACK_SEARCH_PORT
EOF
}

cmd_logs() {
  [[ $# -ge 1 ]] || die "usage: stack.sh logs cassandra|opensearch [LINES]"
  check_server_name "$1"
  local n=${2:-100} lf
  [[ $n =~ ^[0-9]+$ ]] || die "LINES must be a number, not '$n'"
  lf=$(logfile "$1")
  [[ -f $lf ]] || die "no log yet at $lf (start it with: testinfra/stack.sh up $1)"
  tail -n "$n" "$lf"
}

# Serialises up/down of concurrent callers (e.g. two 'make test' at once).
take_lock() {
  mkdir -p "$STACK_DIR"
  exec 9>"$STACK_DIR/.lock"
  flock -w 600 9 || die "another stack.sh holds $STACK_DIR/.lock for over 10 minutes"
}

main() {
  local cmd=${1:-}
  [[ -n $cmd ]] || usage
  shift
  validate_settings
  case $cmd in
    up|down)
      (($# <= 1)) || die "usage: stack.sh $cmd [cassandra|opensearch]"
      [[ $# -eq 0 ]] || check_server_name "$1"
      take_lock
      "cmd_$cmd" "$@"
      ;;
    prepare)
      take_lock
      setup_java
      for s in "${ALL_SERVERS[@]}"; do prepare "$s"; done
      log "classpaths and helper classes are ready in $CACHE_DIR"
      ;;
    status) cmd_status ;;
    env) cmd_env ;;
    logs) cmd_logs "$@" ;;
    -h|--help|help) usage 0 ;;
    *) err "unknown command '$cmd'"; usage ;;
  esac
}

main "$@"
