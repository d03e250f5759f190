#!/usr/bin/env bash
# The streaming replica's entrypoint (official postgres image, run as the postgres user). On first start, with an
# empty data directory, it clones the primary with pg_basebackup: -R writes standby.signal and primary_conninfo,
# -S makes it stream from the slot compose/postgres/primary-init.sh created. Then it hands over to the image's own
# entrypoint, which finds an initialised data directory and starts postgres, here as a read-only hot standby.
set -euo pipefail
: "${PRIMARY_HOST:?set PRIMARY_HOST}" "${REPLICATION_USER:?set REPLICATION_USER}" "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}" "${REPLICATION_SLOT:?set REPLICATION_SLOT}"
PRIMARY_PORT=${PRIMARY_PORT:-5432}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; do
    echo "replica: waiting for the primary at $PRIMARY_HOST:$PRIMARY_PORT"
    sleep 1
  done
  # a base backup interrupted earlier leaves files behind; pg_basebackup wants an empty directory
  mkdir -p "$PGDATA"
  find "$PGDATA" -mindepth 1 -delete
  echo "replica: cloning $PRIMARY_HOST:$PRIMARY_PORT into $PGDATA"
  PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup --pgdata="$PGDATA" --host="$PRIMARY_HOST" --port="$PRIMARY_PORT" \
    --username="$REPLICATION_USER" --no-password --wal-method=stream --slot="$REPLICATION_SLOT" \
    --write-recovery-conf --checkpoint=fast --progress
  chmod 0700 "$PGDATA"
fi

exec docker-entrypoint.sh postgres -c hot_standby=on "$@"
