#!/usr/bin/env bash
# Local test stack for indexsync: Apache Cassandra 5.0 and a search engine run
# as plain JDK 17 processes from Maven Central artifacts (no Docker).
# STACK_ENGINE picks the engine: opensearch-2.19 (default), elasticsearch-6.8,
# elasticsearch-7.17 or elasticsearch-8; each has its own ports and work dir,
# so several can run side by side with the one Cassandra.
#
#   testinfra/stack.sh up     [SERVER]        start (idempotent), wait until ready
#   testinfra/stack.sh down   [SERVER|all]    SIGTERM the recorded pid, SIGKILL after 30 s
#   testinfra/stack.sh status                 exit 0 iff Cassandra and the engine run and answer
#   testinfra/stack.sh env    [ENGINE]        export lines for the integration tests (INDEXSYNC_TEST_*)
#   testinfra/stack.sh logs   SERVER [N]      last N (100) lines of the server log
#   testinfra/stack.sh prepare                only resolve the jars/distribution, compile the helpers
#   testinfra/stack.sh kill   SERVER          SIGKILL a server (a crash, for tests: kill cluster-2)
#
# SERVER: cassandra, or the engine: search (alias engine), opensearch or
# elasticsearch (when STACK_ENGINE is of that kind), or an engine's full name
# (elasticsearch-7.17: selects that engine when STACK_ENGINE is unset);
# cluster: the three-node Cassandra cluster on 127.0.0.1-3 (cluster-1,
# cluster-2, cluster-3: one of its nodes, e.g. to stop and restart it);
# search-tls: an Elasticsearch that answers https only (its own TLS).
# Without SERVER: Cassandra and the engine. 'down all': every server of this STACK_DIR.
#
# See testinfra/README.md for the details and the environment overrides.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

STACK_DIR=${STACK_DIR:-$REPO/.stack}
STACK_CASSANDRA_PORT=${STACK_CASSANDRA_PORT:-9042}
STACK_CASSANDRA_STORAGE_PORT=${STACK_CASSANDRA_STORAGE_PORT:-7010}
STACK_CASSANDRA_HEAP=${STACK_CASSANDRA_HEAP:-1g}
# The three-node cluster: every node on its own loopback address (127.0.0.N;
# all of 127.0.0.0/8 is loopback on Linux), all on the same two ports.
STACK_CLUSTER_PORT=${STACK_CLUSTER_PORT:-19042}
STACK_CLUSTER_STORAGE_PORT=${STACK_CLUSTER_STORAGE_PORT:-17010}
STACK_CLUSTER_HEAP=${STACK_CLUSTER_HEAP:-768m}
# The https search engine (server search-tls): Elasticsearch with x-pack
# security's HTTP TLS, a certificate from testinfra/certgen, anonymous access.
STACK_SEARCH_TLS_ENGINE=${STACK_SEARCH_TLS_ENGINE:-elasticsearch-7.17}
STACK_SEARCH_TLS_PORT=${STACK_SEARCH_TLS_PORT:-9214}
STACK_SEARCH_TLS_TRANSPORT_PORT=${STACK_SEARCH_TLS_TRANSPORT_PORT:-9314}
STACK_READY_TIMEOUT=${STACK_READY_TIMEOUT:-180}
# Extra arguments for every mvn call, e.g. -Dmaven.repo.local=/tmp/m2 (optional).
STACK_MVN_ARGS=${STACK_MVN_ARGS:-}

# The search engine. Each engine has its own default ports and heap;
# STACK_SEARCH_PORT, STACK_SEARCH_TRANSPORT_PORT and STACK_SEARCH_HEAP override
# them for whichever engine is chosen (select_engine sets the STACK_SEARCH_*).
ENGINE_FROM_ENV=${STACK_ENGINE:+1}
STACK_ENGINE=${STACK_ENGINE:-opensearch-2.19}
ENGINES=(opensearch-2.19 elasticsearch-6.8 elasticsearch-7.17 elasticsearch-8)
USER_SEARCH_PORT=${STACK_SEARCH_PORT:-}
USER_SEARCH_TRANSPORT_PORT=${STACK_SEARCH_TRANSPORT_PORT:-}
USER_SEARCH_HEAP=${STACK_SEARCH_HEAP:-}
# Added to every engine's default ports: a second stack with all its engines
# beside the first (STACK_SEARCH_PORT sets the selected engine's port only).
STACK_SEARCH_PORT_OFFSET=${STACK_SEARCH_PORT_OFFSET:-0}
# Elasticsearch refuses to run as root: as root, its nodes run as this
# (system) user, created when missing.
STACK_ES_USER=${STACK_ES_USER:-indexsync-es}

CASSANDRA_USER=cassandra
CASSANDRA_PASSWORD=cassandra
CLUSTER_NODES=(cluster-1 cluster-2 cluster-3)
# The cluster's tests log in as this superuser, created once the three nodes
# run, when system_auth has been given all three nodes as replicas: then any
# node can check the login while another is down. (The default 'cassandra'
# role stays on one node and is read at QUORUM.)
CLUSTER_USER=indexsync
CLUSTER_PASSWORD=indexsync
ES_CLUSTER=indexsync-test
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

# select_engine ENGINE: sets ENGINE, ENGINE_SERVER (the server's name in
# status/up/down, its work dir under STACK_DIR), ENGINE_KIND, ES_VERSION, the
# STACK_SEARCH_* ports and heap, and ALL_SERVERS. OpenSearch keeps the server
# name "opensearch" (work dir .stack/opensearch) that scripts and the bench use.
select_engine() {
  local http tr heap
  case $1 in
    opensearch-2.19) ENGINE_SERVER=opensearch ENGINE_KIND=opensearch ES_VERSION="" http=9200 tr=9300 heap=1g ;;
    elasticsearch-6.8) ENGINE_SERVER=$1 ENGINE_KIND=elasticsearch ES_VERSION=6.8.23 http=9201 tr=9301 heap=512m ;;
    elasticsearch-7.17) ENGINE_SERVER=$1 ENGINE_KIND=elasticsearch ES_VERSION=7.17.29 http=9202 tr=9302 heap=512m ;;
    elasticsearch-8) ENGINE_SERVER=$1 ENGINE_KIND=elasticsearch ES_VERSION=8.19.7 http=9203 tr=9303 heap=512m ;;
    *) die "STACK_ENGINE=$1 is not an engine: use one of ${ENGINES[*]}" ;;
  esac
  ENGINE=$1
  [[ $STACK_SEARCH_PORT_OFFSET =~ ^[0-9]+$ ]] || die "STACK_SEARCH_PORT_OFFSET=$STACK_SEARCH_PORT_OFFSET is not a number"
  STACK_SEARCH_PORT=${USER_SEARCH_PORT:-$((http + STACK_SEARCH_PORT_OFFSET))}
  STACK_SEARCH_TRANSPORT_PORT=${USER_SEARCH_TRANSPORT_PORT:-$((tr + STACK_SEARCH_PORT_OFFSET))}
  STACK_SEARCH_HEAP=${USER_SEARCH_HEAP:-$heap}
  ALL_SERVERS=(cassandra "$ENGINE_SERVER")
}

# The engine a server name stands for (servers other than cassandra).
engine_of() {
  case $1 in
    opensearch) echo opensearch-2.19 ;;
    *) echo "$1" ;;
  esac
}
is_es_server() { [[ $1 == elasticsearch-* || $1 == search-tls ]]; }

# use_tls_engine: the engine settings of the search-tls server (its own
# ports; ES_VERSION of STACK_SEARCH_TLS_ENGINE).
use_tls_engine() {
  case $STACK_SEARCH_TLS_ENGINE in
    elasticsearch-7.17|elasticsearch-8) ;;
    *) die "STACK_SEARCH_TLS_ENGINE=$STACK_SEARCH_TLS_ENGINE: use elasticsearch-7.17 or elasticsearch-8 (the integ-test distributions carry x-pack security's TLS)" ;;
  esac
  local keep_engine=$ENGINE
  select_engine "$STACK_SEARCH_TLS_ENGINE"
  STACK_SEARCH_PORT=$STACK_SEARCH_TLS_PORT
  STACK_SEARCH_TRANSPORT_PORT=$STACK_SEARCH_TLS_TRANSPORT_PORT
  ENGINE=$keep_engine
}
search_tls_certs() { echo "$STACK_DIR/search-tls/certs"; }

validate_settings() {
  local v
  for v in STACK_CASSANDRA_PORT STACK_CASSANDRA_STORAGE_PORT STACK_SEARCH_PORT \
           STACK_SEARCH_TRANSPORT_PORT STACK_READY_TIMEOUT STACK_CLUSTER_PORT STACK_CLUSTER_STORAGE_PORT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v=${!v} is not a number"
  done
  for v in STACK_CASSANDRA_HEAP STACK_SEARCH_HEAP STACK_CLUSTER_HEAP; do
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
# Ports are those of the selected engine: only Cassandra and ENGINE_SERVER are
# ever started or checked by one call (and the cluster's nodes).
port_of() {
  case $1 in
    cassandra) echo "$STACK_CASSANDRA_PORT" ;;
    cluster-*) echo "$STACK_CLUSTER_PORT" ;;
    *) echo "$STACK_SEARCH_PORT" ;;
  esac
}
ports_of() {
  case $1 in
    cassandra) echo "$STACK_CASSANDRA_PORT $STACK_CASSANDRA_STORAGE_PORT" ;;
    cluster-*) echo "$STACK_CLUSTER_PORT $STACK_CLUSTER_STORAGE_PORT" ;;
    *) echo "$STACK_SEARCH_PORT $STACK_SEARCH_TRANSPORT_PORT" ;;
  esac
}
# The address a server listens on: a cluster node's own, else 127.0.0.1.
addr_of() {
  case $1 in
    cluster-*) echo "127.0.0.${1#cluster-}" ;;
    *) echo 127.0.0.1 ;;
  esac
}
is_cluster_node() { [[ $1 == cluster-[1-3] ]]; }
# A cluster that was set up (roles created) has this file; 'up cluster' with
# no node running starts afresh and removes it.
cluster_dir() { echo "$STACK_DIR/cluster"; }
cluster_ready_marker() { echo "$(cluster_dir)/setup.done"; }
cluster_tls_dir() { echo "$(cluster_dir)/tls"; }
cluster_hosts() {
  local n out=()
  for n in "${CLUSTER_NODES[@]}"; do out+=("$(addr_of "$n"):$STACK_CLUSTER_PORT"); done
  (IFS=,; echo "${out[*]}")
}
logfile() {
  case $1 in
    cassandra|cluster-*) echo "$STACK_DIR/$1/logs/system.log" ;;
    opensearch) echo "$STACK_DIR/opensearch/logs/opensearch.log" ;;
    *) echo "$STACK_DIR/$1/logs/$ES_CLUSTER.log" ;;
  esac
}
consolefile() { echo "$STACK_DIR/$1/logs/console.log"; }

# resolve_server ARG: sets SERVER to the canonical server name for a command
# line argument. An engine's full name selects that engine when STACK_ENGINE
# was not given.
resolve_server() {
  local a=${1:-}
  case $a in
    cassandra) SERVER=cassandra ;;
    cluster|cluster-[1-3]) SERVER=$a ;;
    search-tls) SERVER=$a; use_tls_engine ;;
    search|engine) SERVER=$ENGINE_SERVER ;;
    opensearch|elasticsearch)
      [[ $ENGINE_KIND == "$a" ]] ||
        die "'$a' is not the selected engine (STACK_ENGINE=$ENGINE): say 'search', or name the engine (${ENGINES[*]}) or set STACK_ENGINE"
      SERVER=$ENGINE_SERVER ;;
    opensearch-2.19|elasticsearch-6.8|elasticsearch-7.17|elasticsearch-8)
      if [[ $a != "$ENGINE" ]]; then
        [[ -z $ENGINE_FROM_ENV ]] || die "'$a' is not the engine STACK_ENGINE=$ENGINE selects"
        select_engine "$a"
      fi
      SERVER=$ENGINE_SERVER ;;
    *) die "unknown server '$a': use cassandra, cluster, cluster-1..3, search, search-tls, or an engine (${ENGINES[*]})" ;;
  esac
}

# Every server JVM carries -Dindexsync.stack=<server>:<STACK_DIR>; the pid
# file is trusted only if the live process has it (guards against pid reuse).
marker() { echo "-Dindexsync.stack=$1:$STACK_DIR"; }

# Prints the recorded pid if that process is alive and is our server. For an
# Elasticsearch node, which writes its pid file itself a few seconds into its
# startup, also the process that carries our marker when the pid file is
# missing or stale.
live_pid() {
  local pf pid
  pf=$(pidfile "$1")
  if [[ -s $pf ]]; then
    pid=$(<"$pf")
    if [[ $pid =~ ^[0-9]+$ ]] && has_marker "$pid" "$1"; then
      echo "$pid"
      return 0
    fi
  fi
  is_es_server "$1" || return 1
  marked_pid "$1"
}

# has_marker PID SERVER: the process runs with SERVER's marker.
has_marker() {
  [[ -r /proc/$1/cmdline ]] || return 1
  # no pipe into grep -q: under pipefail, grep leaving early could make a
  # SIGPIPE'd tr fail the test, and a running server look stopped
  local cmdline
  cmdline=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  grep -qxF -- "$(marker "$2")" <<<"$cmdline"
}

# marked_pid SERVER: the pid of a process that carries SERVER's marker.
marked_pid() {
  local hits first
  # The pattern comes from a file: as an argument it would be in grep's own
  # cmdline, and grep would find itself. Processes may vanish during the scan
  # (grep then exits 2 even with a hit), so only the output counts.
  hits=$(grep -lzxF -f <(printf '%s\n' "$(marker "$1")") /proc/[0-9]*/cmdline 2>/dev/null || true)
  [[ -n $hits ]] || return 1
  first=${hits%%$'\n'*}
  first=${first#/proc/}
  echo "${first%/cmdline}"
}

port_open() { # port_open PORT [ADDRESS]
  timeout 2 bash -c "exec 3<>/dev/tcp/${2:-127.0.0.1}/$1" 2>/dev/null
}

# Who listens on a port (for error messages); empty if unknown.
port_owner() { # port_owner PORT [ADDRESS]
  command -v ss >/dev/null 2>&1 || return 0
  local filter="sport = :$1"
  [[ -z ${2:-} ]] || filter="src $2:$1"
  ss -ltnpH "$filter" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1 || true
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
  JAR=$JAVA_HOME/bin/jar
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
    cassandra|cluster-*)
      resolve_classpath cassandra "$HERE/cassandra/pom.xml" 70
      compile_classes cqlping "" "$HERE/java/io/indexsync/testinfra/CqlPing.java"
      ;;
    opensearch)
      resolve_classpath opensearch "$HERE/opensearch/pom.xml" 40
      compile_classes opensearch-launcher "$CACHE_DIR/opensearch/classpath.txt" \
        "$HERE/opensearch/src/io/indexsync/testinfra/SearchNode.java"
      ;;
    elasticsearch-*|search-tls)
      fetch_es_dist "$ES_VERSION"
      local p
      for p in $(es_plugins "$ES_VERSION"); do build_es_plugin "$ES_VERSION" "$p"; done
      ;;
  esac
}

# ---------------------------------------------------------------- elasticsearch

# es_artifact VERSION: the distribution zip on Maven Central. 6.8: the whole
# OSS distribution (every module). 7.x/8.x: the minimal integ-test zip (server,
# transport-netty4, x-pack core/security), the only one published there.
es_artifact() {
  case $1 in
    6.*) echo "org.elasticsearch.distribution.zip:elasticsearch-oss:$1:zip" ;;
    *) echo "org.elasticsearch.distribution.integ-test-zip:elasticsearch:$1:zip" ;;
  esac
}
es_dist() { echo "$CACHE_DIR/dist/elasticsearch-$1"; }

# version_ge A B: version A >= version B.
version_ge() { printf '%s\n%s\n' "$2" "$1" | sort -C -V; }

# es_plugins VERSION: our test plugins that VERSION needs (see
# testinfra/elasticsearch/plugin/): the integ-test zips lack analysis-common
# (ngram filter, keyword tokenizer), and from 8.9 on the GET / handler.
es_plugins() {
  if version_ge "$1" 7.0.0; then echo sunbird-analysis; fi
  if version_ge "$1" 8.9.0; then echo root-info; fi
}
plugin_class() {
  case $1 in
    sunbird-analysis) echo io.indexsync.testinfra.es.SunbirdAnalysisPlugin ;;
    root-info) echo io.indexsync.testinfra.es.RootInfoPlugin ;;
  esac
}
plugin_description() {
  case $1 in
    sunbird-analysis) echo "indexsync test stack: the ngram token filter and keyword tokenizer (Lucene's) that Sunbird's analyzers use" ;;
    root-info) echo "indexsync test stack: GET / (name, cluster, version) for the integ-test distribution" ;;
  esac
}

# fetch_es_dist VERSION: the unpacked distribution in $CACHE_DIR/dist (once
# per version; the zip itself stays only in the local Maven repository).
fetch_es_dist() {
  local v=$1 dir tmp t0 zips
  dir=$(es_dist "$v")
  [[ -f $dir/.unpacked ]] && return 0
  setup_mvn
  tmp=$CACHE_DIR/dist/.tmp-$v
  rm -rf "$tmp" "$dir"
  mkdir -p "$tmp/unpacked"
  log "elasticsearch-$v: fetching $(es_artifact "$v") with Maven (first run downloads from Maven Central)..."
  t0=$(now)
  # shellcheck disable=SC2086
  if ! mvn -B -q $STACK_MVN_ARGS dependency:copy -Dartifact="$(es_artifact "$v")" \
        -DoutputDirectory="$tmp" >"$CACHE_DIR/dist/mvn-$v.log" 2>&1; then
    tail -n 30 "$CACHE_DIR/dist/mvn-$v.log" >&2
    die "elasticsearch-$v: Maven could not fetch $(es_artifact "$v") (full output: $CACHE_DIR/dist/mvn-$v.log); check that Maven Central is reachable"
  fi
  zips=("$tmp"/*.zip)
  [[ -f ${zips[0]} ]] || die "elasticsearch-$v: Maven reported success but left no zip in $tmp"
  if command -v unzip >/dev/null 2>&1; then
    unzip -q "${zips[0]}" -d "$tmp/unpacked" || die "elasticsearch-$v: unzip of ${zips[0]} failed"
  else
    # no unzip: the JDK's jar tool unpacks too, but keeps no file modes
    (cd "$tmp/unpacked" && "$JAR" -xf "${zips[0]}") || die "elasticsearch-$v: unpacking ${zips[0]} failed"
    chmod -R a+x "$tmp/unpacked/elasticsearch-$v/bin"
  fi
  [[ -f $tmp/unpacked/elasticsearch-$v/bin/elasticsearch ]] ||
    die "elasticsearch-$v: ${zips[0]} holds no elasticsearch-$v/bin/elasticsearch"
  # readable by the unprivileged user that runs the node
  chmod -R a+rX "$tmp/unpacked/elasticsearch-$v"
  mv "$tmp/unpacked/elasticsearch-$v" "$dir"
  touch "$dir/.unpacked"
  rm -rf "$tmp"
  log "elasticsearch-$v: distribution ready in $(elapsed "$t0") s ($(du -sm "$dir" | cut -f1) MB in $dir)"
}

# build_es_plugin VERSION NAME: compiles one of our test plugins against the
# distribution's lib/ jars (cached by source + jars + JDK, so per version) and
# packs it with a descriptor naming that exact version, in
# $CACHE_DIR/es-VERSION-NAME/plugin/.
build_es_plugin() {
  local v=$1 name=$2 dist key dir jars srcs out
  dist=$(es_dist "$v")
  key=es-$v-$name
  dir=$CACHE_DIR/$key
  mkdir -p "$dir"
  jars=("$dist"/lib/*.jar)
  (IFS=:; printf '%s\n' "${jars[*]}") >"$dir/classpath.txt"
  mapfile -t srcs < <(find "$HERE/elasticsearch/plugin/$name" -name '*.java' | LC_ALL=C sort)
  ((${#srcs[@]})) || die "no Java sources for the $name plugin under $HERE/elasticsearch/plugin/"
  compile_classes "$key" "$dir/classpath.txt" "${srcs[@]}"
  out=$dir/plugin
  if [[ -s $out/.sha && $(<"$out/.sha") == "$(<"$dir/classes.sha")" ]]; then
    return 0
  fi
  [[ -x $JAR ]] || die "$JAVA_HOME has no jar tool: install the full JDK 17"
  rm -rf "$out"
  mkdir -p "$out"
  "$JAR" --create --file "$out/indexsync-$name.jar" -C "$dir/classes" . ||
    die "$name plugin: jar failed"
  cat >"$out/plugin-descriptor.properties" <<EOF
description=$(plugin_description "$name")
version=$v
name=indexsync-$name
classname=$(plugin_class "$name")
java.version=17
elasticsearch.version=$v
extended.plugins=
has.native.controller=false
EOF
  cp "$dir/classes.sha" "$out/.sha"
  log "elasticsearch-$v: built the test plugin indexsync-$name"
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
  local w
  w=$(workdir cassandra)
  # A fresh data dir every start: no cluster-name/snitch/token checks against
  # an older run, and every test run sees an empty cluster.
  rm -rf "$w/data"
  render "$HERE/cassandra/cassandra.yaml.in" "$w/cassandra.yaml" \
    "WORK=$w" "NATIVE_PORT=$STACK_CASSANDRA_PORT" "STORAGE_PORT=$STACK_CASSANDRA_STORAGE_PORT" \
    "ADDRESS=127.0.0.1" "SEEDS=127.0.0.1:$STACK_CASSANDRA_STORAGE_PORT" "CLUSTER_NAME=indexsync-test" "ALLOC_RF=1"
  launch_cassandra cassandra "$STACK_CASSANDRA_HEAP"
}

# start_cluster_node NODE: one node of the three-node cluster. Its data is
# kept (a restart after 'down cluster-2' or 'kill cluster-2' is the same node
# coming back); 'up cluster' with no node running clears it first
# (fresh_cluster).
start_cluster_node() {
  local s=$1 w addr
  w=$(workdir "$s")
  addr=$(addr_of "$s")
  mkdir -p "$w/data"
  render "$HERE/cassandra/cassandra.yaml.in" "$w/cassandra.yaml" \
    "WORK=$w" "NATIVE_PORT=$STACK_CLUSTER_PORT" "STORAGE_PORT=$STACK_CLUSTER_STORAGE_PORT" \
    "ADDRESS=$addr" "SEEDS=$(addr_of cluster-1):$STACK_CLUSTER_STORAGE_PORT" "CLUSTER_NAME=indexsync-cluster" "ALLOC_RF=3"
  render "$HERE/cassandra/cluster.yaml.in" "$w/cluster.yaml" "TLS_DIR=$(cluster_tls_dir)"
  cat "$w/cluster.yaml" >>"$w/cassandra.yaml"
  rm -f "$w/cluster.yaml"
  # Tokens given, not allocated: a node that starts while the one before it
  # is still announcing its tokens would compute the same ones from the same
  # view of the ring ("Bootstrap Token collision", seen under make test's
  # load). The ring's 48 evenly spaced tokens, every third to each node.
  printf 'initial_token: "%s"\n' "$(cluster_tokens "$s")" >>"$w/cassandra.yaml"
  # size estimates every 10 s instead of 5 minutes: tests read them
  launch_cassandra "$s" "$STACK_CLUSTER_HEAP" -Dcassandra.size_recorder_interval=10
}

# cluster_tokens NODE: the node's 16 tokens, comma-separated: of 48 tokens
# evenly spaced over the Murmur3 ring, those whose index is the node's number
# - 1 modulo 3 (the ranges interleave, so each node owns a third).
cluster_tokens() {
  local i=${1#cluster-} k t step=384307168202282325 out=""
  t=$((-9223372036854775807 - 1))
  for ((k = 0; k < 48; k++)); do
    if ((k % 3 == i - 1)); then out+="${out:+,}$t"; fi
    t=$((t + step))
  done
  echo "$out"
}

# fresh_cluster: no node runs; clear every node's data and make a new CA and
# server certificate (testinfra/certgen, Go's crypto/x509) for the nodes'
# client encryption.
fresh_cluster() {
  local n t0
  for n in "${CLUSTER_NODES[@]}"; do rm -rf "$(workdir "$n")/data"; done
  rm -rf "$(cluster_dir)"
  mkdir -p "$(cluster_dir)"
  command -v go >/dev/null 2>&1 || die "cluster: go not found on PATH: the cluster's TLS certificates are made by testinfra/certgen (go run)"
  t0=$(now)
  if ! (cd "$REPO" && go run ./testinfra/certgen "$(cluster_tls_dir)" \
        "$(addr_of cluster-1)" "$(addr_of cluster-2)" "$(addr_of cluster-3)" localhost) >"$(cluster_dir)/certgen.log" 2>&1; then
    cat "$(cluster_dir)/certgen.log" >&2
    die "cluster: testinfra/certgen could not write the TLS certificates (see above)"
  fi
  log "cluster: TLS CA and server certificate for 127.0.0.1-3 in $(cluster_tls_dir) ($(elapsed "$t0") s)"
}

# setup_cluster: once the three nodes run, system_auth gets all three as
# replicas and the tests' superuser is created (so written to all three):
# logins then work with any one node down.
setup_cluster() {
  local q out
  for q in "ALTER KEYSPACE system_auth WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}" \
           "CREATE ROLE IF NOT EXISTS $CLUSTER_USER WITH PASSWORD = '$CLUSTER_PASSWORD' AND LOGIN = true AND SUPERUSER = true"; do
    if ! out=$("$JAVA" -cp "$CACHE_DIR/cqlping/classes" io.indexsync.testinfra.CqlPing \
          "$(addr_of cluster-1)" "$STACK_CLUSTER_PORT" "$CASSANDRA_USER" "$CASSANDRA_PASSWORD" 60 "$q" 2>&1); then
      die "cluster: setting up roles failed ($q): $out"
    fi
  done
  touch "$(cluster_ready_marker)"
  log "cluster: system_auth replicated to 3 nodes; superuser $CLUSTER_USER created"
}

# launch_cassandra SERVER HEAP [JVM_ARG...]: a Cassandra node from its
# cassandra.yaml in the server's work dir.
launch_cassandra() {
  local s=$1 heap=$2 w cp
  shift 2
  w=$(workdir "$s")
  rotate_logs "$w"
  rm -rf "$w/tmp"
  mkdir -p "$w/data" "$w/logs" "$w/tmp"
  render "$HERE/cassandra/logback.xml.in" "$w/logback.xml" "LOG_DIR=$w/logs"
  cp=$(<"$CACHE_DIR/cassandra/classpath.txt")
  local args=(
    "$(marker "$s")"
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
    "$@"
    -cp "$cp"
    org.apache.cassandra.service.CassandraDaemon
  )
  launch "$s" "$JAVA" "${args[@]}"
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

# As root: the unprivileged user that runs Elasticsearch (created when
# missing); sets ES_UID and ES_GID.
es_user_setup() {
  if ! id -u "$STACK_ES_USER" >/dev/null 2>&1; then
    command -v useradd >/dev/null 2>&1 ||
      die "Elasticsearch refuses to run as root and there is no useradd to create the user $STACK_ES_USER: create an unprivileged user and name it in STACK_ES_USER"
    local shell=/usr/sbin/nologin
    [[ -x $shell ]] || shell=/bin/false
    if useradd --system --user-group --no-create-home --home-dir /nonexistent --shell "$shell" \
         "$STACK_ES_USER" 2>"$CACHE_DIR/useradd.log"; then
      log "created the system user $STACK_ES_USER (Elasticsearch refuses to run as root)"
    elif ! id -u "$STACK_ES_USER" >/dev/null 2>&1; then
      die "could not create the system user $STACK_ES_USER: $(<"$CACHE_DIR/useradd.log")"
    fi
  fi
  ES_UID=$(id -u "$STACK_ES_USER")
  ES_GID=$(id -g "$STACK_ES_USER")
  ((ES_UID != 0)) || die "STACK_ES_USER=$STACK_ES_USER is root: Elasticsearch refuses to run as root"
}

as_es_user() { setpriv --reuid="$ES_UID" --regid="$ES_GID" --clear-groups -- "$@"; }

# es_check_access SERVER HOME WORKDIR: the node's user can run HOME and write
# WORKDIR; else names the directory on the way that it may not enter.
es_check_access() {
  local s=$1 home=$2 w=$3 p="" part parts blocked=""
  # shellcheck disable=SC2016 # expanded by the inner sh
  if as_es_user sh -c 'test -x "$1/bin/elasticsearch" && test -r "$1/lib" && test -w "$2/logs"' sh "$home" "$w"; then
    return 0
  fi
  IFS=/ read -ra parts <<<"${w#/}"
  for part in "${parts[@]}"; do
    p=$p/$part
    if ! as_es_user test -x "$p"; then blocked=$p; break; fi
  done
  die "$s: the user $STACK_ES_USER that runs Elasticsearch cannot use $w${blocked:+ (it may not enter $blocked)}: put STACK_DIR where every user may enter, e.g. STACK_DIR=/var/tmp/indexsync-stack"
}

# The node's config dir: the distribution's config files; its jvm.options
# without heap sizes (ES_JAVA_OPTS has them) and without -XX:+AlwaysPreTouch
# (it would touch the whole heap at start: +300 MiB RSS for nothing here), its
# relative paths (gc.log, hs_err, heap dumps; 6.8/7.x run in ES_HOME) made
# absolute, and our process marker; an elasticsearch.yml of our own.
render_es_config() { # SERVER WORKDIR DIST VERSION
  local s=$1 w=$2 dist=$3 v=$4 line
  cp -R "$dist/config/." "$w/config/"
  rm -f "$w/config/jvm.options" "$w/config/elasticsearch.yml"
  {
    while IFS= read -r line || [[ -n $line ]]; do
      case $line in
        -Xms*|-Xmx*|*AlwaysPreTouch*) continue ;;
      esac
      line=${line//"logs/gc.log"/"$w/logs/gc.log"}
      line=${line//"file=gc.log"/"file=$w/logs/gc.log"}
      line=${line//"ErrorFile=logs/"/"ErrorFile=$w/logs/"}
      line=${line//"ErrorFile=hs_err"/"ErrorFile=$w/logs/hs_err"}
      line=${line//"HeapDumpPath=data"/"HeapDumpPath=$w/logs"}
      printf '%s\n' "$line"
    done <"$dist/config/jvm.options"
    printf '%s\n' "## added by testinfra/stack.sh" \
      "-XX:-AlwaysPreTouch" \
      "-XX:ReplayDataFile=$w/logs/replay_pid%p.log" \
      "$(marker "$s")"
  } >"$w/config/jvm.options"
  {
    printf '%s\n' "# written by testinfra/stack.sh" \
      "cluster.name: $ES_CLUSTER" \
      "node.name: $ES_CLUSTER-$s" \
      "path.data: \"$w/data\"" \
      "path.logs: \"$w/logs\"" \
      "network.host: 127.0.0.1" \
      "http.port: $STACK_SEARCH_PORT" \
      "transport.port: $STACK_SEARCH_TRANSPORT_PORT" \
      "discovery.type: single-node" \
      "cluster.routing.allocation.disk.threshold_enabled: false"
    if [[ $s == search-tls ]]; then
      # https only, with the certificate of testinfra/certgen; anonymous
      # requests act as superuser (the tests are about TLS, not logins)
      printf '%s\n' "xpack.security.enabled: true" \
        "xpack.security.http.ssl.enabled: true" \
        "xpack.security.http.ssl.key: tls/server.key" \
        "xpack.security.http.ssl.certificate: tls/server.crt" \
        "xpack.security.http.ssl.certificate_authorities: [ \"tls/ca.pem\" ]" \
        "xpack.security.authc.anonymous.username: indexsync_test" \
        "xpack.security.authc.anonymous.roles: superuser" \
        "xpack.security.authc.anonymous.authz_exception: true"
      mkdir -p "$w/config/tls"
      cp "$(search_tls_certs)/server.key" "$(search_tls_certs)/server.crt" "$(search_tls_certs)/ca.pem" "$w/config/tls/"
    elif version_ge "$v" 7.0.0; then
      printf '%s\n' "xpack.security.enabled: false"
    fi
  } >"$w/config/elasticsearch.yml"
}

# search_tls_setup: a new CA and server certificate for search-tls
# (testinfra/certgen) before each start; the tests trust ca.pem.
search_tls_setup() {
  command -v go >/dev/null 2>&1 || die "search-tls: go not found on PATH: its TLS certificate is made by testinfra/certgen (go run)"
  rm -rf "$(search_tls_certs)"
  if ! (cd "$REPO" && go run ./testinfra/certgen "$(search_tls_certs)" 127.0.0.1 localhost) >"$STACK_DIR/search-tls/certgen.log" 2>&1; then
    cat "$STACK_DIR/search-tls/certgen.log" >&2
    die "search-tls: testinfra/certgen could not write the TLS certificate (see above)"
  fi
}

start_es() {
  local s=$1 v=$ES_VERSION w home dist p heap=$STACK_SEARCH_HEAP
  w=$(workdir "$s")
  home=$w/home
  dist=$(es_dist "$v")
  # Fresh data every start, as for OpenSearch (STACK_KEEP_DATA=1 keeps it).
  rotate_logs "$w"
  if [[ -z ${STACK_KEEP_DATA:-} ]]; then rm -rf "$w/data"; fi
  rm -rf "$w/tmp" "$w/config" "$home"
  mkdir -p "$w/data" "$w/logs" "$w/tmp" "$w/config"
  [[ $s != search-tls ]] || search_tls_setup
  # The node's own ES_HOME: hard links into the unpacked distribution (no
  # copy, nothing in it is ever written), with its own plugins/.
  if ! cp -al "$dist" "$home" 2>/dev/null; then
    rm -rf "$home"
    cp -a "$dist" "$home"
  fi
  rm -f "$home/.unpacked"
  for p in $(es_plugins "$v"); do
    cp -R "$CACHE_DIR/es-$v-$p/plugin" "$home/plugins/indexsync-$p"
    rm -f "$home/plugins/indexsync-$p/.sha"
  done
  render_es_config "$s" "$w" "$dist" "$v"

  local java_var=ES_JAVA_HOME run=()
  version_ge "$v" 7.0.0 || java_var=JAVA_HOME
  if ((EUID == 0)); then
    es_user_setup
    chown "$ES_UID:$ES_GID" "$w"
    chown -R "$ES_UID:$ES_GID" "$w/data" "$w/logs" "$w/tmp" "$w/config"
    es_check_access "$s" "$home" "$w"
    run=(setpriv --reuid="$ES_UID" --regid="$ES_GID" --clear-groups --)
  fi
  # CLI_JAVA_OPTS: 8.x's launcher JVM makes a "final-flags*" directory in its
  # java.io.tmpdir for every start and leaves it; keep those in the node's tmp/.
  launch_es "$s" env -i PATH=/usr/local/bin:/usr/bin:/bin "$java_var=$JAVA_HOME" \
    ES_PATH_CONF="$w/config" ES_TMPDIR="$w/tmp" ES_JAVA_OPTS="-Xms$heap -Xmx$heap" \
    CLI_JAVA_OPTS="-Djava.io.tmpdir=$w/tmp" \
    "${run[@]}" "$home/bin/elasticsearch" -d -p "$(pidfile "$s")"
}

# launch_es SERVER CMD...: runs bin/elasticsearch -d detached, as launch()
# does. The node writes its own pid file; $w/launcher.pid and launcher.rc are
# the launcher's (6.8/7.x return at once, 8.x once the node is up).
launch_es() {
  local s=$1
  shift
  local w lpf i
  w=$(workdir "$s")
  lpf=$w/launcher.pid
  rm -f "$(pidfile "$s")" "$lpf" "$w/launcher.rc"
  (
    cd "$w"
    # shellcheck disable=SC2016 # $$, $0, $1 and $@ expand in the inner bash
    exec setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0"; rcf=$1; shift; "$@"; echo $? >"$rcf"' \
      "$lpf" "$w/launcher.rc" "$@" >"$(consolefile "$s")" 2>&1 </dev/null 9>&-
  ) &
  for ((i = 0; i < 100; i++)); do
    [[ -s $lpf ]] && return 0
    sleep 0.05
  done
  die "$s: the launcher did not record its pid in $lpf"
}

# The launcher of an Elasticsearch node, if it still runs.
es_launcher_pid() {
  local w lpid
  w=$(workdir "$1")
  [[ -s $w/launcher.pid ]] || return 1
  lpid=$(<"$w/launcher.pid")
  [[ $lpid =~ ^[0-9]+$ && -r /proc/$lpid/cmdline ]] || return 1
  grep -qF -- "$w/launcher.rc" "/proc/$lpid/cmdline" 2>/dev/null || return 1
  echo "$lpid"
}

# ---------------------------------------------------------------- readiness

# wait_ready_es SERVER START_TIME: the node's pid appears (from its pid file,
# or its marker), the cluster is yellow, and GET / names the expected version.
# The pid is looked up afresh on every round: before the pid file exists the
# marker may also sit on a short-lived JVM (8.x runs one to compute its
# ergonomics), so only "no such process and the launcher is gone" is a failure.
wait_ready_es() {
  local s=$1 t0=$2 pid port deadline rc out last="" gone=0 version="" base tls=()
  port=$(port_of "$s")
  base=http://127.0.0.1:$port
  if [[ $s == search-tls ]]; then
    base=https://127.0.0.1:$port
    tls=(--cacert "$(search_tls_certs)/ca.pem")
  fi
  deadline=$((SECONDS + STACK_READY_TIMEOUT))
  while :; do
    pid=$(live_pid "$s") || pid=""
    if [[ -n $pid ]]; then
      gone=0
    elif ! es_launcher_pid "$s" >/dev/null; then
      # checked three times: 6.8/7.x fork the JVM just before their launcher returns
      rc=$(cat "$(workdir "$s")/launcher.rc" 2>/dev/null || echo "?")
      if ((++gone >= 3)); then
        err "$s exited during startup (bin/elasticsearch exit code $rc)"
        return 1
      fi
    fi
    if [[ -n $pid ]] && port_open "$port"; then
      rc=0
      out=$(curl "${tls[@]}" -fsS -m 35 "$base/_cluster/health?wait_for_status=yellow&timeout=30s" 2>&1) || rc=$?
      if ((rc == 0)); then
        rc=0
        out=$(curl "${tls[@]}" -fsS -m 10 "$base/" 2>&1) || rc=$?
        version=""
        if [[ $out =~ \"number\"[[:space:]]*:[[:space:]]*\"([^\"]+)\" ]]; then version=${BASH_REMATCH[1]}; fi
        if ((rc == 0)) && [[ $version == "$ES_VERSION" ]]; then
          log "$s ready in $(elapsed "$t0") s: version $version, pid $pid, RSS $(rss_mib "$pid") MiB, $base, log $(logfile "$s")"
          return 0
        fi
        last="GET / did not answer version $ES_VERSION: ${out:0:300}"
      else
        last=$out
      fi
    fi
    if ((SECONDS >= deadline)); then
      err "$s did not become ready within ${STACK_READY_TIMEOUT} s (STACK_READY_TIMEOUT); last check: ${last:-port $port not answering}"
      return 1
    fi
    sleep 1
  done
}

# cqlping ADDRESS USER PASSWORD TIMEOUT [QUERY [CONSISTENCY]]: CqlPing against
# a node on the cluster's port.
cqlping() {
  local addr=$1
  shift
  "$JAVA" -cp "$CACHE_DIR/cqlping/classes" io.indexsync.testinfra.CqlPing "$addr" "$STACK_CLUSTER_PORT" "$@"
}

# cluster_node_check NODE: the node answers CQL; once the cluster is set up
# (its superuser exists) and all three nodes run, also every node sees every
# other up: a read at ALL through each of them works. A restarted node is
# "ready" only when no coordinator still takes it for down.
cluster_node_check() {
  local s=$1 out n
  if [[ ! -f $(cluster_ready_marker) ]]; then
    cqlping "$(addr_of "$s")" "$CASSANDRA_USER" "$CASSANDRA_PASSWORD" 5
    return
  fi
  out=$(cqlping "$(addr_of "$s")" "$CLUSTER_USER" "$CLUSTER_PASSWORD" 5 2>&1) || { echo "$out"; return 1; }
  for n in "${CLUSTER_NODES[@]}"; do live_pid "$n" >/dev/null || { echo "$out"; return 0; }; done
  for n in "${CLUSTER_NODES[@]}"; do
    cqlping "$(addr_of "$n")" "$CLUSTER_USER" "$CLUSTER_PASSWORD" 2 \
      "SELECT role FROM system_auth.roles WHERE role = '$CLUSTER_USER'" ALL >/dev/null 2>&1 ||
      { echo "$n does not see every replica up yet"; return 1; }
  done
  echo "$out"
}

# wait_ready SERVER START_TIME -> 0 when ready, 1 on timeout / early exit.
wait_ready() {
  if is_es_server "$1"; then
    wait_ready_es "$@"
    return
  fi
  local s=$1 t0=$2 pid port deadline rc out last=""
  pid=$(<"$(pidfile "$s")")
  port=$(port_of "$s")
  deadline=$((SECONDS + STACK_READY_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      err "$s (pid $pid) exited during startup"
      return 1
    fi
    if port_open "$port" "$(addr_of "$s")"; then
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
        cluster-*)
          rc=0
          out=$(cluster_node_check "$s") || rc=$?
          if ((rc == 0)); then
            log "$s ready in $(elapsed "$t0") s: release_version $out, pid $pid, RSS $(rss_mib "$pid") MiB, $(addr_of "$s"):$port, log $(logfile "$s")"
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

stop_server() { # stop_server SERVER [quiet|kill]
  local s=$1 pid i t0
  if ! pid=$(live_pid "$s"); then
    rm -f "$(pidfile "$s")"
    [[ ${2:-} == quiet ]] || log "$s not running"
    return 0
  fi
  t0=$(now)
  if [[ ${2:-} == kill ]]; then
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    rm -f "$(pidfile "$s")"
    log "$s killed (SIGKILL, pid $pid) in $(elapsed "$t0") s"
    return 0
  fi
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

start_server() {
  case $1 in
    cassandra) start_cassandra ;;
    cluster-*) start_cluster_node "$1" ;;
    opensearch) start_opensearch ;;
    elasticsearch-*|search-tls) start_es "$1" ;;
  esac
}

cmd_up() {
  local servers=("$@") s pid p owner
  ((${#servers[@]})) || servers=("${ALL_SERVERS[@]}")
  setup_java
  case ${servers[0]} in
    cluster|cluster-*) cmd_up_cluster "${servers[0]}"; return ;;
  esac

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
    start_server "$s"
    if is_es_server "$s"; then
      log "$s starting (bin/elasticsearch -d, launcher pid $(<"$(workdir "$s")/launcher.pid")), log $(logfile "$s")"
    else
      log "$s starting (pid $(<"$(pidfile "$s")"), log $(logfile "$s"))"
    fi
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
    if is_es_server "$s" && pid=$(es_launcher_pid "$s"); then
      kill -TERM -- "-$pid" 2>/dev/null || true   # a launcher still waiting (8.x)
    fi
    err "$s failed to start; it was stopped. Log: $(logfile "$s")"
  done
  return 1
}

# cmd_up_cluster cluster|cluster-N: the three nodes one after another (a
# node joins only once the one before it is up; two cores are busy enough
# with one starting JVM), or one node of a cluster that was set up (a restart).
cmd_up_cluster() {
  local what=$1 nodes=() s pid p owner t0 any=""
  t0=$(now)
  if [[ $what == cluster ]]; then
    nodes=("${CLUSTER_NODES[@]}")
    for s in "${nodes[@]}"; do live_pid "$s" >/dev/null && any=1; done
  else
    nodes=("$what")
    [[ -f $(cluster_ready_marker) ]] ||
      die "$what: the cluster was never set up in $STACK_DIR: start all of it with 'testinfra/stack.sh up cluster'"
    any=1
  fi
  prepare cassandra
  [[ -n $any ]] || fresh_cluster
  for s in "${nodes[@]}"; do
    if pid=$(live_pid "$s"); then
      if port_open "$(port_of "$s")" "$(addr_of "$s")"; then
        log "$s already running (pid $pid)"
        continue
      fi
      log "$s process is up (pid $pid) but $(addr_of "$s"):$(port_of "$s") is not answering yet; waiting"
    else
      rm -f "$(pidfile "$s")"
      for p in $(ports_of "$s"); do
        if port_open "$p" "$(addr_of "$s")"; then
          owner=$(port_owner "$p" "$(addr_of "$s")")
          die "$s: $(addr_of "$s"):$p is already in use by another process${owner:+ ($owner)}: stop it, or choose other ports (STACK_CLUSTER_PORT/STACK_CLUSTER_STORAGE_PORT)"
        fi
      done
      mkdir -p "$(workdir "$s")"
      start_server "$s"
      log "$s starting on $(addr_of "$s") (pid $(<"$(pidfile "$s")"), log $(logfile "$s"))"
    fi
    if ! wait_ready "$s" "$(now)"; then
      tail_logs "$s"
      stop_server "$s" quiet
      die "$s failed to start; it was stopped. Log: $(logfile "$s")"
    fi
  done
  if [[ ! -f $(cluster_ready_marker) ]]; then
    setup_cluster
  fi
  [[ $what == cluster ]] && log "cluster ready in $(elapsed "$t0") s: $(cluster_hosts) (log in as $CLUSTER_USER; TLS CA $(cluster_tls_dir)/ca.pem)"
  return 0
}

# Every server name a STACK_DIR can hold.
every_server() {
  local e
  echo cassandra
  printf '%s\n' "${CLUSTER_NODES[@]}"
  echo search-tls
  for e in "${ENGINES[@]}"; do
    case $e in opensearch-*) echo opensearch ;; *) echo "$e" ;; esac
  done
}

cmd_down() {
  local servers=("$@") s quiet=""
  ((${#servers[@]})) || servers=("${ALL_SERVERS[@]}")
  if [[ ${servers[0]} == all ]]; then
    mapfile -t servers < <(every_server)
    quiet=quiet
  elif [[ ${servers[0]} == cluster ]]; then
    servers=("${CLUSTER_NODES[@]}")
  fi
  # In parallel: Cassandra takes a few seconds to flush and stop.
  local pids=() rc=0 p
  for s in "${servers[@]}"; do
    stop_server "$s" $quiet &
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
  # The other engines of this STACK_DIR and the cluster's nodes, when they
  # run (not in the exit code).
  while read -r s; do
    [[ $s == cassandra || $s == "$ENGINE_SERVER" ]] && continue
    if is_cluster_node "$s"; then
      if pid=$(live_pid "$s"); then
        printf '%-10s running  pid %-7s %s:%-5s RSS %s MiB (three-node cluster)\n' \
          "$s" "$pid" "$(addr_of "$s")" "$STACK_CLUSTER_PORT" "$(rss_mib "$pid")"
      fi
      continue
    fi
    if [[ $s == search-tls ]]; then
      if pid=$(live_pid "$s"); then
        printf '%-10s running  pid %-7s port %-5s RSS %s MiB (https, %s)\n' \
          "$s" "$pid" "$(running_http_port "$s" "$pid")" "$(rss_mib "$pid")" "$STACK_SEARCH_TLS_ENGINE"
      fi
      continue
    fi
    if pid=$(live_pid "$s"); then
      printf '%-10s running  pid %-7s port %-5s RSS %s MiB (not the selected engine: STACK_ENGINE=%s)\n' \
        "$s" "$pid" "$(running_http_port "$s" "$pid")" "$(rss_mib "$pid")" "$(engine_of "$s")"
    fi
  done < <(every_server)
  return $ok
}

# running_http_port SERVER PID: the HTTP port a running engine was started
# with (from its elasticsearch.yml, or OpenSearch's command line).
running_http_port() {
  local line
  if is_es_server "$1"; then
    line=$(grep -m1 '^http.port:' "$(workdir "$1")/config/elasticsearch.yml" 2>/dev/null || true)
    line=${line#http.port: }
  else
    line=$(tr '\0' '\n' <"/proc/$2/cmdline" 2>/dev/null | grep -m1 '^-Dindexsync.search.http_port=' || true)
    line=${line#*=}
  fi
  echo "${line:-?}"
}

cmd_env() {
  cat <<EOF
export INDEXSYNC_TEST_CASSANDRA=127.0.0.1:$STACK_CASSANDRA_PORT
export INDEXSYNC_TEST_CASSANDRA_USERNAME=$CASSANDRA_USER
export INDEXSYNC_TEST_CASSANDRA_PASSWORD=$CASSANDRA_PASSWORD
export INDEXSYNC_TEST_SEARCH_URL=http://127.0.0.1:$STACK_SEARCH_PORT
export INDEXSYNC_TEST_ENGINE=$ENGINE
EOF
  if live_pid search-tls >/dev/null; then
    cat <<EOF
export INDEXSYNC_TEST_SEARCH_TLS_URL=https://127.0.0.1:$STACK_SEARCH_TLS_PORT
export INDEXSYNC_TEST_SEARCH_TLS_CA=$(search_tls_certs)/ca.pem
EOF
  else
    echo "# the https search engine is not running (testinfra/stack.sh up search-tls)"
  fi
  # The cluster only when it runs whole: its tests skip without it (and
  # fail under CI). They stop and restart nodes with this script.
  local n
  for n in "${CLUSTER_NODES[@]}"; do
    if ! live_pid "$n" >/dev/null || [[ ! -f $(cluster_ready_marker) ]]; then
      echo "# the three-node cluster is not running (testinfra/stack.sh up cluster)"
      return 0
    fi
  done
  cat <<EOF
export INDEXSYNC_TEST_CLUSTER=$(cluster_hosts)
export INDEXSYNC_TEST_CLUSTER_USERNAME=$CLUSTER_USER
export INDEXSYNC_TEST_CLUSTER_PASSWORD=$CLUSTER_PASSWORD
export INDEXSYNC_TEST_CLUSTER_TLS_CA=$(cluster_tls_dir)/ca.pem
export INDEXSYNC_TEST_STACK=$HERE/stack.sh
export INDEXSYNC_TEST_STACK_DIR=$STACK_DIR
EOF
}

cmd_logs() {
  [[ $# -ge 1 ]] || die "usage: stack.sh logs SERVER [LINES] (SERVER: cassandra, search, or an engine)"
  resolve_server "$1"
  local n=${2:-100} lf
  [[ $n =~ ^[0-9]+$ ]] || die "LINES must be a number, not '$n'"
  lf=$(logfile "$SERVER")
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
  local cmd=${1:-} args=()
  [[ -n $cmd ]] || usage
  shift
  select_engine "$STACK_ENGINE"
  case $cmd in
    kill)
      (($# == 1)) || die "usage: stack.sh kill SERVER (cassandra, cluster-1..3, search, or an engine)"
      resolve_server "$1"
      [[ $SERVER != cluster ]] || die "kill takes one server (cluster-1, cluster-2 or cluster-3)"
      validate_settings
      take_lock
      stop_server "$SERVER" kill
      ;;
    up|down)
      (($# <= 1)) || die "usage: stack.sh $cmd [SERVER] (cassandra, cluster, cluster-1..3, search, or an engine: ${ENGINES[*]})"
      if [[ $# -eq 1 ]]; then
        if [[ $cmd == down && $1 == all ]]; then
          args=(all)
        else
          resolve_server "$1"
          args=("$SERVER")
        fi
      fi
      validate_settings
      take_lock
      "cmd_$cmd" "${args[@]}"
      ;;
    prepare)
      validate_settings
      take_lock
      setup_java
      for s in "${ALL_SERVERS[@]}"; do prepare "$s"; done
      log "classpaths, distributions and helper classes are ready in $CACHE_DIR"
      ;;
    status) validate_settings; cmd_status ;;
    env)
      (($# == 0)) || { resolve_server "$1"; [[ $SERVER != cassandra ]] || die "usage: stack.sh env [ENGINE]"; }
      validate_settings
      cmd_env
      ;;
    logs) validate_settings; cmd_logs "$@" ;;
    -h|--help|help) usage 0 ;;
    *) err "unknown command '$cmd'"; usage ;;
  esac
}

main "$@"
