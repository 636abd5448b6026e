# Shared by scripts/test and scripts/dev: install what is missing, and find or start Postgres and
# Redis. Source it; it defines functions and changes nothing by itself.
#
# ensure_services sets DATABASE_URL and REDIS_URL:
#   - kept as they are when already set (they must point at running servers);
#   - else the standard ports (127.0.0.1:5432 / :6379) when a server answers there;
#   - else a throwaway server on a free port, under $SLUICE_SERVICES_DIR, stopped by stop_services.

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# A log line that starts a step, with the seconds since the script started (so that a CI log
# shows where the time goes).
step() { log "$SECONDS s: $*"; }

# Background jobs: start_job NAME LOG COMMAND... runs COMMAND in its own process group with its
# output in LOG; wait_job NAME waits for it and returns its status; stop_jobs (at exit) ends the
# jobs still running, with all their processes.
declare -gA JOB_PIDS=()
start_job() {
  local name=$1 log=$2
  shift 2
  # setsid: a process group of its own, so that stop_jobs also ends what the job started.
  local setsid=setsid
  command -v setsid >/dev/null || setsid=""
  $setsid bash -c 'start=$SECONDS; "$@"; status=$?
    echo "[exit status $status after $((SECONDS - start)) s]"; exit "$status"' \
    "$name" "$@" >"$log" 2>&1 </dev/null &
  JOB_PIDS[$name]=$!
}
wait_job() {
  local pid=${JOB_PIDS[$1]} status=0
  wait "$pid" || status=$?
  unset "JOB_PIDS[$1]"
  return "$status"
}
stop_jobs() {
  local name
  for name in "${!JOB_PIDS[@]}"; do
    kill -- "-${JOB_PIDS[$name]}" 2>/dev/null || kill "${JOB_PIDS[$name]}" 2>/dev/null || true
  done
  JOB_PIDS=()
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"; fi
}

apt_install() {
  command -v apt-get >/dev/null || die "missing $* and no apt-get to install it: install it by hand"
  log "installing $* (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
    { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; } ||
    die "apt-get install $* failed"
}

postgres_bin() {
  # Debian keeps the server binaries per major version.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

ensure_tools() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup (https://rustup.rs)"
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    log "adding the wasm32-wasip2 target (plugins build for it)"
    rustup target add wasm32-wasip2 >&2 || die "rustup target add wasm32-wasip2 failed"
  fi
  if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install cargo-nextest --locked >&2 || die "cargo install cargo-nextest failed"
  fi
  [ -n "$(postgres_bin)" ] || apt_install postgresql
  command -v psql >/dev/null || apt_install postgresql-client
  command -v redis-server >/dev/null || apt_install redis-server
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  command -v python3 >/dev/null || apt_install python3 python3-venv
  python3 -c 'import venv' 2>/dev/null || apt_install python3-venv
  command -v docker-compose >/dev/null || apt_install docker-compose
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

postgres_answers() { pg_isready -q -h "$1" -p "$2" -t 2 2>/dev/null; }
redis_answers() { [ "$(redis-cli -h "$1" -p "$2" ping 2>/dev/null)" = PONG ]; }

STARTED_POSTGRES=""
STARTED_REDIS=""

start_postgres() {
  local bin port dir owner
  bin=$(postgres_bin) || die "no PostgreSQL server binaries"
  port=$(free_port)
  dir="$SLUICE_SERVICES_DIR/postgres"
  mkdir -p "$dir"
  owner=""
  # initdb refuses to run as root: run the throwaway cluster as the postgres user.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$dir"
    chmod 0755 "$SLUICE_SERVICES_DIR"
    owner="runuser -u postgres --"
  fi
  log "starting a throwaway PostgreSQL on 127.0.0.1:$port"
  $owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    die "initdb failed: see $dir/initdb.log"
  $owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null || die "PostgreSQL did not start: see $dir/server.log"
  STARTED_POSTGRES="$owner $bin/pg_ctl -D $dir/data -m fast stop"
  DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

start_redis() {
  local port dir
  port=$(free_port)
  dir="$SLUICE_SERVICES_DIR/redis"
  mkdir -p "$dir"
  log "starting a throwaway Redis on 127.0.0.1:$port"
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null ||
    die "Redis did not start: see $dir/redis.log"
  for _ in $(seq 50); do redis_answers 127.0.0.1 "$port" && break; sleep 0.1; done
  redis_answers 127.0.0.1 "$port" || die "Redis did not answer: see $dir/redis.log"
  STARTED_REDIS="$port"
  REDIS_URL="redis://127.0.0.1:$port"
}

ensure_services() {
  : "${SLUICE_SERVICES_DIR:=$(mktemp -d -t sluice-services.XXXXXX)}"
  export SLUICE_SERVICES_DIR
  if [ -z "${DATABASE_URL:-}" ]; then
    if postgres_answers 127.0.0.1 5432; then
      DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
      log "using the PostgreSQL at 127.0.0.1:5432"
    else
      start_postgres
    fi
  fi
  if [ -z "${REDIS_URL:-}" ]; then
    if redis_answers 127.0.0.1 6379; then
      REDIS_URL="redis://127.0.0.1:6379"
      log "using the Redis at 127.0.0.1:6379"
    else
      start_redis
    fi
  fi
  export DATABASE_URL REDIS_URL
}

stop_services() {
  if [ -n "$STARTED_POSTGRES" ]; then
    log "stopping the throwaway PostgreSQL"
    $STARTED_POSTGRES >/dev/null 2>&1 || true
    STARTED_POSTGRES=""
  fi
  if [ -n "$STARTED_REDIS" ]; then
    log "stopping the throwaway Redis"
    redis-cli -h 127.0.0.1 -p "$STARTED_REDIS" shutdown nosave >/dev/null 2>&1 || true
    STARTED_REDIS=""
  fi
  case "${SLUICE_SERVICES_DIR:-}" in
    */sluice-services.*) rm -rf "$SLUICE_SERVICES_DIR" ;;
  esac
}
