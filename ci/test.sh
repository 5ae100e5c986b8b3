#!/usr/bin/env bash
# Runs the Go test suite once per selected database backend and merges the
# coverage profiles into coverage.out. Arguments are the packages to test
# (default ./...).
#
# PASSTHRU_TEST_DB=sqlite|postgres|all picks the backends. Unset: SQLite, plus
# PostgreSQL when one is there already: PASSTHRU_TEST_PG_DSN, or a Docker
# engine with the image PASSTHRU_TEST_PG_IMAGE present locally (nothing is
# pulled). postgres or all: PostgreSQL requested but unavailable is a failure,
# never a silent skip.
#
# Without PASSTHRU_TEST_PG_DSN, PostgreSQL comes from one container for the
# whole run (testkit/dbtest/cmd/pgcontainer): the run's test processes share
# it, each test in a database of its own, and it is removed when the run ends.
# PASSTHRU_TEST_PG_IMAGE, when not set, is read from deployments/.env, where
# `make images` records the image it built (passthru-local/postgres:15).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
profile=${COVERPROFILE:-coverage.out}
GO_TEST_FLAGS=${GO_TEST_FLAGS:-}
packages=("$@")
((${#packages[@]})) || packages=(./...)

# env_file_image prints PASSTHRU_TEST_PG_IMAGE's value from deployments/.env
# (the last assignment; quotes and spaces around it dropped). The file is
# read, never sourced: only this one variable is taken from it, and only when
# it looks like an image reference.
env_file_image() {
  local file=deployments/.env line value=
  [[ -f $file ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?PASSTHRU_TEST_PG_IMAGE[[:space:]]*=(.*)$ ]] || continue
    value=${BASH_REMATCH[2]}
    value=${value#"${value%%[![:space:]]*}"}
    value=${value%"${value##*[![:space:]]}"}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
  done <"$file"
  [[ -z $value ]] && return 0
  if [[ ! $value =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]]; then
    echo "$file: PASSTHRU_TEST_PG_IMAGE=$value is not an image reference; ignored" >&2
    return 0
  fi
  printf '%s\n' "$value"
}

if [[ -z ${PASSTHRU_TEST_PG_IMAGE:-} ]]; then
  img=$(env_file_image)
  [[ -n $img ]] && export PASSTHRU_TEST_PG_IMAGE=$img
fi
# testcontainers' reaper (ryuk) is an image to pull; dbtest removes its
# containers itself and requires the reaper off (it sets this when unset).
export TESTCONTAINERS_RYUK_DISABLED=${TESTCONTAINERS_RYUK_DISABLED:-true}

selected=${PASSTHRU_TEST_DB:-}
case $selected in
  '' | sqlite | postgres | all) ;;
  *) echo "PASSTHRU_TEST_DB=$selected: want sqlite, postgres or all" >&2; exit 2 ;;
esac

# pgcontainer runs in the background for the run; stop_pg ends it (it removes
# its container) and runs on every exit of this script. Killed outright, this
# script still leaves nothing running: pgcontainer stops when its parent is
# gone, and the container when pgcontainer is.
pg_dir= pg_pid=
stop_pg() {
  if [[ -n $pg_pid ]]; then
    kill -TERM "$pg_pid" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
    pg_pid=
  fi
  if [[ -n $pg_dir ]]; then rm -rf "$pg_dir"; fi
}
trap stop_pg EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_pg starts the run's PostgreSQL container and exports its DSN. It
# returns pgcontainer's status on failure (3: no Docker engine or no image),
# its message in $pg_dir/err.
start_pg() {
  local pull=()
  [[ $selected == postgres || $selected == all ]] && pull=(-pull)
  pg_dir=$(mktemp -d)
  if ! "$GO" build -o "$pg_dir/pgcontainer" ./testkit/dbtest/cmd/pgcontainer 2>"$pg_dir/err"; then
    return 1
  fi
  "$pg_dir/pgcontainer" "${pull[@]}" -dsn-file "$pg_dir/dsn" >/dev/null 2>"$pg_dir/err" </dev/null &
  pg_pid=$!
  local rc=0
  until [[ -s $pg_dir/dsn ]]; do
    if ! kill -0 "$pg_pid" 2>/dev/null; then
      wait "$pg_pid" || rc=$?
      pg_pid=
      return $((rc ? rc : 1))
    fi
    sleep 0.2
  done
  PASSTHRU_TEST_PG_DSN=$(<"$pg_dir/dsn")
  export PASSTHRU_TEST_PG_DSN
}

pg_note=
if [[ $selected != sqlite && -z ${PASSTHRU_TEST_PG_DSN:-} ]]; then
  printf 'Starting a PostgreSQL container (%s) for the run...\n' "${PASSTHRU_TEST_PG_IMAGE:-postgres:15-alpine}"
  rc=0
  start_pg || rc=$?
  if ((rc)); then
    msg=$(sed -n 's/^pgcontainer: //p' "$pg_dir/err")
    [[ -n $msg ]] || msg=$(cat "$pg_dir/err")
    if [[ -z $selected && $rc == 3 ]]; then
      pg_note="PostgreSQL was not run: no PASSTHRU_TEST_PG_DSN, and $msg"
      echo "$pg_note"
    else
      if [[ -n $selected ]]; then
        head="PostgreSQL was requested (PASSTHRU_TEST_DB=$selected) but none is available:"
      else
        head="The PostgreSQL image is present, but its container could not be started:"
      fi
      cat >&2 <<MSG
$head
  $msg
Provide one of:
  - PASSTHRU_TEST_PG_DSN=postgres://user:pass@127.0.0.1:5432/db?sslmode=disable
    (a role allowed to CREATE DATABASE; each test gets its own database), or
  - a reachable Docker engine with the image PASSTHRU_TEST_PG_IMAGE (default
    postgres:15-alpine; without a registry: \`make images\`, which also records
    PASSTHRU_TEST_PG_IMAGE=passthru-local/postgres:15 in deployments/.env).
MSG
      exit 1
    fi
  else
    printf 'PostgreSQL container ready.\n'
  fi
fi

if [[ -z $selected ]]; then
  if [[ -n ${PASSTHRU_TEST_PG_DSN:-} ]]; then selected=all; else selected=sqlite; fi
fi
case $selected in
  sqlite) backends=(sqlite) ;;
  postgres) backends=(postgres) ;;
  all) backends=(sqlite postgres) ;;
esac

# TestGeneratedCodeIsUpToDate runs the oapi-codegen version pinned in
# services/kms/api's go:generate line from the module cache alone (no
# network at test time); fetch it into the cache first (a no-op once there).
generator=$(sed -n 's|^//go:generate go run \([^ ]*@[^ ]*\) .*|\1|p' services/kms/api/*.go)
if [[ -n $generator ]]; then
  "$GO" run "$generator" -version >/dev/null
fi

profiles=()
for b in "${backends[@]}"; do
  printf '\n== go test %s on %s ==\n' "${packages[*]}" "$b"
  out="$profile.$b"
  # GO_TEST_FLAGS lets CI add -race (the race detector) and -count=1 (so no
  # result comes from the test cache).
  # shellcheck disable=SC2086
  PASSTHRU_TEST_DB=$b "$GO" test $GO_TEST_FLAGS -timeout 20m -coverprofile="$out" "${packages[@]}"
  profiles+=("$out")
done

{
  head -n 1 "${profiles[0]}"
  for p in "${profiles[@]}"; do tail -n +2 "$p"; done
} >"$profile"
rm -f "${profiles[@]}"

if [[ " ${backends[*]} " != *" postgres "* ]]; then
  if [[ -n $pg_note ]]; then
    printf '\n%s\n' "$pg_note"
  else
    printf '\nPostgreSQL was not run: PASSTHRU_TEST_DB=sqlite.\n'
  fi
fi
printf '\nSuite passed on: %s\n' "${backends[*]}"
