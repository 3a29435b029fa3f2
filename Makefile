# The two commands: `make start` and `make test`. Each installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help install start build generate check-generated lint lint-spec typecheck unit test venv contract contract-docker fuzz

NODE_STAMP := node_modules/.install-stamp
REDIS_SERVER := /usr/bin/redis-server
# Debian's php-cli (PHP 8.2): `unit` compares the form reader with PHP's own parse_str.
PHP := /usr/bin/php
# A C++ compiler: npm ci compiles better-sqlite3's native module with it.
CXX_COMPILER := /usr/bin/g++
VENV_STAMP := .venv/.install-stamp
# The other-language consumers' tools (consumers/python/requirements.txt): `unit` needs them too, for
# src/spec/generators.test.ts (openapi-python-client against a gateway's served document).
CONSUMERS_VENV := .venv-consumers
CONSUMERS_STAMP := $(CONSUMERS_VENV)/.install-stamp
FUZZ_TIME ?= 300
FUZZ_SEED ?= random
export REDOCLY_TELEMETRY := off
export REDOCLY_SUPPRESS_UPDATE_NOTICE := true

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# better-sqlite3 (the embedded store of idempotency keys) is compiled from the source it ships, never
# downloaded as a prebuilt binary (build-from-source), against the headers of the Node that runs it
# (nodedir: node-gyp would download them otherwise).
NODE_PREFIX := $(shell node -p "require('node:path').resolve(process.execPath, '../..')" 2>/dev/null)
$(NODE_STAMP): package.json package-lock.json | $(CXX_COMPILER)
	env npm_config_build_from_source=true \
	$$( [ -f "$(NODE_PREFIX)/include/node/node.h" ] && echo npm_config_nodedir=$(NODE_PREFIX) ) \
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_STAMP) ## Install the Node dependencies (npm ci)

# Schemathesis, pinned in contract-tests/requirements.txt, in a project-local virtual environment.
$(VENV_STAMP): contract-tests/requirements.txt
	python3 -m venv .venv
	.venv/bin/pip install --disable-pip-version-check -q -r contract-tests/requirements.txt
	@touch $@

venv: $(VENV_STAMP) ## Create .venv with Schemathesis (contract-tests/requirements.txt)

start: $(NODE_STAMP) ## Run the gateway (against the embedded emulator unless a portal is configured)
	npx tsx src/main.ts

.PHONY: start-application
start-application: $(NODE_STAMP) ## Run the gateway as the application of two emulated portals, which install themselves (README's "Try it as an application")
	EMULATOR_APPLICATION=true npx tsx src/main.ts

build: $(NODE_STAMP) ## Compile src/ to plain JavaScript in dist/ (esbuild): what the Docker image runs with `node dist/main.js`
	npm run build --silent

generate: $(NODE_STAMP) ## Regenerate generated/ from openapi/openapi.yaml
	npx openapi-ts

check-generated: $(NODE_STAMP) ## Fail when generated/ differs from what the spec generates
	@rm -rf .generated-check
	@OPENAPI_TS_OUTPUT=.generated-check npx openapi-ts >/dev/null
	@diff -r generated .generated-check >/dev/null || { diff -ru generated .generated-check | head -40; \
		echo "generated/ is stale: run 'make generate' and commit it"; rm -rf .generated-check; exit 1; }
	@rm -rf .generated-check
	@echo "generated/ is up to date"

lint: $(NODE_STAMP) ## Lint and format check of the code (Biome: biome.json; `npx biome check --write .` fixes)
	npx biome ci .

lint-spec: $(NODE_STAMP) ## Lint the spec with Redocly (recommended-strict: 0 errors, 0 warnings)
	npx redocly lint --config openapi/redocly.yaml openapi/openapi.yaml

typecheck: $(NODE_STAMP) ## Type-check src/, generated/ and the tests
	npx tsc --noEmit

unit: $(NODE_STAMP) build $(REDIS_SERVER) $(PHP) $(CONSUMERS_STAMP) ## Unit, integration and property tests (vitest), the build's, the shared limit's (real redis-server) and the form reader's against PHP (php-cli) among them
	npx vitest run --reporter=default --reporter=json --outputFile.json=reports/unit/vitest.json

# The contract suites are independent (each starts its own servers on free ports and writes its own
# report), so `make -j` runs them side by side, as `make test` does.
contract: contract-run contract-selftest stock ## Schemathesis against the real gateway (fixed seed), the harness self-test, and the stock runs

.PHONY: contract-run contract-selftest
contract-run: $(NODE_STAMP) $(VENV_STAMP) ## Only the fixed-seed Schemathesis run (reports/contract/junit.xml)
	node --import tsx contract-tests/run.ts

contract-selftest: $(NODE_STAMP) $(VENV_STAMP) ## Only the contract harness's self-test (vitest; a Schemathesis run per case)
	npx vitest run --config contract-tests/vitest.config.ts --reporter=default --reporter=json \
		--outputFile.json=reports/contract/selftest.json

STOCK_CONFIGURATIONS := make-start emulator-key webhook oauth application
STOCK_RUNS := $(addprefix stock-,$(STOCK_CONFIGURATIONS))

.PHONY: stock $(STOCK_RUNS)
stock: $(STOCK_RUNS) ## A stock Schemathesis (no config, no hooks) against the served spec, in five configurations (stock-<name>: one)

# Application mode's run starts the built gateway (node dist/main.js) as the emulated cloud's application.
stock-application: build

$(STOCK_RUNS): stock-%: $(NODE_STAMP) $(VENV_STAMP)
	node --import tsx contract-tests/stock.ts $*

contract-docker: $(NODE_STAMP) ## The contract run in Docker: schemathesis/schemathesis:<pinned version>, same config
	npx tsx contract-tests/run.ts --docker

fuzz: $(NODE_STAMP) $(VENV_STAMP) ## Longer fuzzing (FUZZ_TIME=300 s), random seed printed; FUZZ_SEED=<n> reproduces
	npx tsx contract-tests/run.ts --seed=$(FUZZ_SEED) --max-time=$(FUZZ_TIME) --max-examples=1000 --report-dir=reports/fuzz

# A C++ compiler for better-sqlite3's native module (npm ci compiles it), from Debian's packages when missing
# (CXX_COMPILER is set at the top). Every other apt-get install comes after it: apt-get holds the dpkg lock.
$(CXX_COMPILER):
	@echo "Installing Debian's g++ to compile better-sqlite3 (apt-get)"
	@log=$$(mktemp); sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++; } >$$log 2>&1 \
		|| { tail -20 $$log; rm -f $$log; exit 1; }; rm -f $$log

# Debian's redis-server for the tests of the limit several replicas share (each test starts its own on a free
# loopback port, and stops it). REDIS_SERVER is set at the top: `unit` needs it.
$(REDIS_SERVER): | $(CXX_COMPILER)
	@echo "Installing Debian's redis-server for the shared-limit tests (apt-get)"
	@log=$$(mktemp); sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; } >$$log 2>&1 \
		|| { tail -20 $$log; rm -f $$log; exit 1; }; rm -f $$log

.PHONY: redis
redis: $(REDIS_SERVER) ## Install Debian's redis-server when /usr/bin/redis-server is missing

# compose.yaml without Docker (scripts/replicas.mjs): the emulator, a redis-server, three built gateways.
.PHONY: replicas
replicas: $(NODE_STAMP) build $(REDIS_SERVER) ## Three replicas sharing one redis-server, the emulator as their portal, on 127.0.0.1:8080-8082 (REPLICAS_PORT); Ctrl-C stops all
	@node scripts/replicas.mjs

# Debian's Chromium for the browser test (playwright-core drives it; it cannot download its own browsers here).
CHROMIUM := /usr/bin/chromium

# After redis-server's install, never beside it: apt-get holds the dpkg lock.
$(CHROMIUM): | $(REDIS_SERVER)
	@echo "Installing Debian's chromium for the browser test (apt-get, about 30 s)"
	@log=$$(mktemp); sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >$$log 2>&1 \
		|| { tail -20 $$log; rm -f $$log; exit 1; }; rm -f $$log

.PHONY: chromium browser
chromium: $(CHROMIUM) ## Install Debian's chromium when /usr/bin/chromium is missing

# Debian's php-cli for src/bitrix24-semantics/form-keys.php.test.ts (PHP's parse_str beside the gateway's
# reader). PHP is set at the top: `unit` needs it. After redis-server's install, and after chromium's when the
# same run installs it (make test, make browser): apt-get holds the dpkg lock.
$(PHP): | $(REDIS_SERVER) $(if $(filter test browser chromium,$(MAKECMDGOALS)),$(CHROMIUM))
	@echo "Installing Debian's php-cli for the form reader's comparison with PHP (apt-get)"
	@log=$$(mktemp); sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends php-cli; } >$$log 2>&1 \
		|| { tail -20 $$log; rm -f $$log; exit 1; }; rm -f $$log

.PHONY: php
php: $(PHP) ## Install Debian's php-cli when /usr/bin/php is missing

browser: $(NODE_STAMP) $(CHROMIUM) ## Browser test of /docs in headless Chromium
	npx vitest run --config vitest.browser.config.ts --reporter=default --reporter=json \
		--outputFile.json=reports/browser/vitest.json

# `make test` runs its suites side by side, TEST_JOBS at a time (make -j; default: the cores plus one, as
# the suites wait on servers and installs as much as they compute), the longest first, each one's output
# printed whole when it ends (-Otarget), and every suite even when one fails (-k). Then, failed or not:
# the check that no process the run started is still alive (scripts/leftover-processes.mjs, which finds
# them by TEST_CHECKOUT, exported to the whole run, or by their cwd and command line), and the closing line
# adding up the runners' reports (scripts/test-summary.mjs; CI reads it last). Any failure fails the run.
TEST_JOBS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
TEST_SUITES := unit $(STOCK_RUNS) contract-run contract-selftest consumers browser typecheck check-generated \
	lint-spec lint

# The reports the closing line adds up are this run's: the old ones go first.
.PHONY: clean-test-reports
clean-test-reports:
	@rm -f reports/unit/vitest.json reports/contract/junit.xml reports/contract/selftest.json reports/browser/vitest.json

test: export TEST_CHECKOUT := $(CURDIR)
test: clean-test-reports ## Everything CI runs: every suite (TEST_JOBS at a time), the leftover-process check, the count
	@status=0; \
	$(MAKE) --no-print-directory -k -j$(TEST_JOBS) -Otarget $(TEST_SUITES) || status=1; \
	node scripts/leftover-processes.mjs "$(CURDIR)" || status=1; \
	node scripts/test-summary.mjs || status=1; \
	exit $$status

# The benchmark's own tools (Stoplight Prism), pinned in bench/package-lock.json, out of the gateway's dependencies.
BENCH_STAMP := bench/node_modules/.install-stamp

$(BENCH_STAMP): bench/package.json bench/package-lock.json
	npm ci --prefix bench --no-audit --no-fund
	@touch $@

.PHONY: bench
bench: $(NODE_STAMP) $(BENCH_STAMP) build ## Benchmark: the built gateway vs the emulator and Prism, with wrk (a few minutes; not part of test); writes bench/results.md
	@command -v wrk >/dev/null || { echo "wrk not found: installing the Debian package"; \
		sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); $$sudo apt-get update -qq && $$sudo apt-get install -y -qq wrk; }
	node --import tsx bench/run.ts

# Clients generated in other languages from the unmodified spec, each calling the gateway (consumers/).
# Python: openapi-python-client and its client's runtime, pinned in consumers/python/requirements.txt, in
# their own venv. Go: oapi-codegen, pinned by the `tool` directive of consumers/go/go.mod (go.sum).
$(CONSUMERS_STAMP): consumers/python/requirements.txt
	python3 -m venv $(CONSUMERS_VENV)
	$(CONSUMERS_VENV)/bin/pip install --disable-pip-version-check -q -r consumers/python/requirements.txt
	@touch $@

.PHONY: consumers
consumers: $(NODE_STAMP) $(CONSUMERS_STAMP) ## Generate Python and Go clients from the spec and call the gateway with them
	rm -rf consumers/python/.generated
	PATH="$(CURDIR)/$(CONSUMERS_VENV)/bin:$$PATH" openapi-python-client generate --path openapi/openapi.yaml --meta none \
		--config consumers/python/openapi-python-client.yaml --output-path consumers/python/.generated/gateway_client --fail-on-warning
	cd consumers/go && go mod download && go tool oapi-codegen -config oapi-codegen.yaml ../../openapi/openapi.yaml
	npx tsx consumers/run.ts
