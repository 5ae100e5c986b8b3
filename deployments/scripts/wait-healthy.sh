#!/usr/bin/env bash
# wait-healthy.sh TIMEOUT_SECONDS COMPOSE_ARGS...
# Waits until every container of the compose project (as COMPOSE_ARGS select
# it: -f files, -p project, --profile) is running and healthy, polling once a
# second; docker-compose 1.x has no `up --wait`. On timeout, or when a
# container exits, it prints each container's state and the project's logs
# and exits 1.
set -euo pipefail
timeout=$1
shift
compose=(${COMPOSE:-docker-compose} "$@")
deadline=$((SECONDS + timeout))
while :; do
	ids=$("${compose[@]}" ps -q)
	pending=0
	bad=0
	for id in $ids; do
		state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
		case $state in
		"running healthy" | "running none") ;;
		"running starting") pending=1 ;;
		*) bad=1 ;;
		esac
	done
	if [ -n "$ids" ] && [ $pending = 0 ] && [ $bad = 0 ]; then
		echo "all $(wc -w <<<"$ids") containers healthy after ${SECONDS}s"
		exit 0
	fi
	if [ $bad = 1 ] || [ $SECONDS -ge $deadline ]; then
		echo "containers not healthy (after ${SECONDS}s):" >&2
		for id in $ids; do
			docker inspect -f '  {{.Name}}: {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}} (exit {{.State.ExitCode}})' "$id" >&2
		done
		"${compose[@]}" logs --no-color --tail=200 >&2 || true
		exit 1
	fi
	sleep 1
done
