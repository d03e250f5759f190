#!/usr/bin/env bash
# Starts (idempotently) a streaming replica of a local PostgreSQL: a pg_basebackup of the primary plus a
# second postmaster on another port, run as the postgres user. Used by .ci/run and by developers.
#
#   scripts/pg-replica.sh start    # make sure the replica runs and streams; prints its URL
#   scripts/pg-replica.sh stop     # stop it (its data directory stays, start resumes it)
#   scripts/pg-replica.sh status   # exit 0 when it runs and is in recovery
#   scripts/pg-replica.sh destroy  # stop it, drop its slot and remove its data directory
#
# Settings (environment): PRIMARY_HOST (127.0.0.1), PRIMARY_PORT (5432), REPLICA_PORT (5433),
# REPLICA_DIR (/var/lib/postgresql/securecart-replica), PG_BIN (/usr/lib/postgresql/<version>/bin).
set -euo pipefail

PRIMARY_HOST=${PRIMARY_HOST:-127.0.0.1}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
REPLICA_PORT=${REPLICA_PORT:-5433}
REPLICA_DIR=${REPLICA_DIR:-/var/lib/postgresql/securecart-replica}
SLOT=securecart_replica
if [ -z "${PG_BIN:-}" ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -x "$PG_BIN/pg_ctl" ] || { echo "pg-replica: no PostgreSQL server binaries found (set PG_BIN)" >&2; exit 1; }

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}
psql_primary() { psql -X -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -d postgres -Atc "$1"; }
psql_replica() { psql -X -q -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -d postgres -Atc "$1" 2>/dev/null; }

is_streaming() { [ "$(psql_replica 'select pg_is_in_recovery()')" = "t" ]; }

allow_replication() {
  # The primary must accept replication connections from loopback. Add one trust line if it has none.
  local hba
  hba=$(psql_primary 'show hba_file')
  if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+(all|postgres)[[:space:]]+127\.0\.0\.1' "$hba"; then
    echo "pg-replica: allowing replication connections from 127.0.0.1 in $hba"
    printf '\n# added by securecart scripts/pg-replica.sh\nhost replication all 127.0.0.1/32 trust\n' >>"$hba"
    psql_primary 'select pg_reload_conf()' >/dev/null
  fi
  local level
  level=$(psql_primary 'show wal_level')
  if [ "$level" = minimal ]; then
    echo "pg-replica: the primary has wal_level=minimal; set it to replica and restart the primary" >&2
    exit 1
  fi
}

start() {
  if is_streaming; then
    echo "pg-replica: already streaming on port $REPLICA_PORT"
    return 0
  fi
  psql_primary 'select 1' >/dev/null || { echo "pg-replica: the primary at $PRIMARY_HOST:$PRIMARY_PORT does not answer" >&2; exit 1; }
  allow_replication
  if [ ! -f "$REPLICA_DIR/standby.signal" ]; then
    echo "pg-replica: taking a base backup of $PRIMARY_HOST:$PRIMARY_PORT into $REPLICA_DIR"
    rm -rf "$REPLICA_DIR"
    mkdir -p "$REPLICA_DIR"
    chown postgres:postgres "$REPLICA_DIR" 2>/dev/null || true
    chmod 700 "$REPLICA_DIR"
    if [ "$(psql_primary "select count(*) from pg_replication_slots where slot_name = '$SLOT'")" = 1 ]; then
      psql_primary "select pg_drop_replication_slot('$SLOT')" >/dev/null
    fi
    as_postgres "$PG_BIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -D "$REPLICA_DIR" \
      -X stream -R -C -S "$SLOT" --checkpoint=fast
  fi
  # The Debian cluster keeps its configuration in /etc; the copy needs its own minimal one.
  as_postgres touch "$REPLICA_DIR/postgresql.conf"
  [ -s "$REPLICA_DIR/pg_hba.conf" ] || as_postgres sh -c "printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' > '$REPLICA_DIR/pg_hba.conf'"
  [ -f "$REPLICA_DIR/pg_ident.conf" ] || as_postgres touch "$REPLICA_DIR/pg_ident.conf"
  echo "pg-replica: starting the replica on port $REPLICA_PORT"
  as_postgres "$PG_BIN/pg_ctl" -D "$REPLICA_DIR" -l "$REPLICA_DIR/replica.log" -w -t 60 start -o \
    "-p $REPLICA_PORT -c listen_addresses=127.0.0.1 -c hot_standby=on -c unix_socket_directories=/tmp -c hba_file=$REPLICA_DIR/pg_hba.conf -c ident_file=$REPLICA_DIR/pg_ident.conf -c max_connections=200 -c config_file=$REPLICA_DIR/postgresql.conf" >/dev/null
  for _ in $(seq 1 60); do
    if is_streaming; then
      echo "pg-replica: streaming; DATABASE_READ_URL=postgres://postgres@127.0.0.1:$REPLICA_PORT/postgres"
      return 0
    fi
    sleep 0.5
  done
  echo "pg-replica: the replica did not come up; its log:" >&2
  tail -n 40 "$REPLICA_DIR/replica.log" >&2 || true
  exit 1
}

stop() {
  if [ -f "$REPLICA_DIR/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$REPLICA_DIR" -m fast -w stop >/dev/null && echo "pg-replica: stopped"
  else
    echo "pg-replica: not running"
  fi
}

destroy() {
  stop || true
  rm -rf "$REPLICA_DIR"
  if [ "$(psql_primary "select count(*) from pg_replication_slots where slot_name = '$SLOT'")" = 1 ]; then
    psql_primary "select pg_drop_replication_slot('$SLOT')" >/dev/null
  fi
  echo "pg-replica: removed"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) if is_streaming; then echo "pg-replica: streaming on port $REPLICA_PORT"; else echo "pg-replica: not running"; exit 1; fi ;;
  destroy) destroy ;;
  *) echo "usage: $0 start|stop|status|destroy" >&2; exit 2 ;;
esac
