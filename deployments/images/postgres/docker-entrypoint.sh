#!/usr/bin/env bash
# The entrypoint of passthru-local/postgres:15: the official postgres image's
# behaviour on Debian's PostgreSQL packages, so compose files and
# testcontainers' postgres module treat it the same:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
#   POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default: the user), each
#   also as *_FILE naming a file to read (compose secrets);
#   POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256);
#   PGDATA (default /var/lib/postgresql/data, a volume);
#   scripts in /docker-entrypoint-initdb.d (*.sh, *.sql, *.sql.gz) on first init;
#   "postgres -c name=value ..." or bare "-c name=value" arguments.
# The first start initialises PGDATA with a temporary server listening on the
# unix socket only, then starts the real one: each logs "database system is
# ready to accept connections", which is what waiting clients count.
set -Eeo pipefail

# file_env VAR [DEFAULT]: VAR from the environment, or from the file named by
# VAR_FILE (both set is an error), or DEFAULT.
file_env() {
	local var=$1 fileVar="${1}_FILE" def=${2:-} val
	if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
		echo >&2 "error: both $var and $fileVar are set (but are exclusive)"
		exit 1
	fi
	val=$def
	if [ "${!var:-}" ]; then
		val=${!var}
	elif [ "${!fileVar:-}" ]; then
		val=$(<"${!fileVar}")
	fi
	export "$var"="$val"
	unset "$fileVar"
}

setup_env() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	export PGDATA=${PGDATA:-/var/lib/postgresql/data}
	DATABASE_ALREADY_EXISTS=
	if [ -s "$PGDATA/PG_VERSION" ]; then
		DATABASE_ALREADY_EXISTS=true
	fi
}

# As root: create PGDATA and the socket directory owned by postgres.
create_db_directories() {
	local user
	user=$(id -u)
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" || :
	mkdir -p /var/run/postgresql || :
	chmod 03775 /var/run/postgresql || :
	if [ "$user" = 0 ]; then
		find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
		find /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
	fi
}

verify_minimum_env() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		cat >&2 <<-'MSG'
			Error: Database is uninitialized and superuser password is not specified.
			       You must specify POSTGRES_PASSWORD to a non-empty value for the
			       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

			       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
			       connections without a password. This is *not* recommended.
		MSG
		exit 1
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		echo >&2 'WARNING: POSTGRES_HOST_AUTH_METHOD=trust: connections need no password.'
	fi
}

init_database_dir() {
	# The password reaches initdb through a pipe, never argv or a file.
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is split like the official image does
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--encoding=UTF8 --locale=C.UTF-8 --auth-local=trust \
		--auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" \
		$POSTGRES_INITDB_ARGS -D "$PGDATA"
}

# Any host may connect, with a password (scram-sha-256) unless told otherwise;
# the unix socket stays trusted for this script and local tools.
setup_hba_conf() {
	local method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
}

# The temporary server listens on the unix socket only, so nothing outside
# connects before the database is ready.
temp_server_start() {
	if [ "$1" = postgres ]; then
		shift
	fi
	set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
	PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
	PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -m fast -w stop
}

psql_run() {
	PGHOST= PGHOSTADDR= psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password \
		--no-psqlrc --dbname "${1:-postgres}" "${@:2}"
}

setup_db() {
	local exists
	exists=$(psql_run postgres -tA --set db="$POSTGRES_DB" <<-'SQL'
		SELECT 1 FROM pg_database WHERE datname = :'db';
	SQL
	)
	if [ -z "$exists" ]; then
		psql_run postgres --set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
		printf '\n'
	fi
}

process_init_files() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || continue
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					echo "$0: running $f"
					"$f"
				else
					echo "$0: sourcing $f"
					# shellcheck disable=SC1090
					. "$f"
				fi
				;;
			*.sql) echo "$0: running $f"; psql_run "$POSTGRES_DB" -f "$f"; echo ;;
			*.sql.gz) echo "$0: running $f"; gunzip -c "$f" | psql_run "$POSTGRES_DB"; echo ;;
			*) echo "$0: ignoring $f" ;;
		esac
	done
}

# want_help reports whether the arguments ask postgres for help or a version,
# which must not initialise anything.
want_help() {
	local arg
	for arg; do
		case "$arg" in
			-'?' | --help | --describe-config | -V | --version) return 0 ;;
		esac
	done
	return 1
}

main() {
	if [ "${1:0:1}" = '-' ]; then
		set -- postgres "$@"
	fi
	if [ "$1" = postgres ] && ! want_help "$@"; then
		setup_env
		create_db_directories
		if [ "$(id -u)" = 0 ]; then
			# Drop root for the rest: setpriv is util-linux, in every Debian.
			exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
		fi
		if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
			verify_minimum_env
			init_database_dir
			setup_hba_conf
			export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}
			temp_server_start "$@"
			setup_db
			process_init_files /docker-entrypoint-initdb.d/*
			temp_server_stop
			unset PGPASSWORD
			echo
			echo 'PostgreSQL init process complete; ready for start up.'
			echo
		else
			echo
			echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
			echo
		fi
	fi
	# The password was needed for initialisation only: the server and every
	# process it starts must not carry it in their environment.
	unset POSTGRES_PASSWORD PGPASSWORD
	exec "$@"
}

main "$@"
