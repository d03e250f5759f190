#!/usr/bin/env bash
# Runs once, when the official postgres image initialises the primary's data directory (it runs every script in
# /docker-entrypoint-initdb.d, with the server up on its Unix socket only). Makes it a primary a streaming replica
# can follow: a replication role, a physical replication slot (so the primary keeps the WAL the replica has not
# received yet), and a pg_hba line letting the role connect for replication with its password.
# The primary runs with wal_level=replica and max_wal_senders / max_replication_slots (docker-compose.yml).
set -euo pipefail
: "${REPLICATION_USER:?set REPLICATION_USER}" "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}" "${REPLICATION_SLOT:?set REPLICATION_SLOT}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v user="$REPLICATION_USER" -v password="$REPLICATION_PASSWORD" -v slot="$REPLICATION_SLOT" <<'SQL'
select format('create role %I with replication login password %L', :'user', :'password') \gexec
select pg_create_physical_replication_slot(:'slot')
 where not exists (select 1 from pg_replication_slots where slot_name = :'slot');
SQL

printf '\n# compose/postgres/primary-init.sh: the streaming replica\nhost replication %s all scram-sha-256\n' "$REPLICATION_USER" >>"$PGDATA/pg_hba.conf"
echo "primary-init: role $REPLICATION_USER and slot $REPLICATION_SLOT ready for the replica"
