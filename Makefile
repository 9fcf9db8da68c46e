# Trellis — the two commands a user needs: `make demo` and `make test`.
# Both install what is missing first (npm packages; Debian packages when run as root).

SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.trellis-installed
SOURCES := $(shell find src test bench examples -name '*.ts' 2>/dev/null) tsconfig.json package.json
# Debian packages the tests and benchmarks use, keyed by the command that proves they are there.
TEST_PACKAGES := dig:dnsutils curl:curl openssl:openssl etcd:etcd-server chromium:chromium testssl:testssl.sh go:golang-go ip:iproute2 prometheus:prometheus nft:nftables
BENCH_PACKAGES := wrk:wrk haproxy:haproxy nginx:nginx

.PHONY: all demo test lint bench faults build deps system-deps-test system-deps-bench clean

all: build

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(NODE_MODULES_STAMP)

# A clean output each build (tsc is not incremental here, so it costs nothing): the compiled
# copy of a test whose source was removed must not run on.
dist/.built: $(NODE_MODULES_STAMP) $(SOURCES)
	rm -rf dist
	npx tsc -p tsconfig.json
	@touch $@

build: dist/.built

system-deps-test:
	@./scripts/ensure-packages.sh $(TEST_PACKAGES)

system-deps-bench:
	@./scripts/ensure-packages.sh $(BENCH_PACKAGES)

demo: build
	node dist/examples/demo/demo.js

# Import boundaries (.dependency-cruiser.cjs: layers, no cycle between folders, nothing but the
# CLI imports src/cli) and a type-aware lint (eslint.config.js). About 20 s; no build needed.
lint: $(NODE_MODULES_STAMP)
	npx depcruise --config .dependency-cruiser.cjs src
	npx eslint --max-warnings 0 .

# Tests that build hosts out of network namespaces, and the latency tests with a 100 ms bound that a
# neighbour's CPU and disk load can break (during an expiry storm; the cross-replica watch over etcd,
# issue 6), run alone after the rest (SERIAL_TESTS).
SERIAL_TESTS := dist/test/mesh/hello-go.test.js dist/test/mesh/partition.test.js dist/test/control-plane/scale.test.js dist/test/control-plane/etcd-replicas.test.js

test: build system-deps-test lint
	node --test --test-concurrency=2 --test-timeout=180000 $$(find dist/test -name '*.test.js' | sort | grep -v -x -F $(addprefix -e ,$(SERIAL_TESTS)))
	node --test --test-concurrency=1 --test-timeout=300000 $(SERIAL_TESTS)

bench: build system-deps-bench
	node dist/bench/run.js

# The fault suite (docs/operations.md, "Faults"): as root, hosts made of network namespaces, a
# partition, loss, a flapping link, SIGSTOP, kill -9…; a table; exit 1 when a fault goes over budget.
faults: build system-deps-test
	node dist/bench/faults/run.js

clean:
	rm -rf dist
