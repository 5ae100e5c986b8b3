#!/bin/sh
# Installs PostgreSQL from the packages build.sh downloaded (mounted read-only
# at /tmp/debs) in a container without network, on the offline base image.
set -eu
PG_MAJOR=$1
# postgresql-common would create a "main" cluster under /var/lib/postgresql;
# the entrypoint initialises $PGDATA itself, so it must not.
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/passthru.conf
# unsafe-io: no fsync per file, which costs minutes on overlay storage; a
# failed build is thrown away anyway.
DEBIAN_FRONTEND=noninteractive dpkg --force-unsafe-io -i /tmp/debs/*.deb >/dev/null
rm -rf /var/log/*.log /var/cache/debconf/*-old /var/lib/dpkg/*-old
# The official image's default: listen everywhere (the entrypoint's temporary
# server overrides it with the unix socket only).
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "/usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample"
grep -qF "listen_addresses = '*'" "/usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample"
mkdir -p /var/run/postgresql /docker-entrypoint-initdb.d /var/lib/postgresql/data
chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql
chmod 3777 /var/run/postgresql
chmod 1777 /var/lib/postgresql/data
"/usr/lib/postgresql/$PG_MAJOR/bin/postgres" --version
