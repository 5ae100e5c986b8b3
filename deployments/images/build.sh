#!/usr/bin/env bash
# build.sh builds the offline base images that Passthru's containers use on a
# machine without an image registry (nothing can be pulled):
#
#   passthru-local/debian:bookworm  a debootstrap --variant=minbase root fs of
#                                   Debian bookworm, `docker import`ed
#   passthru-local/postgres:15      PostgreSQL 15 from Debian's packages on that
#                                   base, with an entrypoint that behaves like
#                                   the official postgres image (postgres/)
#
# Only the host reaches the Debian mirror: the packages PostgreSQL needs are
# downloaded by apt in a chroot of the base root fs and installed from the
# build context with dpkg, so no container needs the network.
#
# Each image carries a label with a hash of its inputs (this script's recipe
# for it, the files under postgres/, the base image's id); an image whose label
# matches is reused, so a second run does nothing. Must run as root
# (debootstrap, chroot). Environment: PASSTHRU_DEBIAN_MIRROR (default
# http://deb.debian.org/debian), PASSTHRU_IMAGES_FORCE=1 rebuilds regardless.
set -euo pipefail

readonly SUITE=bookworm
readonly MIRROR=${PASSTHRU_DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly BASE_IMAGE=passthru-local/debian:bookworm
readonly PG_IMAGE=passthru-local/postgres:15
readonly PG_MAJOR=15
readonly HASH_LABEL=dev.passthru.inputs-hash
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE

die() { echo "build.sh: $*" >&2; exit 1; }
log() { echo "build.sh: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot need it); try: sudo $0"
command -v debootstrap >/dev/null || die "debootstrap is missing; install it: apt-get install debootstrap"
command -v docker >/dev/null || die "docker is missing"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (docker info fails)"

WORK=$(mktemp -d /tmp/passthru-images.XXXXXX)
# live_cid is the helper container of the moment, removed by cleanup when a
# step fails before its own `docker rm`.
live_cid=
# cleanup removes that container, unmounts what an interrupted debootstrap left
# mounted in its target (proc, sys) before removing the temp dir, and never
# crosses into a mount.
cleanup() {
	if [ -n "$live_cid" ]; then docker rm -f "$live_cid" >/dev/null 2>&1 || true; fi
	awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l || true
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# label prints an image's input-hash label, or nothing when the image is absent.
label() {
	docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null || true
}

# cached reports whether image $1 exists with input hash $2.
cached() {
	[ "${PASSTHRU_IMAGES_FORCE:-}" != 1 ] && [ "$(label "$1")" = "$2" ]
}

# bookworm's sources, security updates included: the chroot's apt reads them.
sources_list() {
	cat <<SRC
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
SRC
}

# build_base debootstraps minbase into $WORK/base, brings it up to date with
# bookworm's updates, trims what a container does not need (documentation,
# man pages and locales, as the official slim images do; apt's lists and
# caches) and imports it as $BASE_IMAGE.
build_base() {
	local root=$WORK/base
	debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
		{ tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
	sources_list >"$root/etc/apt/sources.list"
	# Daemons must not start inside the chroot or at image build.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	cat >"$root/etc/dpkg/dpkg.cfg.d/passthru-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
	cat >"$root/etc/apt/apt.conf.d/passthru-slim" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
CFG
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	chroot "$root" apt-get -qq update
	DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -qq -y upgrade >/dev/null
	chroot "$root" apt-get -qq clean
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log \
		"$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
	find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
	: >"$root/etc/resolv.conf"
	: >"$root/etc/hostname"
	tar --numeric-owner -C "$root" -c . | docker import \
		--change "LABEL $HASH_LABEL=$1" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'CMD ["bash"]' \
		- "$BASE_IMAGE" >/dev/null
	rm -rf --one-file-system "$root"
}

# build_postgres exports the base image's root fs and lets apt resolve and
# download PostgreSQL $PG_MAJOR and its dependencies in a chroot of it (the
# host's network); a container without network installs them from a
# read-only mount (postgres/install.sh) and is committed; postgres/Dockerfile
# adds the entrypoint and metadata on top.
build_postgres() {
	local root=$WORK/pgroot ctx=$WORK/pgctx pkgs
	mkdir -p "$root" "$ctx/debs"
	live_cid=$(docker create "$BASE_IMAGE" true)
	docker export "$live_cid" | tar -C "$root" -x
	docker rm "$live_cid" >/dev/null
	live_cid=
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	chroot "$root" apt-get -qq update
	DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -qq -y --download-only install \
		"postgresql-$PG_MAJOR" >/dev/null
	cp "$root"/var/cache/apt/archives/*.deb "$ctx/debs/"
	rm -rf --one-file-system "$root"
	log "  packages downloaded ($(ls "$ctx/debs" | wc -l) debs, $((SECONDS - start))s)"
	cp "$HERE"/postgres/* "$ctx/"
	live_cid=$(docker create --network none -v "$ctx/debs:/tmp/debs:ro" -v "$ctx/install.sh:/tmp/install.sh:ro" \
		"$BASE_IMAGE" sh /tmp/install.sh "$PG_MAJOR")
	if ! docker start -a "$live_cid" >"$WORK/install.log" 2>&1; then
		tail -n 30 "$WORK/install.log" >&2
		die "installing PostgreSQL failed (log above)"
	fi
	pkgs=$(docker commit "$live_cid")
	docker rm "$live_cid" >/dev/null
	live_cid=
	log "  packages installed and committed ($((SECONDS - start))s)"
	docker build -q --label "$HASH_LABEL=$1" --build-arg "BASE_IMAGE=$pkgs" \
		-t "$PG_IMAGE" "$ctx" >/dev/null
}

# replaced removes image id $1 when it is no longer tagged (a rebuild took its
# name), so rebuilds do not pile up dangling images; an image still in use by
# a container stays.
replaced() {
	[ -n "$1" ] || return 0
	if [ -z "$(docker image inspect --format '{{join .RepoTags ","}}' "$1" 2>/dev/null)" ]; then
		docker rmi "$1" >/dev/null 2>&1 || true
	fi
}

# hash_of prints the sha256 of its standard input.
hash_of() { sha256sum | cut -d' ' -f1; }

total_start=$SECONDS

start=$SECONDS
base_hash=$( { declare -f build_base sources_list; echo "$SUITE $MIRROR"; } | hash_of)
if cached "$BASE_IMAGE" "$base_hash"; then
	log "$BASE_IMAGE is up to date (inputs ${base_hash:0:12}), reused"
else
	log "building $BASE_IMAGE (debootstrap $SUITE, a few minutes)..."
	old=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
	build_base "$base_hash"
	replaced "$old"
	log "built $BASE_IMAGE in $((SECONDS - start))s"
fi

start=$SECONDS
pg_hash=$( {
	declare -f build_postgres
	echo "$PG_MAJOR $(docker image inspect --format '{{.Id}}' "$BASE_IMAGE")"
	(cd "$HERE/postgres" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
} | hash_of)
if cached "$PG_IMAGE" "$pg_hash"; then
	log "$PG_IMAGE is up to date (inputs ${pg_hash:0:12}), reused"
else
	log "building $PG_IMAGE (PostgreSQL $PG_MAJOR from Debian's packages)..."
	old=$(docker image inspect --format '{{.Id}}' "$PG_IMAGE" 2>/dev/null || true)
	build_postgres "$pg_hash"
	replaced "$old"
	log "built $PG_IMAGE in $((SECONDS - start))s"
fi

docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^passthru-local/' >&2 || true
log "done in $((SECONDS - total_start))s"
