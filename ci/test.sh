#!/usr/bin/env bash
# Runs the whole Go test suite once per selected database backend and merges
# the coverage profiles into coverage.out.
#
# PASSTHRU_TEST_DB=sqlite|postgres|all picks the backends. Unset: SQLite, plus
# PostgreSQL when PASSTHRU_TEST_PG_DSN is set or a Docker engine is reachable.
# PostgreSQL requested but unavailable is a failure, never a silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
profile=${COVERPROFILE:-coverage.out}
GO_TEST_FLAGS=${GO_TEST_FLAGS:-}

pg_available() {
  [[ -n ${PASSTHRU_TEST_PG_DSN:-} ]] && return 0
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

selected=${PASSTHRU_TEST_DB:-}
if [[ -z $selected ]]; then
  if pg_available; then selected=all; else selected=sqlite; fi
fi
case $selected in
  sqlite) backends=(sqlite) ;;
  postgres) backends=(postgres) ;;
  all) backends=(sqlite postgres) ;;
  *) echo "PASSTHRU_TEST_DB=$selected: want sqlite, postgres or all" >&2; exit 2 ;;
esac

if [[ " ${backends[*]} " == *" postgres "* ]] && ! pg_available; then
  cat >&2 <<MSG
PostgreSQL was requested (PASSTHRU_TEST_DB=$selected) but none is available.
Provide one of:
  - PASSTHRU_TEST_PG_DSN=postgres://user:pass@127.0.0.1:5432/db?sslmode=disable
    (a role allowed to CREATE DATABASE; each test gets its own database), or
  - a reachable Docker engine (testcontainers starts postgres:15).
MSG
  exit 1
fi

# TestGeneratedCodeIsUpToDate runs the oapi-codegen version pinned in
# services/kms/api's go:generate line from the module cache alone (no
# network at test time); fetch it into the cache first (a no-op once there).
generator=$(sed -n 's|^//go:generate go run \([^ ]*@[^ ]*\) .*|\1|p' services/kms/api/*.go)
if [[ -n $generator ]]; then
  "$GO" run "$generator" -version >/dev/null
fi

profiles=()
for b in "${backends[@]}"; do
  printf '\n== go test ./... on %s ==\n' "$b"
  out="$profile.$b"
  # GO_TEST_FLAGS lets CI add -race (the race detector) and -count=1 (so no
  # result comes from the test cache).
  # shellcheck disable=SC2086
  PASSTHRU_TEST_DB=$b "$GO" test $GO_TEST_FLAGS -timeout 20m -coverprofile="$out" ./...
  profiles+=("$out")
done

{
  head -n 1 "${profiles[0]}"
  for p in "${profiles[@]}"; do tail -n +2 "$p"; done
} >"$profile"
rm -f "${profiles[@]}"

if [[ " ${backends[*]} " != *" postgres "* ]]; then
  printf '\nPostgreSQL was not run: set PASSTHRU_TEST_PG_DSN (or make a Docker engine reachable) to run the suite on PostgreSQL too.\n'
fi
printf '\nSuite passed on: %s\n' "${backends[*]}"
