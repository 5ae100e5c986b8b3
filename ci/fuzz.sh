#!/usr/bin/env bash
# Runs every Go fuzz target of the repository, one after another, each for
# FUZZTIME (default 1m). The targets are found, not listed: every
# `func FuzzXxx(f *testing.F)` in a *_test.go file, so a new one is run
# without editing anything. An optional argument is a regular expression
# (grep -E) that picks targets by name.
#
# Each target prints one line: its name, package, result and time. A failing
# target's output follows its line, with the input that failed, which go test
# writes to the package's testdata/fuzz/FuzzXxx/: commit it with the fix, and
# plain `go test` (so `make test`) runs it from then on. The run fails when
# any target failed, after all of them ran.
#
# The targets that open a database use the backends of PASSTHRU_TEST_DB, here
# SQLite unless it is set: fuzzing is about the parsers, and `make test` runs
# the seed corpus on both backends.
#
# Go's fuzzing coordinator before Go 1.27 can report the end of -fuzztime
# itself as the target's failure ("context deadline exceeded", no failing
# input), a race between its deadline and its workers that a loaded machine
# hits: Go 1.27 suppresses it. When the local Go is older, the fuzz runs use
# FUZZ_GOTOOLCHAIN (default go1.27.3), which the go command fetches from the
# module proxy once (GOTOOLCHAIN); everything else builds with the local Go.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-1m}
FUZZ_GOTOOLCHAIN=${FUZZ_GOTOOLCHAIN:-go1.27.3}
pick=${1:-.}
export PASSTHRU_TEST_DB=${PASSTHRU_TEST_DB:-sqlite}

# older_than_go127 VERSION: whether a release version (go1.N, go1.N.P,
# go1.NrcK) is before go1.27; anything else (a development build) is not.
older_than_go127() {
  [[ $1 =~ ^go1\.([0-9]+)(\.[0-9]+|rc[0-9]+)?$ ]] && ((BASH_REMATCH[1] < 27))
}
local_go=$("$GO" env GOVERSION)
if older_than_go127 "$local_go"; then
  export GOTOOLCHAIN=$FUZZ_GOTOOLCHAIN
fi

# "dir name" pairs, sorted, from the test files git tracks or would add.
mapfile -t targets < <(
  git ls-files --cached --others --exclude-standard -- '*_test.go' |
    xargs grep -HoE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' |
    sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*$|\1 \2|' |
    awk -v pick="$pick" '$2 ~ pick' | sort
)
((${#targets[@]})) || { echo "fuzz: no target matches $pick" >&2; exit 2; }

printf 'fuzz: %d targets, %s each, with %s\n' "${#targets[@]}" "$FUZZTIME" "${GOTOOLCHAIN:-$local_go}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
passed=0 failed=()
for t in "${targets[@]}"; do
  dir=${t% *} name=${t#* }
  start=$SECONDS
  if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir" >"$out" 2>&1; then
    printf '%-28s ./%-30s ok    %3ds\n' "$name" "$dir" $((SECONDS - start))
    passed=$((passed + 1))
  else
    printf '%-28s ./%-30s FAIL  %3ds\n' "$name" "$dir" $((SECONDS - start))
    grep -v '^fuzz: elapsed' "$out" | sed 's/^/    /'
    # The failing input, also when this checkout is thrown away (CI).
    for f in $(sed -nE 's|.*Failing input written to (testdata/fuzz/[^ ]+).*|\1|p' "$out"); do
      printf '    %s/%s:\n' "$dir" "$f"
      sed 's/^/      /' "$dir/$f"
    done
    failed+=("$name")
  fi
done
printf 'fuzz: %d passed, %d failed\n' "$passed" "${#failed[@]}"
((${#failed[@]} == 0)) || { echo "failed: ${failed[*]}" >&2; exit 1; }
