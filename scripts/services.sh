#!/usr/bin/env bash
# Makes sure the machine's PostgreSQL (127.0.0.1:$PGPORT, user postgres, trust on loopback) and Redis
# (127.0.0.1:$REDIS_PORT) answer, for CI (.ci/run) and for `SAGA_TEST_BACKEND=services npm test`. Starts whatever
# is missing, installing it from Debian's packages when it is not installed (apt-get, as root or through sudo).
# Safe to run again and again; starts nothing that already answers. Usage: bash scripts/services.sh [stop]
# `stop` stops only what this script started under $SERVICES_DIR (default /var/tmp/saga-services).
# The tests' private servers, on free ports, are scripts/support/private-servers.ts, not this script.
set -euo pipefail
PGPORT=${PGPORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
STATE=${SERVICES_DIR:-/var/tmp/saga-services}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() { as_root apt-get update -qq >/dev/null && as_root apt-get install -y -qq "$@" >/dev/null; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
tcp_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pg_answers() {
  local isready
  isready=$(command -v pg_isready || echo "$(pg_bin)/pg_isready")
  if [ -x "$isready" ]; then "$isready" -q -h 127.0.0.1 -p "$PGPORT" 2>/dev/null; else tcp_answers "$PGPORT"; fi
}

if [ "${1:-}" = stop ]; then
  if [ -f "$STATE/pg/postmaster.pid" ]; then
    bin=$(pg_bin)
    owner=$(stat -c %U "$STATE/pg")
    if [ "$(id -un)" = "$owner" ]; then "$bin/pg_ctl" -D "$STATE/pg" -m fast -w stop >/dev/null
    else as_root runuser -u "$owner" -- "$bin/pg_ctl" -D "$STATE/pg" -m fast -w stop >/dev/null; fi
    echo "services: stopped PostgreSQL in $STATE/pg"
  fi
  if [ -f "$STATE/redis.pid" ]; then
    pid=$(cat "$STATE/redis.pid")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ] && kill "$pid" 2>/dev/null; then
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "services: stopped Redis on port $REDIS_PORT"
    fi
    rm -f "$STATE/redis.pid"
  fi
  exit 0
fi

if ! pg_answers; then
  [ -n "$(pg_bin)" ] || apt_install postgresql
  bin=$(pg_bin)
  data=$STATE/pg
  # PostgreSQL refuses to run as root: then it runs as `postgres`, which must reach $data (our own directory).
  owner=$(id -un); [ "$owner" = root ] && owner=postgres
  as_root mkdir -p "$data" && as_root chmod a+rx "$STATE" && as_root chown "$owner" "$data" && as_root chmod 700 "$data"
  run() { if [ "$(id -un)" = "$owner" ]; then "$@"; else as_root runuser -u "$owner" -- "$@"; fi; }
  [ -f "$data/PG_VERSION" ] || run "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  run "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k /tmp" start >/dev/null
  echo "services: started PostgreSQL on 127.0.0.1:$PGPORT (data in $data)"
fi

if ! tcp_answers "$REDIS_PORT"; then
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$STATE"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --maxmemory-policy noeviction --dir "$STATE" --logfile "$STATE/redis.log" --pidfile "$STATE/redis.pid"
  for _ in $(seq 50); do tcp_answers "$REDIS_PORT" && break; sleep 0.1; done
  echo "services: started Redis on 127.0.0.1:$REDIS_PORT"
fi
pg_answers && tcp_answers "$REDIS_PORT" \
  && echo "services: PostgreSQL 127.0.0.1:$PGPORT and Redis 127.0.0.1:$REDIS_PORT answer"
