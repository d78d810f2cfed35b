# shellcheck shell=bash
# A throwaway PostgreSQL for CI, for the relay's PostgreSQL tests (docs/RELAY.md; the tests use it
# through test/helpers/postgres.ts). To be SOURCED by .ci/run, after scripts/ci-apt.sh:
#
#   source scripts/ci-postgres.sh   # status 0: running, PLUSHLINK_PG_URL and PLUSHLINK_REQUIRE_PG=1 exported
#   trap ci_postgres_cleanup EXIT   # stops it and removes its folder
#
# It installs Debian's `postgresql` when the server binaries are missing (non-interactive; needs
# root or sudo), creates a cluster in a temp folder (as the `postgres` user when root: initdb
# refuses to run as root), trust authentication on loopback only, listening on 127.0.0.1 on a free
# port with its socket in the temp folder, fsync on, and starts it. Each test file then creates
# its own uniquely named database in it. Does not `set -e` or `exit`: it is sourced.

PLUSHLINK_CI_PG_DIR="${PLUSHLINK_CI_PG_DIR:-}"
PLUSHLINK_CI_PG_BIN="${PLUSHLINK_CI_PG_BIN:-}"

# Runs a PostgreSQL server tool as the cluster's owner: `postgres` when we are root, else ourselves.
ci_postgres_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The newest /usr/lib/postgresql/<version>/bin with initdb, pg_ctl and postgres (empty when none).
ci_postgres_bin() {
  local d found=""
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then found="$d"; fi
  done
  printf '%s' "$found"
}

# A TCP port free on 127.0.0.1 right now.
ci_postgres_free_port() {
  if command -v node >/dev/null 2>&1; then
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
    return
  fi
  local p
  for _ in $(seq 1 50); do
    p=$(( (RANDOM % 30000) + 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# Stops the cluster (if it runs) and removes its folder. Safe to call more than once.
ci_postgres_cleanup() {
  local dir="${PLUSHLINK_CI_PG_DIR:-}" bin="${PLUSHLINK_CI_PG_BIN:-}"
  if [ -n "$dir" ] && [ -d "$dir" ]; then
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
      ci_postgres_as "$bin/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >/dev/null 2>&1 ||
        ci_postgres_as "$bin/pg_ctl" stop -D "$dir/data" -m immediate -w -t 30 >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
  fi
  PLUSHLINK_CI_PG_DIR=""
}

ci_postgres_start() {
  local bin sudo="" dir port started=0 attempt
  bin=$(ci_postgres_bin)
  if [ -z "$bin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "ci-postgres: PostgreSQL is not installed, and as a non-root user without sudo this script cannot install it" >&2
        return 1
      fi
    fi
    echo "ci-postgres: installing postgresql"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || { echo "ci-postgres: apt-get update failed" >&2; return 1; }
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null ||
      { echo "ci-postgres: apt-get install postgresql failed" >&2; return 1; }
    bin=$(ci_postgres_bin)
    if [ -z "$bin" ]; then echo "ci-postgres: postgresql installed, but no server binaries in /usr/lib/postgresql/*/bin" >&2; return 1; fi
  fi
  if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "ci-postgres: running as root and there is no 'postgres' user to own the cluster (initdb refuses root)" >&2
    return 1
  fi

  dir=$(mktemp -d "${TMPDIR:-/tmp}/plushlink-ci-pg.XXXXXX") || { echo "ci-postgres: mktemp failed" >&2; return 1; }
  PLUSHLINK_CI_PG_DIR="$dir"
  PLUSHLINK_CI_PG_BIN="$bin"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir" || return 1; fi

  # --no-sync skips only initdb's own final fsync of the template files; the server runs with fsync on.
  if ! ci_postgres_as "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    echo "ci-postgres: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    return 1
  fi
  # Trust, loopback only (the files exist and belong to the cluster's owner; rewriting keeps that).
  printf '%s\n' '# throwaway CI cluster: trust, loopback only' 'local all all trust' 'host all all 127.0.0.1/32 trust' >"$dir/data/pg_hba.conf"

  for attempt in 1 2 3; do
    port=$(ci_postgres_free_port) || { echo "ci-postgres: no free port" >&2; return 1; }
    printf '%s\n' \
      "listen_addresses = '127.0.0.1'" \
      "port = $port" \
      "unix_socket_directories = '$dir'" \
      "shared_buffers = 32MB" \
      "max_connections = 200" \
      "fsync = on" \
      "synchronous_commit = on" \
      >"$dir/data/postgresql.auto.conf"
    if ci_postgres_as "$bin/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -w -t 120 >/dev/null 2>&1; then
      started=1
      break
    fi
    echo "ci-postgres: start on port $port failed (attempt $attempt)" >&2
  done
  if [ "$started" -ne 1 ]; then
    echo "ci-postgres: PostgreSQL did not start; its log:" >&2
    cat "$dir/server.log" >&2 2>/dev/null
    return 1
  fi
  if [ -x "$bin/pg_isready" ] && ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30; then
    echo "ci-postgres: PostgreSQL started but does not accept connections on 127.0.0.1:$port" >&2
    return 1
  fi

  export PLUSHLINK_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export PLUSHLINK_REQUIRE_PG=1
  echo "ci-postgres: PostgreSQL $(basename "$(dirname "$bin")") running at $PLUSHLINK_PG_URL ($dir)"
  return 0
}

ci_postgres_start
