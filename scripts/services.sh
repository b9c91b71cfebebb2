#!/usr/bin/env bash
# Local development services for the datacollection project:
#   PostgreSQL (apt cluster), Redis, Elasticsearch (integ-test-zip from Maven Central).
#
# Usage: scripts/services.sh install|up|down|status
#        scripts/services.sh cluster up|down [--purge]|start N|worker|worker-bulk|status
#          (three Elasticsearch nodes and two Celery workers on them, see below)
#
# Every server listens on 127.0.0.1 only. State lives under $ROOT/.services/
# (git-ignored). Elasticsearch lives there too, unless the `elasticsearch` system
# user cannot traverse the repo path (e.g. a checkout under /root); then it lives
# under /var/lib/datacollection-es/ and .services/elasticsearch is a symlink to it.
#
# The integ-test-zip is a bare distribution: only the modules x-pack-core,
# x-pack-security, transport-netty4 and apm. There is no `GET /` (rest-root: 405), no
# _delete_by_query/_reindex (reindex), no ngram/edge_ngram/asciifolding/html_strip or
# language analyzers (analysis-common), no painless, ingest processors, rank_feature/
# search_as_you_type (mapper-extras) and no rrf retriever. dense_vector + knn
# (incl. int8_hnsw), bulk, search_after/PIT, standard analyzer all work.
#
# Environment overrides: PG_PORT (5432), REDIS_PORT (6379), ES_PORT (9200),
#   ES_HEAP (512m), ES_JAVA_HOME, ES_BASE (where ES install/data/logs go).
set -euo pipefail

ES_VERSION=8.19.8
ES_ARTIFACT="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$SCRIPT_DIR")"
STATE="$ROOT/.services"

PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
ES_PORT="${ES_PORT:-9200}"
ES_HEAP="${ES_HEAP:-512m}"
ES_JAVA_HOME="${ES_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
ES_USER=elasticsearch
ES_FALLBACK_BASE=/var/lib/datacollection-es
ES_WAIT_SECONDS="${ES_WAIT_SECONDS:-120}"

PG_CLUSTER=main
DB_NAME=datacollection
DB_USER=datacollection
DB_PASSWORD=datacollection

APT_PACKAGES=(
  postgresql postgresql-client
  redis-server redis-tools
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd
  poppler-utils
  chromium chromium-driver
  unzip curl ca-certificates procps passwd util-linux
  maven openjdk-17-jre-headless
  build-essential
)

log() { echo "[services] $*"; }
warn() { echo "[services] WARNING: $*" >&2; }
die() { echo "[services] ERROR: $*" >&2; exit 1; }

require_root() {
  [[ "$(id -u)" -eq 0 ]] || die "'$1' must run as root (it uses apt-get, runuser and pg_ctlcluster)"
}

# Serialise concurrent invocations (e.g. two shells running `up` at once).
# Every daemon we spawn gets `9>&-` so it does not inherit (and hold) the lock.
take_lock() {
  mkdir -p "$STATE"
  chmod 755 "$STATE"
  exec 9>"$STATE/.lock"
  if ! flock -w 120 9; then
    die "timed out waiting for $STATE/.lock (another services.sh running? check: fuser -v $STATE/.lock)"
  fi
}

# ---------------------------------------------------------------- postgres ---
pg_version() {
  local v=""
  if [[ -d /usr/lib/postgresql ]]; then
    v="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
  fi
  echo "${v:-15}"
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1; }

# psql as the postgres superuser over the unix socket; cd / so postgres can stat cwd.
pg_psql() { (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"); }

pg_cluster_running() {
  local ver="$1"
  pg_ctlcluster "$ver" "$PG_CLUSTER" status >/dev/null 2>&1
}

pg_up() {
  local ver conf changed=0 cur
  ver="$(pg_version)"
  command -v pg_ctlcluster >/dev/null || die "pg_ctlcluster not found (is postgresql installed?)"
  if [[ ! -f "/etc/postgresql/$ver/$PG_CLUSTER/postgresql.conf" ]]; then
    log "postgres: creating cluster $ver/$PG_CLUSTER on port $PG_PORT"
    pg_createcluster "$ver" "$PG_CLUSTER" --port "$PG_PORT" >/dev/null 9>&-
  fi
  conf="/etc/postgresql/$ver/$PG_CLUSTER/postgresql.conf"
  cur="$(pg_conftool -s "$ver" "$PG_CLUSTER" show port 2>/dev/null || true)"
  if [[ "$cur" != "$PG_PORT" ]]; then
    log "postgres: setting port = $PG_PORT in $conf"
    pg_conftool "$ver" "$PG_CLUSTER" set port "$PG_PORT"
    changed=1
  fi
  # listen_addresses goes into a conf.d snippet (pg_conftool does not quote it correctly).
  local snippet="/etc/postgresql/$ver/$PG_CLUSTER/conf.d/90-datacollection.conf"
  local want="# Written by scripts/services.sh: loopback only.
listen_addresses = '127.0.0.1'"
  if [[ ! -f "$snippet" || "$(cat "$snippet")" != "$want" ]]; then
    log "postgres: writing $snippet (listen_addresses = '127.0.0.1')"
    mkdir -p "$(dirname "$snippet")"
    printf '%s\n' "$want" >"$snippet"
    chown postgres:postgres "$snippet" 2>/dev/null || true
    changed=1
  fi

  if pg_cluster_running "$ver"; then
    if [[ $changed -eq 1 ]]; then
      log "postgres: restarting cluster $ver/$PG_CLUSTER to apply config"
      pg_ctlcluster "$ver" "$PG_CLUSTER" restart 9>&-
    else
      log "postgres: cluster $ver/$PG_CLUSTER already running"
    fi
  else
    log "postgres: starting cluster $ver/$PG_CLUSTER"
    pg_ctlcluster "$ver" "$PG_CLUSTER" start 9>&- \
      || die "postgres failed to start; see /var/log/postgresql/postgresql-$ver-$PG_CLUSTER.log"
  fi

  local i
  for ((i = 0; i < 60; i++)); do
    pg_ready && break
    sleep 0.5
  done
  if ! pg_ready; then
    tail -n 30 "/var/log/postgresql/postgresql-$ver-$PG_CLUSTER.log" >&2 2>/dev/null || true
    die "postgres is not accepting connections on 127.0.0.1:$PG_PORT"
  fi
  log "postgres: ready on 127.0.0.1:$PG_PORT"

  if [[ "$(pg_psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" == "1" ]]; then
    log "postgres: role $DB_USER exists"
  else
    log "postgres: creating role $DB_USER"
    pg_psql -c "CREATE ROLE \"$DB_USER\" WITH LOGIN CREATEDB PASSWORD '$DB_PASSWORD'"
  fi
  if [[ "$(pg_psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" == "1" ]]; then
    log "postgres: database $DB_NAME exists"
  else
    log "postgres: creating database $DB_NAME owned by $DB_USER"
    pg_psql -c "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_USER\""
  fi
}

pg_down() {
  local ver
  ver="$(pg_version)"
  if [[ -f "/etc/postgresql/$ver/$PG_CLUSTER/postgresql.conf" ]] && pg_cluster_running "$ver"; then
    log "postgres: stopping cluster $ver/$PG_CLUSTER"
    pg_ctlcluster "$ver" "$PG_CLUSTER" stop
  else
    log "postgres: not running"
  fi
}

# ------------------------------------------------------------------- redis ---
redis_ping() {
  [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null || true)" == "PONG" ]]
}

redis_up() {
  local dir="$STATE/redis" i
  if redis_ping; then
    log "redis: already answering on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  command -v redis-server >/dev/null || die "redis-server not found (run: $0 install)"
  mkdir -p "$dir"
  log "redis: starting on 127.0.0.1:$REDIS_PORT (dir $dir)"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --save '' --appendonly no >/dev/null 9>&-
  for ((i = 0; i < 40; i++)); do
    redis_ping && break
    sleep 0.25
  done
  if ! redis_ping; then
    tail -n 30 "$dir/redis.log" >&2 2>/dev/null || true
    die "redis did not answer PONG on 127.0.0.1:$REDIS_PORT"
  fi
  log "redis: ready"
}

redis_down() {
  local i
  if redis_ping; then
    log "redis: shutting down (nosave)"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    for ((i = 0; i < 40; i++)); do
      redis_ping || break
      sleep 0.25
    done
    if redis_ping; then die "redis is still answering on 127.0.0.1:$REDIS_PORT"; fi
  else
    log "redis: not running"
  fi
}

# ----------------------------------------------------------- elasticsearch ---
es_user_exists() { id -u "$ES_USER" >/dev/null 2>&1; }

ensure_es_user() {
  if ! es_user_exists; then
    log "elasticsearch: creating system user $ES_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$ES_USER"
  fi
}

# Sets ES_BASE/ES_HOME/ES_DATA/ES_LOGS/ES_RUN. ES_BASE is $STATE unless the
# elasticsearch user cannot reach it (or the caller set ES_BASE explicitly).
es_paths() {
  if [[ -z "${ES_BASE:-}" ]]; then
    if es_user_exists; then
      if runuser -u "$ES_USER" -- test -x "$ROOT" 2>/dev/null; then
        ES_BASE="$STATE"
      else
        ES_BASE="$ES_FALLBACK_BASE"
      fi
    elif [[ -L "$STATE/elasticsearch" ]]; then
      ES_BASE="$(readlink "$STATE/elasticsearch")"
    else
      ES_BASE="$STATE"
    fi
  fi
  ES_HOME="$ES_BASE/elasticsearch-$ES_VERSION"
  ES_DATA="$ES_BASE/es-data"
  ES_LOGS="$ES_BASE/es-logs"
  ES_RUN="$ES_BASE/es-run"
  ES_PIDFILE="$ES_RUN/elasticsearch.pid"
}

es_find_zip() {
  local m2="${M2_REPO:-$HOME/.m2/repository}"
  local cand
  for cand in \
    "$STATE/downloads/elasticsearch-$ES_VERSION.zip" \
    "$m2/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ES_VERSION/elasticsearch-$ES_VERSION.zip"; do
    if [[ -s "$cand" ]] && unzip -tqq "$cand" >/dev/null 2>&1; then
      echo "$cand"
      return 0
    fi
  done
  return 1
}

es_install() {
  es_paths
  if [[ "$ES_BASE" != "$STATE" ]]; then
    log "elasticsearch: $ES_USER cannot traverse $ROOT; using $ES_BASE"
    mkdir -p "$ES_BASE"
    ln -sfn "$ES_BASE" "$STATE/elasticsearch"
  fi
  if [[ -x "$ES_HOME/bin/elasticsearch" ]]; then
    log "elasticsearch: $ES_VERSION already unpacked at $ES_HOME"
    return 0
  fi
  local zip
  if ! zip="$(es_find_zip)"; then
    mkdir -p "$STATE/downloads"
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    log "elasticsearch: fetching $ES_ARTIFACT from Maven Central"
    if ! mvn -q -B dependency:copy -Dartifact="$ES_ARTIFACT" \
        -DoutputDirectory="$STATE/downloads" >"$STATE/downloads/mvn.log" 2>&1; then
      warn "mvn dependency:copy failed, trying dependency:get (log: $STATE/downloads/mvn.log)"
      mvn -q -B dependency:get -Dartifact="$ES_ARTIFACT" -Dtransitive=false \
        >>"$STATE/downloads/mvn.log" 2>&1 || { tail -n 20 "$STATE/downloads/mvn.log" >&2; die "could not fetch $ES_ARTIFACT"; }
    fi
    zip="$(es_find_zip)" || die "downloaded ES zip not found or corrupt"
  else
    log "elasticsearch: reusing $zip"
  fi
  log "elasticsearch: unpacking into $ES_HOME"
  mkdir -p "$ES_BASE"
  local tmp
  tmp="$(mktemp -d "$ES_BASE/.unpack.XXXXXX")"
  unzip -q "$zip" -d "$tmp"
  [[ -x "$tmp/elasticsearch-$ES_VERSION/bin/elasticsearch" ]] || { rm -rf "$tmp"; die "unexpected zip layout in $zip"; }
  rm -rf "$ES_HOME"
  mv "$tmp/elasticsearch-$ES_VERSION" "$ES_HOME"
  rmdir "$tmp"
}

# NB: the integ-test-zip has no rest-root module, so `GET /` answers 405; probe
# _cluster/health and _nodes instead.
es_http_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
    "http://127.0.0.1:$ES_PORT/_cluster/health?filter_path=status" 2>/dev/null || true
}

es_health() {
  # prints green|yellow|red or nothing
  curl -s --max-time "${2:-3}" \
    "http://127.0.0.1:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=${1:-1s}&filter_path=status" 2>/dev/null \
    | grep -o '"status":"[a-z]*"' | cut -d'"' -f4 || true
}

es_version() {
  curl -s --max-time 3 "http://127.0.0.1:$ES_PORT/_nodes/_local?filter_path=nodes.*.version" 2>/dev/null \
    | grep -o '"version":"[^"]*"' | head -n 1 | cut -d'"' -f4 || true
}

es_pid_alive() {
  [[ -s "$ES_PIDFILE" ]] && kill -0 "$(cat "$ES_PIDFILE")" 2>/dev/null
}

es_write_config() {
  local cfg="$ES_HOME/config/elasticsearch.yml" tmp
  tmp="$(mktemp)"
  cat >"$tmp" <<EOF
# Written by scripts/services.sh -- local development only. Do not edit by hand.
cluster.name: datacollection
node.name: datacollection-dev
discovery.type: single-node
network.host: 127.0.0.1
http.port: $ES_PORT
path.data: $ES_DATA
path.logs: $ES_LOGS
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  if cmp -s "$tmp" "$cfg"; then
    rm -f "$tmp"
    return 1
  fi
  log "elasticsearch: writing $cfg"
  install -m 0644 -o "$ES_USER" -g "$ES_USER" "$tmp" "$cfg"
  rm -f "$tmp"
  return 0
}

es_log_tail() {
  echo "----- $ES_LOGS/datacollection.log (tail) -----" >&2
  tail -n 40 "$ES_LOGS/datacollection.log" >&2 2>/dev/null || echo "(no log file)" >&2
  if [[ -s "$ES_RUN/start.out" ]]; then
    echo "----- $ES_RUN/start.out -----" >&2
    tail -n 40 "$ES_RUN/start.out" >&2
  fi
}

es_up() {
  ensure_es_user
  es_paths
  if [[ "$(es_http_code)" == "200" ]]; then
    local cfg_changed=0
    if [[ -d "$ES_HOME/config" ]] && es_write_config; then cfg_changed=1; fi
    log "elasticsearch: already answering on 127.0.0.1:$ES_PORT ($(es_version), $(es_health))"
    if [[ $cfg_changed -eq 1 ]]; then
      warn "elasticsearch config changed; run 'down' then 'up' to apply it"
    fi
    return 0
  fi
  [[ -x "$ES_HOME/bin/elasticsearch" ]] || die "elasticsearch not installed at $ES_HOME (run: $0 install)"
  [[ -x "$ES_JAVA_HOME/bin/java" ]] || die "no java at $ES_JAVA_HOME (apt-get install openjdk-17-jre-headless or set ES_JAVA_HOME)"

  if es_pid_alive; then
    die "elasticsearch pid $(cat "$ES_PIDFILE") is alive but 127.0.0.1:$ES_PORT does not answer; run '$0 down' first"
  fi
  rm -f "$ES_PIDFILE"

  mkdir -p "$ES_DATA" "$ES_LOGS" "$ES_RUN/tmp"
  local d
  for d in "$ES_HOME" "$ES_DATA" "$ES_LOGS" "$ES_RUN"; do
    if [[ -n "$(find "$d" ! -user "$ES_USER" -print -quit)" ]]; then
      log "elasticsearch: chown -R $ES_USER $d"
      chown -R "$ES_USER:$ES_USER" "$d"
    fi
  done
  es_write_config || true
  runuser -u "$ES_USER" -- test -x "$ES_HOME/bin" \
    || die "user $ES_USER cannot reach $ES_HOME; set ES_BASE to a directory it can traverse"

  log "elasticsearch: starting $ES_VERSION on 127.0.0.1:$ES_PORT (heap $ES_HEAP, home $ES_HOME)"
  local start=$SECONDS
  if ! (cd "$ES_HOME" && runuser -u "$ES_USER" -- env \
        ES_JAVA_HOME="$ES_JAVA_HOME" \
        ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" \
        ES_TMPDIR="$ES_RUN/tmp" \
        CLI_JAVA_OPTS="-Djava.io.tmpdir=$ES_RUN/tmp" \
        "$ES_HOME/bin/elasticsearch" -d -p "$ES_PIDFILE" >"$ES_RUN/start.out" 2>&1 </dev/null 9>&-); then
    es_log_tail
    die "elasticsearch failed to start"
  fi

  local status=""
  while ((SECONDS - start < ES_WAIT_SECONDS)); do
    status="$(es_health 1s 3)"
    [[ "$status" == "green" || "$status" == "yellow" ]] && break
    if [[ -s "$ES_PIDFILE" ]] && ! es_pid_alive; then
      es_log_tail
      die "elasticsearch process exited during startup"
    fi
    sleep 1
  done
  if [[ "$status" != "green" && "$status" != "yellow" ]]; then
    es_log_tail
    die "elasticsearch not yellow/green after ${ES_WAIT_SECONDS}s (last status: ${status:-no answer})"
  fi
  log "elasticsearch: ready ($(es_version), $status) after $((SECONDS - start))s"
}

# Waits up to $2 seconds for pid $1 (named $3) to exit after a TERM. Returns 1, having warned that a KILL
# follows, if it is still running; the caller sends the KILL (to the process or its whole session).
pid_wait_exit() {
  local pid="$1" seconds="$2" name="$3" i
  for ((i = 0; i < seconds * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  warn "$name (pid $pid) did not stop in ${seconds}s; sending KILL"
  return 1
}

es_down() {
  es_paths
  if es_pid_alive; then
    local pid
    pid="$(cat "$ES_PIDFILE")"
    log "elasticsearch: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    if ! pid_wait_exit "$pid" 60 elasticsearch; then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
    fi
    rm -f "$ES_PIDFILE"
  else
    rm -f "$ES_PIDFILE" 2>/dev/null || true
    log "elasticsearch: not running (no live pid in $ES_PIDFILE)"
  fi
  if [[ "$(es_http_code)" == "200" ]]; then
    warn "something not started from $ES_BASE still answers on 127.0.0.1:$ES_PORT; left alone"
  fi
}

# ----------------------------------------------------------------- cluster ---
# `cluster up|down|status`: three more Elasticsearch nodes on loopback, one cluster (not the single node's),
# every node master-eligible and data: HTTP 9201-9203, transport 9301-9303, heap 320m each. They run
# from the same unpacked distribution with their own config (ES_PATH_CONF), data, logs and pid under
# $ES_BASE/cluster/es0N. Indices the product creates there get one replica (its `number_of_replicas`
# option / ELASTICSEARCH_REPLICAS), so any one node can die without losing a shard.
# Environment: CLUSTER_NAME (datacollection-cluster), CLUSTER_HEAP (320m), CLUSTER_HTTP_BASE (9200: nodes
# use base+1..3), CLUSTER_TRANSPORT_BASE (9300), CLUSTER_WAIT_SECONDS (240).
CLUSTER_NAME="${CLUSTER_NAME:-datacollection-cluster}"
CLUSTER_HEAP="${CLUSTER_HEAP:-320m}"
CLUSTER_HTTP_BASE="${CLUSTER_HTTP_BASE:-9200}"
CLUSTER_TRANSPORT_BASE="${CLUSTER_TRANSPORT_BASE:-9300}"
CLUSTER_WAIT_SECONDS="${CLUSTER_WAIT_SECONDS:-240}"
CLUSTER_NODES=(1 2 3)

node_dir() { echo "$ES_BASE/cluster/es0$1"; }
node_http() { echo $((CLUSTER_HTTP_BASE + $1)); }
node_transport() { echo $((CLUSTER_TRANSPORT_BASE + $1)); }
node_pidfile() { echo "$(node_dir "$1")/run/elasticsearch.pid"; }
node_alive() {
  local f
  f="$(node_pidfile "$1")"
  [[ -s "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# Asks every node in turn (any one may be down); prints the first answer's value of FIELD.
cluster_field() {
  local field="$1" n v
  for n in "${CLUSTER_NODES[@]}"; do
    v="$(curl -s --max-time 3 "http://127.0.0.1:$(node_http "$n")/_cluster/health?filter_path=$field" 2>/dev/null \
      | sed -n "s/.*\"$field\":\"\{0,1\}\([a-z0-9]*\).*/\1/p" || true)"
    if [[ -n "$v" ]]; then
      echo "$v"
      return 0
    fi
  done
}

node_write_config() {
  local n="$1" dir seeds="" masters="" m
  dir="$(node_dir "$n")"
  for m in "${CLUSTER_NODES[@]}"; do
    seeds+="${seeds:+, }\"127.0.0.1:$(node_transport "$m")\""
    masters+="${masters:+, }\"es0$m\""
  done
  mkdir -p "$dir/config" "$dir/data" "$dir/logs" "$dir/run/tmp"
  # The distribution's jvm.options, log4j2 and the rest; elasticsearch.yml is ours.
  cp -a "$ES_HOME/config/." "$dir/config/"
  cat >"$dir/config/elasticsearch.yml" <<EOF
# Written by scripts/services.sh cluster -- local development only. Do not edit by hand.
cluster.name: $CLUSTER_NAME
node.name: es0$n
network.host: 127.0.0.1
http.port: $(node_http "$n")
transport.port: $(node_transport "$n")
discovery.seed_hosts: [$seeds]
cluster.initial_master_nodes: [$masters]
path.data: $dir/data
path.logs: $dir/logs
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  chown -R "$ES_USER:$ES_USER" "$dir"
}

# Starts node N (already configured); returns once it has forked, the caller waits for the cluster.
node_start() {
  local n="$1" dir
  dir="$(node_dir "$n")"
  if node_alive "$n"; then
    log "cluster: es0$n already running (pid $(cat "$(node_pidfile "$n")"))"
    return 0
  fi
  [[ -f "$dir/config/elasticsearch.yml" ]] || node_write_config "$n"
  rm -f "$(node_pidfile "$n")"
  log "cluster: starting es0$n on 127.0.0.1:$(node_http "$n") (transport $(node_transport "$n"), heap $CLUSTER_HEAP)"
  (cd "$ES_HOME" && runuser -u "$ES_USER" -- env \
    ES_JAVA_HOME="$ES_JAVA_HOME" \
    ES_PATH_CONF="$dir/config" \
    ES_JAVA_OPTS="-Xms$CLUSTER_HEAP -Xmx$CLUSTER_HEAP" \
    ES_TMPDIR="$dir/run/tmp" \
    CLI_JAVA_OPTS="-Djava.io.tmpdir=$dir/run/tmp" \
    "$ES_HOME/bin/elasticsearch" -d -p "$(node_pidfile "$n")" >"$dir/run/start.out" 2>&1 </dev/null 9>&-) \
    || { tail -n 40 "$dir/run/start.out" >&2; die "es0$n failed to start"; }
}

cluster_wait_green() {
  local start=$SECONDS status="" count=0 n
  while ((SECONDS - start < CLUSTER_WAIT_SECONDS)); do
    status="$(cluster_field status)"
    count="$(cluster_field number_of_nodes)"
    [[ "$status" == "green" && "$count" == "${#CLUSTER_NODES[@]}" ]] && break
    for n in "${CLUSTER_NODES[@]}"; do
      if [[ -s "$(node_pidfile "$n")" ]] && ! node_alive "$n"; then
        tail -n 40 "$(node_dir "$n")/logs/$CLUSTER_NAME.log" >&2 2>/dev/null || true
        die "es0$n exited during startup"
      fi
    done
    sleep 1
  done
  if [[ "$status" != "green" || "$count" != "${#CLUSTER_NODES[@]}" ]]; then
    die "cluster not green with ${#CLUSTER_NODES[@]} nodes after ${CLUSTER_WAIT_SECONDS}s (status ${status:-no answer}, ${count:-0} nodes)"
  fi
  log "cluster: $CLUSTER_NAME green with $count nodes after $((SECONDS - start))s"
}

# --------------------------------------------------------- cluster workers ---
# `cluster up` also starts the two Celery workers compose.yaml describes, on the cluster: `worker`
# (hostname interactive@cluster, queue `interactive`: publishes and uploads) and `worker-bulk`
# (bulk@cluster, queue `bulk`: reindex). Each runs detached in its own session, with its pid file and log
# under $ES_BASE/cluster/workers/. They read the caller's environment (DATABASE_URL, REDIS_URL or
# CELERY_BROKER_URL, DJANGO_SETTINGS_MODULE, KNOWLEDGE_INDEX_NAME, ...), with ELASTICSEARCH_URL set to the
# three nodes and ELASTICSEARCH_REPLICAS=1.
# Environment: CLUSTER_WORKERS (1; 0: no workers), CLUSTER_WORKER_CONCURRENCY (1), CLUSTER_PYTHON
# ($ROOT/.venv/bin/python, else python3), CLUSTER_ELASTICSEARCH_URL (the three nodes),
# CLUSTER_WORKER_WAIT_SECONDS (120).
CLUSTER_WORKERS="${CLUSTER_WORKERS:-1}"
CLUSTER_WORKER_CONCURRENCY="${CLUSTER_WORKER_CONCURRENCY:-1}"
CLUSTER_WORKER_WAIT_SECONDS="${CLUSTER_WORKER_WAIT_SECONDS:-120}"
CLUSTER_WORKER_NAMES=(worker worker-bulk)

worker_queue() { if [[ "$1" == worker ]]; then echo interactive; else echo bulk; fi; }
worker_hostname() { echo "$(worker_queue "$1")@cluster"; }
worker_dir() { echo "$ES_BASE/cluster/workers"; }
worker_pidfile() { echo "$(worker_dir)/$1.pid"; }
worker_log() { echo "$(worker_dir)/$1.log"; }
# The pid in the worker's pid file, if that process is still a Celery worker (not a reused pid).
worker_pid() {
  local pid
  pid="$(cat "$(worker_pidfile "$1")" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && grep -qa celery "/proc/$pid/cmdline" 2>/dev/null; then echo "$pid"; fi
}
worker_alive() {
  local pid
  pid="$(worker_pid "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

worker_python() {
  if [[ -n "${CLUSTER_PYTHON:-}" ]]; then
    echo "$CLUSTER_PYTHON"
  elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    echo "$ROOT/.venv/bin/python"
  else
    echo python3
  fi
}

worker_es_url() {
  local n urls=""
  for n in "${CLUSTER_NODES[@]}"; do urls+="${urls:+,}http://127.0.0.1:$(node_http "$n")"; done
  echo "${CLUSTER_ELASTICSEARCH_URL:-$urls}"
}

worker_log_tail() {
  echo "----- $(worker_log "$1") (tail) -----" >&2
  tail -n 40 "$(worker_log "$1")" >&2 2>/dev/null || echo "(no log file)" >&2
}

# Stops the given workers: TERM (Celery's warm shutdown lets a running task finish), up to 30 s, then KILL
# of the worker's whole session (its pool children too).
workers_stop() {
  local name pid
  local -A pids=()
  # Each pid is read once, as for the nodes.
  for name in "$@"; do
    pid="$(worker_pid "$name")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      pids[$name]="$pid"
      log "cluster: stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for name in "${!pids[@]}"; do
    pid="${pids[$name]}"
    pid_wait_exit "$pid" 30 "$name" || true
    # The pool children too, even when the main process is gone (setsid made pid the session's group).
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  for name in "$@"; do rm -f "$(worker_pidfile "$name")"; done
}

# Starts a worker with the caller's environment, restarting it if it runs (it may have another one).
worker_start() {
  local name="$1" dir log py pid
  dir="$(worker_dir)"
  log="$(worker_log "$name")"
  py="$(worker_python)"
  mkdir -p "$dir"
  workers_stop "$name"
  if [[ -s "$log" ]]; then mv -f "$log" "$log.1"; fi
  log "cluster: starting $name ($(worker_hostname "$name"), queue $(worker_queue "$name"), concurrency $CLUSTER_WORKER_CONCURRENCY)"
  # setsid: its own session, so it outlives this script and `workers_stop` can kill its pool with it.
  (cd "$ROOT" && exec env \
    ELASTICSEARCH_URL="$(worker_es_url)" \
    ELASTICSEARCH_REPLICAS=1 \
    setsid "$py" -m celery -A datacollection worker --loglevel=INFO \
    --queues="$(worker_queue "$name")" --hostname="$(worker_hostname "$name")" \
    --concurrency="$CLUSTER_WORKER_CONCURRENCY" --without-gossip --without-mingle \
    >"$log" 2>&1 </dev/null 9>&-) &
  pid=$!
  echo "$pid" >"$(worker_pidfile "$name")"
}

# Waits until each worker logs "<hostname> ready." (it consumes its queue); dies with its log if it exits.
workers_wait_ready() {
  local start=$SECONDS name pending
  while ((SECONDS - start < CLUSTER_WORKER_WAIT_SECONDS)); do
    pending=0
    for name in "$@"; do
      # The raw pid: until `exec` reaches Celery its command line is still this script's.
      if ! kill -0 "$(cat "$(worker_pidfile "$name")")" 2>/dev/null; then
        worker_log_tail "$name"
        die "$name exited during startup"
      fi
      grep -qF "$(worker_hostname "$name") ready." "$(worker_log "$name")" 2>/dev/null || pending=1
    done
    if [[ $pending -eq 0 ]]; then
      log "cluster: workers ready ($*) after $((SECONDS - start))s"
      return 0
    fi
    sleep 1
  done
  for name in "$@"; do worker_log_tail "$name"; done
  die "workers not ready after ${CLUSTER_WORKER_WAIT_SECONDS}s ($*)"
}

workers_up() {
  local name
  if [[ "$CLUSTER_WORKERS" == 0 ]]; then
    log "cluster: CLUSTER_WORKERS=0, no workers started"
    return 0
  fi
  for name in "${CLUSTER_WORKER_NAMES[@]}"; do worker_start "$name"; done
  workers_wait_ready "${CLUSTER_WORKER_NAMES[@]}"
}

cluster_up() {
  local n
  ensure_es_user
  es_paths
  [[ -x "$ES_HOME/bin/elasticsearch" ]] || die "elasticsearch not installed at $ES_HOME (run: $0 install)"
  [[ -x "$ES_JAVA_HOME/bin/java" ]] || die "no java at $ES_JAVA_HOME"
  for n in "${CLUSTER_NODES[@]}"; do
    node_alive "$n" || node_write_config "$n"
  done
  # Each start blocks until its JVM is up (about a minute on two cores): start them side by side.
  # (Not `pids`: shellcheck takes it for the associative array of the same name in cluster_down.)
  local forks=() pid
  for n in "${CLUSTER_NODES[@]}"; do
    node_start "$n" &
    forks+=("$!")
  done
  for pid in "${forks[@]}"; do wait "$pid" || die "a cluster node failed to start"; done
  cluster_wait_green
  workers_up
}

cluster_down() {
  local n pid
  local -A pids=()
  es_paths
  workers_stop "${CLUSTER_WORKER_NAMES[@]}"
  # Each pid is read once: a node deletes its pid file as it exits, so reading it again could find none.
  for n in "${CLUSTER_NODES[@]}"; do
    pid="$(cat "$(node_pidfile "$n")" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      pids[$n]="$pid"
      log "cluster: stopping es0$n (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for n in "${!pids[@]}"; do
    pid="${pids[$n]}"
    pid_wait_exit "$pid" 60 "es0$n" || kill -KILL "$pid" 2>/dev/null || true
  done
  for n in "${CLUSTER_NODES[@]}"; do rm -f "$(node_pidfile "$n")"; done
  log "cluster: down"
}

cluster_status() {
  local n ok=0 h
  es_paths
  for n in "${CLUSTER_NODES[@]}"; do
    if node_alive "$n"; then
      echo "es0$n: running (pid $(cat "$(node_pidfile "$n")"), http 127.0.0.1:$(node_http "$n"))"
    else
      echo "es0$n: down"
      ok=1
    fi
  done
  for n in "${CLUSTER_WORKER_NAMES[@]}"; do
    if worker_alive "$n"; then
      echo "$n: running (pid $(worker_pid "$n"), $(worker_hostname "$n"), queue $(worker_queue "$n"))"
    else
      echo "$n: down"
    fi
  done
  h="$(cluster_field status)"
  echo "cluster $CLUSTER_NAME: ${h:-no answer}, $(cluster_field number_of_nodes) nodes"
  [[ "$h" == "green" ]] || ok=1
  return $ok
}

cmd_cluster() {
  case "${1:-}" in
    up)
      require_root "cluster up"
      cluster_up
      ;;
    down)
      require_root "cluster down"
      cluster_down
      if [[ "${2:-}" == "--purge" ]]; then
        rm -rf "$ES_BASE/cluster"
        log "cluster: data removed"
      fi
      ;;
    start)
      # (Re)start one node, e.g. after it was killed, and wait for green with all nodes; or (re)start one
      # worker with the caller's environment and wait until it is ready.
      require_root "cluster start"
      es_paths
      if [[ " ${CLUSTER_WORKER_NAMES[*]} " == *" ${2:-x} "* ]]; then
        worker_start "$2"
        workers_wait_ready "$2"
        return 0
      fi
      [[ " ${CLUSTER_NODES[*]} " == *" ${2:-x} "* ]] || die "usage: $0 cluster start 1|2|3|worker|worker-bulk"
      ensure_es_user
      node_start "$2"
      cluster_wait_green
      ;;
    status) cluster_status ;;
    *)
      echo "usage: $0 cluster up|down [--purge]|start N|worker|worker-bulk|status" >&2
      exit 2
      ;;
  esac
}

# ----------------------------------------------------------------- install ---
pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

apt_install() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "apt: all ${#APT_PACKAGES[@]} packages present"
    return 0
  fi
  log "apt: missing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep package postinst scripts from starting system-wide daemons (we run our own).
  local policy_created=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  local rc=0
  log "apt: apt-get update"
  apt-get update -qq || rc=$?
  if [[ $rc -eq 0 ]]; then
    log "apt: apt-get install -y --no-install-recommends ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$STATE/apt.log" 2>&1 || rc=$?
  fi
  if [[ $policy_created -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
  if [[ $rc -ne 0 ]]; then
    tail -n 30 "$STATE/apt.log" >&2 2>/dev/null || true
    die "apt-get failed (exit $rc)"
  fi
  log "apt: installed ${#missing[@]} package(s)"
}

cmd_install() {
  require_root install
  apt_install
  ensure_es_user
  es_install
}

cmd_up() {
  require_root up
  cmd_install
  pg_up
  redis_up
  es_up
  log "all services up (postgres 127.0.0.1:$PG_PORT, redis 127.0.0.1:$REDIS_PORT, elasticsearch 127.0.0.1:$ES_PORT)"
}

cmd_down() {
  require_root down
  es_down
  redis_down
  pg_down
  log "all services down"
}

cmd_status() {
  local ok=0 v h
  if pg_ready; then echo "postgres: ok"; else echo "postgres: down"; ok=1; fi
  if command -v redis-cli >/dev/null && redis_ping; then echo "redis: ok"; else echo "redis: down"; ok=1; fi
  v="$(es_version)"
  if [[ -n "$v" ]]; then
    h="$(es_health 1s 3)"
    echo "elasticsearch: ok ($v, ${h:-unknown})"
    [[ "$h" == "green" || "$h" == "yellow" ]] || ok=1
  else
    echo "elasticsearch: down"
    ok=1
  fi
  return $ok
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    install) take_lock; cmd_install ;;
    up) take_lock; cmd_up ;;
    down) take_lock; cmd_down ;;
    status) cmd_status ;;
    cluster)
      shift
      if [[ "${1:-}" != status ]]; then take_lock; fi
      cmd_cluster "$@"
      ;;
    *)
      echo "usage: $0 install|up|down|status|cluster up|down|start N|worker|worker-bulk|status" >&2
      exit 2
      ;;
  esac
}

main "$@"
