# Passthru: two commands do everything on a fresh machine with Go.
#   make demo   runs the demo (every scenario against in-process services)
#   make test   runs the tests (SQLite; PostgreSQL too when available)
GO ?= go
COVERPROFILE ?= coverage.out
export COVERPROFILE
# The KMS handler and business packages carry a higher floor (issue 3).
COVERGATE_FLAGS ?= -min services/kms/httpapi=85 -min services/kms/keys=85

.PHONY: demo test test-postgres cover lint ci generate bench bench-run bench-update

demo:
	$(GO) run ./scenarios/cmd/demo all

test:
	./ci/test.sh

test-postgres:
	PASSTHRU_TEST_DB=postgres ./ci/test.sh

# cover enforces the per-package statement coverage floor on the profile
# written by the last test run (running the tests first when there is none).
cover:
	@test -f $(COVERPROFILE) || ./ci/test.sh
	$(GO) run ./ci/cmd/covergate -root . $(COVERGATE_FLAGS) $(COVERPROFILE)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

generate:
	$(GO) generate ./...

# bench runs the hot-path benchmarks (bench/) into $(BENCH_OUT) and gates them
# against baselines/bench.txt with ci/benchgate: allocs/op, B/op and custom
# counts (queries/op, pbkdf2/op) fail when they regress; sec/op is printed, not
# gated (CI machines differ). Production-cost benchmarks run once per count.
BENCH_OUT ?= bench.out
BENCH_COUNT ?= 6
BENCH_TIME ?= 200ms

bench-run:
	$(GO) test -run '^$$' -bench . -skip Production -benchmem -count=$(BENCH_COUNT) -benchtime=$(BENCH_TIME) ./bench/... > $(BENCH_OUT) || { cat $(BENCH_OUT); exit 1; }
	$(GO) test -run '^$$' -bench Production -benchmem -count=$(BENCH_COUNT) -benchtime=1x ./bench/... >> $(BENCH_OUT) || { cat $(BENCH_OUT); exit 1; }

bench: bench-run
	$(GO) run ./ci/benchgate -baseline baselines/bench.txt -new $(BENCH_OUT)

bench-update: bench-run
	$(GO) run ./ci/benchgate -baseline baselines/bench.txt -new $(BENCH_OUT) -update

# ci is what .ci/run calls: lint, the whole suite on every available backend,
# the coverage gate on the merged profile, then the benchmark gate.
ci: lint
	PASSTHRU_TEST_DB=$${PASSTHRU_TEST_DB:-all} GO_TEST_FLAGS=-count=1 ./ci/test.sh
	$(GO) run ./ci/cmd/covergate -root . $(COVERGATE_FLAGS) $(COVERPROFILE)
	$(MAKE) bench
