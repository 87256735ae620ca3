#!/bin/sh
# Runs once when a service's PostgreSQL starts empty (docker-entrypoint-initdb.d). Three roles, least privilege:
#   the superuser (POSTGRES_USER)      — only this script and disaster recovery use it;
#   laborcase_owner                    — owns the database and its tables, runs the migrations
#                                        (LABORCASE_<SERVICE>_MIGRATION_DSN) and the operator's audit archive;
#   laborcase_app                      — what the service connects as (LABORCASE_<SERVICE>_DSN): reads and writes its
#                                        state, appends to its audit log, owns nothing (it cannot drop the audit
#                                        trigger or change a row of the trail). Grants are renewed at every start.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE laborcase_owner LOGIN PASSWORD '${POSTGRES_OWNER_PASSWORD}';
CREATE ROLE laborcase_app LOGIN PASSWORD '${POSTGRES_APP_PASSWORD}';
ALTER DATABASE laborcase OWNER TO laborcase_owner;
REVOKE ALL ON DATABASE laborcase FROM PUBLIC;
GRANT CONNECT ON DATABASE laborcase TO laborcase_app;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname laborcase <<SQL
ALTER SCHEMA public OWNER TO laborcase_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
