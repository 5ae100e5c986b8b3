# Passthru: two commands do everything on a fresh machine.
#   make demo   runs the demo (every scenario against in-process services)
#   make test   runs the tests (SQLite; PostgreSQL too when available)
#   make crash-test  runs only the crash-safety test (scenarios/crash) on
#               PostgreSQL: the KMS and Identity as processes, killed with
#               SIGKILL under load and restarted, lose nothing acknowledged
#               (`make test` runs it too, on its PostgreSQL leg)
#   make load   measures the demo services under load (bench/load): latency,
#               throughput and server CPU per request for each endpoint
#   make soak   a bounded mixed load on the demo services for SOAK_TIME
#               (default 10m) at SOAK_RATE req/s: errors, p50/p99 per
#               endpoint, RSS at start and end; fails on any error or RSS
#               growth over SOAK_MAX_RSS_GROWTH percent (default 20)
#   make images builds the container images (see below)
#   make fuzz   runs every fuzz target (ci/fuzz.sh) for FUZZTIME each
#               (default 1m), one after another
#   make cover  checks the coverage floors on the last test run's profile,
#               rerunning `make test` first when there is no profile or a Go
#               source is newer than it (so it needs what `make test` needs)
#
# Prerequisites:
#   demo: Go (the version in go.mod) and a C compiler (SQLite goes through cgo)
#   test: the same, plus headless Chromium (the browser tests; PASSTHRU_CHROMIUM
#         names another binary), NSS's certutil (the browser's CA trust) and
#         OpenSSL (TLS interoperability tests). Debian:
#           apt-get install gcc chromium libnss3-tools openssl
#         PostgreSQL runs too when PASSTHRU_TEST_PG_DSN is set or Docker has
#         the PostgreSQL image (PASSTHRU_TEST_PG_IMAGE; `make images` builds
#         one offline and names it in deployments/.env), one container for the
#         run (PASSTHRU_TEST_DB=sqlite|postgres|all picks).
#   images, demo-compose: Docker with docker-compose; the offline base images
#         also need root and debootstrap (see the Deploying section).
GO ?= go
COVERPROFILE ?= coverage.out
export COVERPROFILE
# The KMS handler and business packages carry a higher floor: they hold the
# request path and the key rules.
COVERGATE_FLAGS ?= -min services/kms/httpapi=85 -min services/kms/keys=85

.PHONY: demo test test-postgres crash-test fuzz cover lint ci generate bench bench-run bench-update bench-ab load soak images compose-init compose-tls demo-compose compose-down

# demo builds first, saying so: a cold build compiles SQLite's C sources and
# every dependency, which `go run` would do in silence for a minute or two.
DEMO_BIN ?= bin/demo

demo:
	@echo "Building the demo (first run compiles everything, a minute or two)..."
	$(GO) build -o $(DEMO_BIN) ./scenarios/cmd/demo
	./$(DEMO_BIN) all

test:
	./ci/test.sh

# load starts the demo services as a child process (`demo integration
# --keep-running`, on a fresh PostgreSQL database when PASSTHRU_TEST_PG_DSN is
# set), drives every KMS and Identity endpoint over loopback TLS 1.3 with
# bounded load, verifies every answer, and prints a table plus benchstat
# lines. LOAD_FLAGS adds flags, e.g. LOAD_FLAGS='-n 2000 -c 50' or
# LOAD_FLAGS='-out baselines/load-sqlite.txt'; see bench/load and -h.
LOAD_BIN ?= bin/load
LOAD_FLAGS ?=

load:
	@echo "Building the demo and the load harness (first run compiles everything)..."
	$(GO) build -o $(DEMO_BIN) ./scenarios/cmd/demo
	$(GO) build -o $(LOAD_BIN) ./bench/cmd/load
	./$(LOAD_BIN) -demo-bin $(DEMO_BIN) $(LOAD_FLAGS)

# soak is load's -soak mode: the endpoints mixed (KMS encrypt, decrypt,
# sign, verify with every credential kind, Identity token and
# introspection) at SOAK_RATE requests per second for SOAK_TIME, after a
# warm-up; it prints p50/p99 per endpoint and per tenth of the run, and the
# server's RSS at the start of the soak and at its end. Any failed request
# or check, or RSS growth over SOAK_MAX_RSS_GROWTH percent, fails it. CI runs
# SOAK_TIME=30s.
SOAK_TIME ?= 10m
SOAK_RATE ?= 50
SOAK_CONNS ?= 10
SOAK_MAX_RSS_GROWTH ?= 20

soak:
	@echo "Building the demo and the load harness (first run compiles everything)..."
	$(GO) build -o $(DEMO_BIN) ./scenarios/cmd/demo
	$(GO) build -o $(LOAD_BIN) ./bench/cmd/load
	./$(LOAD_BIN) -demo-bin $(DEMO_BIN) -cold 0 -soak $(SOAK_TIME) -rate $(SOAK_RATE) -c $(SOAK_CONNS) -max-rss-growth $(SOAK_MAX_RSS_GROWTH) $(LOAD_FLAGS)

test-postgres:
	PASSTHRU_TEST_DB=postgres ./ci/test.sh

# crash-test writes its coverage beside coverage.out, not over it: `make
# cover` would take a one-package profile for the whole suite's.
crash-test:
	PASSTHRU_TEST_DB=postgres GO_TEST_FLAGS='-count=1 -v -run TestCrash' COVERPROFILE=coverage.out.crash ./ci/test.sh ./scenarios/crash/...

# fuzz runs each Go fuzz target (every func FuzzXxx in a _test.go file, found
# by ci/fuzz.sh) for FUZZTIME, one target per go test invocation, and fails
# when one fails; FUZZ picks targets by name (a grep -E pattern). The seed
# corpus of each target (its f.Add seeds and testdata/fuzz/FuzzXxx/) runs in
# every `make test` as well.
FUZZTIME ?= 1m
FUZZ ?= .

fuzz:
	FUZZTIME=$(FUZZTIME) ./ci/fuzz.sh '$(FUZZ)'

# cover enforces the per-package statement coverage floor on the profile
# written by the last test run. The profile depends on every Go source and
# the module files, so a missing or stale profile reruns the tests first: a
# gate on the coverage of code that has changed since would say nothing.
GO_SOURCES := $(shell find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*') go.mod go.sum

$(COVERPROFILE): $(GO_SOURCES)
	./ci/test.sh

cover: $(COVERPROFILE)
	$(GO) run ./ci/cmd/covergate -root . $(COVERGATE_FLAGS) $(COVERPROFILE)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags $(BENCH_TAGS) ./bench/...
	@# The compose stack's demo client is built without cgo (demo-compose):
	@# what it links must build so, SQLite's driver then being a stub.
	CGO_ENABLED=0 $(GO) build -o /dev/null ./scenarios/cmd/demo

generate:
	$(GO) generate ./...

# bench runs the hot-path benchmarks (bench/) into $(BENCH_OUT) and gates them
# against baselines/bench.txt with ci/benchgate: allocs/op, B/op and custom
# counts (queries/op, pbkdf2/op) fail when they regress; sec/op is printed, not
# gated (CI machines differ). Production-cost benchmarks run once per count.
# The sqlite_trace tag compiles SQLite's statement trace into the driver, so
# the endpoint benchmarks count the statements a request runs (queries/op);
# the first build with it recompiles SQLite's C sources once.
BENCH_OUT ?= bench.out
BENCH_COUNT ?= 6
BENCH_TIME ?= 200ms
BENCH_TAGS ?= sqlite_trace

bench-run:
	$(GO) test -tags $(BENCH_TAGS) -run '^$$' -bench . -skip Production -benchmem -count=$(BENCH_COUNT) -benchtime=$(BENCH_TIME) ./bench/... > $(BENCH_OUT) || { cat $(BENCH_OUT); exit 1; }
	$(GO) test -tags $(BENCH_TAGS) -run '^$$' -bench Production -benchmem -count=$(BENCH_COUNT) -benchtime=1x ./bench/... >> $(BENCH_OUT) || { cat $(BENCH_OUT); exit 1; }

bench: bench-run
	$(GO) run ./ci/benchgate -baseline baselines/bench.txt -new $(BENCH_OUT)

bench-update: bench-run
	$(GO) run ./ci/benchgate -baseline baselines/bench.txt -new $(BENCH_OUT) -update -commit $$(git rev-parse HEAD)

# bench-ab gates time, which bench cannot: it builds the endpoint benchmarks
# (whole HTTP requests) of the commit baselines/bench.txt was recorded at
# (its "commit:" line, else the merge-base with main; BENCH_AB_BASE
# overrides both) and of the working tree, runs the two binaries back to
# back for BENCH_AB_ROUNDS rounds on this machine, and fails when the working
# tree costs significantly (p < 0.05) and more than 15% more CPU time per
# request. See baselines/README.md. About four minutes on the shared 2-core
# machine, both builds included; over six while others load it heavily.
BENCH_AB_BENCH ?= ^Benchmark(KMS|Identity)
BENCH_AB_ROUNDS ?= 8
BENCH_AB_TIME ?= 1000x
BENCH_AB_BASE ?=

bench-ab:
	$(GO) run ./ci/benchgate -ab -baseline baselines/bench.txt -pkg ./bench/ -tags $(BENCH_TAGS) -bench '$(BENCH_AB_BENCH)' -rounds $(BENCH_AB_ROUNDS) -benchtime $(BENCH_AB_TIME) -go $(GO)$(if $(BENCH_AB_BASE), -base $(BENCH_AB_BASE))

# ci is what .ci/run calls: lint, the whole suite on every available backend
# under the race detector, the coverage gate on the merged profile, then the
# benchmark gate (benchmarks run without -race: its instrumentation would
# change what they count). With -race the suite takes about 3 minutes per
# backend on a 2-core machine, so CI stays well under 25 minutes.
CI_TEST_FLAGS ?= -race -count=1

ci: lint
	PASSTHRU_TEST_DB=$${PASSTHRU_TEST_DB:-all} GO_TEST_FLAGS='$(CI_TEST_FLAGS)' ./ci/test.sh
	$(GO) run ./ci/cmd/covergate -root . $(COVERGATE_FLAGS) $(COVERPROFILE)
	$(MAKE) bench

# images builds the service images passthru/kms:latest and
# passthru/identity:latest (deployments/{kms,identity}/Dockerfile) from
# binaries the host's Go builds into $(IMAGES_DIR) (cgo: the host's glibc must
# not be newer than bookworm's). PASSTHRU_IMAGES picks their runtime image:
#   local  (default; for machines without a registry) first runs
#          deployments/images/build.sh (root and debootstrap; it reuses images
#          whose inputs did not change) for passthru-local/debian:bookworm and
#          passthru-local/postgres:15, builds FROM the former, and writes
#          deployments/.env, which docker-compose reads, so compose and
#          testcontainers (PASSTHRU_PG_IMAGE, PASSTHRU_TEST_PG_IMAGE,
#          PASSTHRU_KMS_IMAGE, PASSTHRU_IDENTITY_IMAGE) use these images;
#   public builds FROM debian:bookworm-slim (pulled) and removes a
#          deployments/.env that `make images` wrote, so compose uses the
#          public defaults again.
# Either way it ends with compose-init (the stack's CA, certificates and
# generated secrets, kept when present), so the compose stack can start.
PASSTHRU_IMAGES ?= local
IMAGES_DIR ?= bin/images
ifeq ($(PASSTHRU_IMAGES),public)
RUNTIME_IMAGE ?= debian:bookworm-slim
else
RUNTIME_IMAGE ?= passthru-local/debian:bookworm
endif
IMAGES_ENV_HEADER := \# Written by make images (PASSTHRU_IMAGES=local): the images built on this machine.

images:
	@case "$(PASSTHRU_IMAGES)" in local|public) ;; *) echo "PASSTHRU_IMAGES must be local or public, not $(PASSTHRU_IMAGES)" >&2; exit 2;; esac
	@if [ "$(PASSTHRU_IMAGES)" = local ]; then ./deployments/images/build.sh; fi
	rm -rf $(IMAGES_DIR) && mkdir -p $(IMAGES_DIR)/kms $(IMAGES_DIR)/identity
	CGO_ENABLED=1 GOOS=linux $(GO) build -trimpath -o $(IMAGES_DIR)/kms/kms ./services/kms/cmd/kms
	CGO_ENABLED=1 GOOS=linux $(GO) build -trimpath -o $(IMAGES_DIR)/identity/identity ./services/identity/cmd/identity
	docker build -q --build-arg RUNTIME_IMAGE=$(RUNTIME_IMAGE) -t passthru/kms:latest -f deployments/kms/Dockerfile $(IMAGES_DIR)/kms
	docker build -q --build-arg RUNTIME_IMAGE=$(RUNTIME_IMAGE) -t passthru/identity:latest -f deployments/identity/Dockerfile $(IMAGES_DIR)/identity
	@if [ "$(PASSTHRU_IMAGES)" = local ]; then \
		printf '%s\n' '$(IMAGES_ENV_HEADER)' \
			PASSTHRU_PG_IMAGE=passthru-local/postgres:15 PASSTHRU_TEST_PG_IMAGE=passthru-local/postgres:15 \
			PASSTHRU_KMS_IMAGE=passthru/kms:latest PASSTHRU_IDENTITY_IMAGE=passthru/identity:latest \
			>deployments/.env && echo "wrote deployments/.env"; \
	elif [ -f deployments/.env ] && [ "$$(head -n 1 deployments/.env)" = '$(IMAGES_ENV_HEADER)' ]; then \
		rm deployments/.env && echo "removed deployments/.env (it named the local images)"; \
	fi
	@docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^passthru(-local)?/'
	@# What the stack needs besides images, so that `make images` then
	@# `docker-compose -f deployments/compose.yml --profile demo up -d` starts it.
	$(MAKE) --no-print-directory compose-init
# The compose stack (deployments/compose.yml; see its header for the
# profiles). compose-init generates deployments/.run/{tls,secrets} for the
# dev, demo and ci profiles with deployments/cmd/stackinit (idempotent: it
# keeps what exists). demo-compose brings the stack up in COMPOSE_PROFILE
# (demo, or ci with a second replica of each service), waits for every
# container to be healthy (at most COMPOSE_HEALTH_TIMEOUT seconds), then runs
# `demo all` on the compose network against it (ci: also through the
# second KMS replica, and `demo identity` through the second Identity
# replica), then the KMS scenario from the host through the published
# port(s), and exits with the demo's status;
# on failure it prints the services' logs. The stack stays up: compose-down
# removes it with its volumes. It needs the images (make images);
# COMPOSE_IMAGES_TARGET= skips building them.
COMPOSE ?= docker-compose
COMPOSE_PROJECT ?= passthru
COMPOSE_PROFILE ?= demo
COMPOSE_HEALTH_TIMEOUT ?= 180
COMPOSE_IMAGES_TARGET ?= images
COMPOSE_RUN = $(COMPOSE) -f deployments/compose.yml -p $(COMPOSE_PROJECT) --profile $(COMPOSE_PROFILE)
COMPOSE_DEMO_FLAGS = --no-color --ca-cert /var/lib/passthru/tls/ca.pem \
	--kms-demo-file /var/lib/passthru-kms/demo.json --identity-demo-file /var/lib/passthru-identity/demo.json
COMPOSE_DEMO = $(COMPOSE_RUN) --profile demo-runner run --rm demo

compose-init:
	$(GO) run ./deployments/cmd/stackinit -dir deployments/.run

# compose-tls is compose-init under the name the telemetry stack's notes use:
# one bootstrap makes the certificates and the secrets.
compose-tls: compose-init

demo-compose: compose-init $(COMPOSE_IMAGES_TARGET)
	@# Static, so it runs in any image: it talks to the running services only.
	CGO_ENABLED=0 $(GO) build -o deployments/.run/bin/demo ./scenarios/cmd/demo
	$(COMPOSE_RUN) up -d || { code=$$?; $(COMPOSE_RUN) logs --no-color --tail=300; exit $$code; }
	COMPOSE='$(COMPOSE)' ./deployments/scripts/wait-healthy.sh $(COMPOSE_HEALTH_TIMEOUT) -f deployments/compose.yml -p $(COMPOSE_PROJECT) --profile $(COMPOSE_PROFILE)
	$(COMPOSE_DEMO) all $(COMPOSE_DEMO_FLAGS) --kms-url https://kms:8081 --identity-url https://identity:8082 \
		|| { code=$$?; $(COMPOSE_RUN) logs --no-color --tail=300; exit $$code; }
	@# From the host through the published port (127.0.0.1, verified against
	@# the CA): the KMS's own scenario, with its demo.json copied out.
	docker cp $$($(COMPOSE_RUN) ps -q kms):/var/lib/passthru/demo.json deployments/.run/kms-demo.json
	./deployments/.run/bin/demo kms --no-color --kms-url https://127.0.0.1:8081 --kms-demo-file deployments/.run/kms-demo.json \
		--ca-cert deployments/.run/tls/ca.pem || { code=$$?; $(COMPOSE_RUN) logs --no-color --tail=300; exit $$code; }
	@# ci: the second KMS replica with the first Identity (the KMS introspects
	@# at https://identity:8082, and a revocation made at another Identity
	@# replica reaches that one only within tokens.change_check_interval, so
	@# the demo's "refused at once" step needs one Identity), then the second
	@# Identity replica's own scenario.
	@if [ "$(COMPOSE_PROFILE)" = ci ]; then \
		$(COMPOSE_DEMO) all $(COMPOSE_DEMO_FLAGS) --kms-url https://kms-2:8081 --identity-url https://identity:8082 \
		&& $(COMPOSE_DEMO) identity $(COMPOSE_DEMO_FLAGS) --identity-url https://identity-2:8082 \
		&& ./deployments/.run/bin/demo kms --no-color --kms-url https://127.0.0.1:18081 --kms-demo-file deployments/.run/kms-demo.json \
			--ca-cert deployments/.run/tls/ca.pem \
		|| { code=$$?; $(COMPOSE_RUN) logs --no-color --tail=300; exit $$code; }; \
	fi

compose-down:
	$(COMPOSE) -f deployments/compose.yml -p $(COMPOSE_PROJECT) --profile dev --profile demo --profile ci --profile prod --profile demo-runner down -v
