# Floodgate: every target installs what it needs, so a fresh clone works with one command.
SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: run test build lint format check bench bench-instructions clean docker

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_MODULES_STAMP)

dist/.built: $(NODE_MODULES_STAMP) $(shell find src proto bench test/harness -type f 2>/dev/null) tsconfig.json tsconfig.build.json
	npx tsc -p tsconfig.build.json
	cp src/store/redis/*.lua dist/src/store/redis/
	@touch dist/.built

build: dist/.built

## Start the service on embedded defaults (in-memory store unless REDIS_URL is set).
run: build
	node dist/src/app/cli.js serve

## Typecheck, lint, format check, then every test suite.
test: $(NODE_MODULES_STAMP)
	bash scripts/ensure-test-tools.sh
	npx tsc -p tsconfig.json --noEmit
	npx eslint .
	npx prettier --check .
	$(MAKE) build
	npx vitest run --reporter=default --reporter=json --outputFile=.vitest-report.json
	node scripts/test-summary.mjs .vitest-report.json

## Measurements, not tests: prints a table per scenario and rewrites docs/benchmarks.md.
## Optional: apt-get install -y nghttp2-client (h2load), a load generator that uses far less CPU.
bench: build
	node dist/bench/run.js

## Instructions per request under callgrind, a count that does not depend on the machine's load
## (needs valgrind and h2load: apt-get install -y valgrind nghttp2-client). Writes
## docs/benchmarks-instructions.md.
bench-instructions: build
	node dist/bench/instructions.js

IMAGE ?= floodgate:$(shell node -p "require('./package.json').version")

## Build the container image (Dockerfile). Needs a Docker engine, not only the docker client.
docker:
	@command -v docker >/dev/null 2>&1 || { echo "make docker: the docker command is not installed; install Docker to build $(IMAGE)." >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make docker: no Docker engine is reachable ('docker info' failed). Start Docker, or build $(IMAGE) on a machine that has an engine." >&2; exit 1; }
	docker build -t $(IMAGE) .

format: $(NODE_MODULES_STAMP)
	npx prettier --write .

clean:
	rm -rf dist coverage
