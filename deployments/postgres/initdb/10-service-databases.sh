#!/usr/bin/env bash
# Runs once, on the first start of an empty data volume (the image's
# entrypoint sources /docker-entrypoint-initdb.d/*.sh as the postgres user).
# Each service owns its database: a login role and a database of the same
# name, the role's password read from its compose secret, which is also in
# the service's DSN secret. psql reads the password file itself (\set with
# backquotes), so it is never on a command line.
set -euo pipefail

for svc in kms identity; do
	pwfile="/run/secrets/${svc}-db-password"
	if [ ! -s "$pwfile" ]; then
		echo "initdb: missing secret $pwfile (the ${svc}-db-password compose secret)" >&2
		exit 1
	fi
	psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
		--set=svc="$svc" --set=pwfile="$pwfile" <<-'SQL'
		\set pw `cat :'pwfile'`
		CREATE ROLE :"svc" LOGIN PASSWORD :'pw';
		CREATE DATABASE :"svc" OWNER :"svc";
		REVOKE ALL ON DATABASE :"svc" FROM PUBLIC;
		SQL
	echo "initdb: created role and database $svc"
done
