# Passthru: two commands do everything on a fresh machine with Go.
#   make demo   runs the demo (every scenario against in-process services)
#   make test   runs the tests (SQLite; PostgreSQL too when available)
GO ?= go
COVERPROFILE ?= coverage.out
export COVERPROFILE

.PHONY: demo test test-postgres cover lint ci generate bench

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
	$(GO) run ./ci/covergate -profile $(COVERPROFILE)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

generate:
	$(GO) generate ./...

# ci is what .ci/run calls: lint, the whole suite on every available backend,
# then the coverage gate on the merged profile.
ci: lint
	PASSTHRU_TEST_DB=$${PASSTHRU_TEST_DB:-all} ./ci/test.sh
	$(GO) run ./ci/covergate -profile $(COVERPROFILE)
