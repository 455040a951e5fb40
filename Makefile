# Herald's vocabulary: setup, run, build, test, lint, fmt, bench.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# One build cache outside the clone: fresh clones (and CI) on the same machine
# reuse earlier builds instead of starting cold. Override to taste.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/herald/target
HERALD_BIN := $(CARGO_TARGET_DIR)/debug/herald
RELEASE_BIN := $(CARGO_TARGET_DIR)/release/herald
LOAD_BIN := $(CARGO_TARGET_DIR)/release/herald-load

.PHONY: help setup setup-build setup-e2e build build-release build-bench watch run test fmt fmt-check lint check test-fast test-rust services e2e bench bench-load bench-postgres bench-instructions bench-console bench-rebuild bench-retention bench-validation bench-fanout soak loadtest fuzz-api fuzz-api-quick

help:
	@echo "make run    build and start Herald on SQLite under ./data (http://127.0.0.1:3000)"
	@echo "make test   formatting, clippy, every Rust test, then the browser tests"
	@echo "make setup  install missing tools (wasm target, cargo-leptos, wasm-bindgen, chromium, npm packages)"
	@echo "make check  formatting and clippy, no tests (the edit loop)"
	@echo "make test-fast  unit tests and the store conformance suite: no server, no browser"
	@echo "make fuzz-api  schemathesis over the OpenAPI document, every check, 10 minutes"

setup: setup-build setup-e2e

setup-build:
	@scripts/setup.sh build

setup-e2e:
	@scripts/setup.sh e2e

# The server binary and the console's wasm, CSS and assets beside it (debug
# build: the quickest to build, what the tests use).
build: setup-build
	scripts/build.sh debug

# The release server and the size-optimised console (wasm-opt, hashed names,
# precompressed): what `make run` serves.
build-release: setup-build
	scripts/build.sh release

# Local receivers (a webhook catcher on localhost) are reachable from `make run`:
# the destination guard otherwise refuses loopback and private addresses.
run: build-release
	@echo "make run: HERALD_OUTBOUND_ALLOW_CIDRS=$${HERALD_OUTBOUND_ALLOW_CIDRS-127.0.0.0/8,::1/128} (deliveries may reach loopback)"
	HERALD_OUTBOUND_ALLOW_CIDRS="$${HERALD_OUTBOUND_ALLOW_CIDRS-127.0.0.0/8,::1/128}" $(RELEASE_BIN) serve

# While working on the console: rebuilds and reloads the page on each change
# (cargo-leptos, installed by `scripts/setup.sh dev`; not needed otherwise).
watch:
	scripts/setup.sh dev
	cargo leptos watch

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all --check

# Each crate with each of its feature sets; `app` never with ssr and hydrate together.
lint: setup-build
	cargo clippy -p herald-engine --all-targets -- -D warnings
	cargo clippy -p herald-engine --no-default-features --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p herald-app --features ssr --all-targets -- -D warnings
	cargo clippy -p herald-app --features hydrate --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p herald-frontend --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p herald-server --all-targets -- -D warnings
	cargo clippy -p herald-load --all-targets -- -D warnings

# The edit loop: what `make test` checks before it runs anything.
check: fmt-check lint

# Unit tests and the store conformance suite: no server, no browser.
test-fast: services
	HERALD_TEST_POSTGRES=$$(scripts/services.sh postgres) cargo test -p herald-engine -- $$(scripts/services.sh skips)
	cargo test -p herald-app --features ssr --lib
	cargo test -p herald-server --lib
	cargo test -p herald-load

# Per package, so features are not unified across the ssr and hydrate builds.
# A test whose service is missing is left out by name (and `services` says so),
# never passed silently.
test-rust: services
	HERALD_TEST_POSTGRES=$$(scripts/services.sh postgres) cargo test -p herald-engine -- $$(scripts/services.sh skips)
	cargo test -p herald-app --features ssr
	cargo test -p herald-server -- --skip crash:: --skip nodes:: $$(scripts/services.sh skips)
	@# The HTTP suite again on PostgreSQL (a schema per server), less two tests
	@# that open SQLite's file itself and the live feed's 20,000-delivery load
	@# test (the feed does not touch the store; on a debug build against
	@# PostgreSQL its replay does not fit the test's 120 s on this machine).
	@# `services` says when PostgreSQL is missing.
	if [ -z "$$(scripts/services.sh postgres)" ]; then \
	  HERALD_TEST_BACKEND=postgres cargo test -p herald-server --test it -- --skip crash:: --skip nodes:: \
	    --skip security::secrets_are_sealed_at_rest_and_survive_a_master_key_rotation \
	    --skip tenancy::another_tenants_ids_change_nothing_on_any_route_or_server_function \
	    --skip recovery::a_live_client_that_stops_reading_is_dropped_without_slowing_delivery; \
	fi
	@# Shown in full: it reports how many deliveries arrived twice after the kill.
	cargo test -p herald-server --test it crash:: -- --nocapture
	@# Several `herald serve` processes on one PostgreSQL schema, one at a time
	@# (each runs thousands of deliveries), with their duplicate counts shown.
	if [ -z "$$(scripts/services.sh postgres)" ]; then \
	  cargo test -p herald-server --test it nodes:: -- --nocapture --test-threads=1 $$(scripts/services.sh skips); \
	fi
	cargo test -p herald-load

# Says which external services the tests can use here, and what is skipped without them.
services:
	@scripts/services.sh report

e2e: setup-e2e build
	cd end2end && HERALD_BIN="$(HERALD_BIN)" npx playwright test

# Schemathesis over /api/v1/openapi.json with every check (PyPI, in a virtualenv
# under the build cache): a bounded pass in `make test`, a long one on demand.
# Both fail on any failed check.
fuzz-api-quick: build
	scripts/fuzz-api.sh quick

fuzz-api: build
	scripts/fuzz-api.sh full

test: setup fmt-check lint test-rust e2e fuzz-api-quick

# Throughput on this machine (release build; prints numbers, asserts nothing about speed):
# the in-process benches, then the separate-process load generator.
bench:
	cargo bench -p herald-server --bench throughput
	cargo bench -p herald-server --bench event_list
	cargo bench -p herald-server --bench stats
	$(MAKE) bench-validation
	$(MAKE) bench-fanout
	$(MAKE) bench-load
	$(MAKE) bench-ordering
	$(MAKE) bench-postgres

# Single-event ingest throughput with schema_mode off, warn and enforce (a
# typical schema), and the check alone per event.
bench-validation:
	cargo bench -p herald-server --bench validation

# Ingest to 100 endpoints with no content filters, filters every event
# matches, and filters that each take a tenth of the events.
bench-fanout:
	cargo bench -p herald-server --bench fanout

# The release server, its console and the load generator (a process of its own).
build-bench: build-release
	cargo build --release -p herald-load --bin herald-load

# What a client in another process sees: ingest and delivery throughput, then
# ingest-to-receiver latency at 1,000 and 5,000 events/s (60 s each); then
# deliveries and 5,000 events/s again with the endpoint taking 64 requests at once.
bench-load: build-bench
	$(LOAD_BIN) --herald $(RELEASE_BIN) throughput
	$(LOAD_BIN) --herald $(RELEASE_BIN) latency --rates 1000,5000 --secs 60
	$(LOAD_BIN) --herald $(RELEASE_BIN) --max-in-flight 64 throughput --single-events 100 --batches 1 --deliveries 40000
	$(LOAD_BIN) --herald $(RELEASE_BIN) --max-in-flight 64 latency --rates 5000 --secs 60

# Delivery throughput by ordering, on SQLite and on PostgreSQL (one node):
# no order, ordered by key over 1,000 keys, ordered by endpoint (one stream).
bench-ordering: build-bench
	psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'herald_bench'" | grep -q 1 \
	  || psql -h 127.0.0.1 -U postgres -d postgres -qc "create database herald_bench"
	$(LOAD_BIN) --herald $(RELEASE_BIN) ordering
	$(LOAD_BIN) --herald $(RELEASE_BIN) --postgres postgres://postgres@127.0.0.1:5432/herald_bench ordering --deliveries 5000 --endpoint-deliveries 1000

# The same figures on PostgreSQL with 1, 2 and 3 nodes on this machine (every
# node on the same cores: the numbers show what coordination costs, not what
# more machines would gain). Each run makes a schema of herald_bench and drops it.
# Smaller runs than SQLite's: every event is delivered before the next phase,
# and deliveries on PostgreSQL go at a few hundred a second here (README).
bench-postgres: build-bench
	psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'herald_bench'" | grep -q 1 \
	  || psql -h 127.0.0.1 -U postgres -d postgres -qc "create database herald_bench"
	for n in 1 2 3; do \
	  $(LOAD_BIN) --herald $(RELEASE_BIN) --postgres postgres://postgres@127.0.0.1:5432/herald_bench --nodes $$n throughput --single-events 2000 --batches 2 --deliveries 2000; \
	  $(LOAD_BIN) --herald $(RELEASE_BIN) --postgres postgres://postgres@127.0.0.1:5432/herald_bench --nodes $$n latency --rates 1000 --secs 10; \
	done

# What a browser transfers and waits for on its first visit to the console
# (release build, precompressed), and with its cache warm. Prints figures.
bench-console: build-release setup-e2e
	cd end2end && HERALD_BIN="$(RELEASE_BIN)" node measure/first-load.mjs

# What `make run` rebuilds after a one-line change in an engine file
# (REBUILD_FILE, default engine/src/dispatch/mod.rs), timed on a warm cache.
bench-rebuild: setup-build
	scripts/measure-warm-rebuild.sh $(REBUILD_FILE)

# Publish latency on SQLite before, while and after retention prunes
# 1,000,000 expired events (each with a delivery and a receipt).
bench-retention: build-bench
	$(LOAD_BIN) --herald $(RELEASE_BIN) retention

# The soak test, not part of `make test`: 30 minutes (SOAK_MINUTES) of steady
# load at half the measured maximum, a flaky receiver, a replay and a retention
# pass; CSV and chart in docs/soak/. SOAK_BACKEND=postgres runs two nodes.
soak: build-bench
	scripts/soak.sh

# Instructions per ingested event and per delivery, counted by callgrind.
bench-instructions: build-bench
	$(LOAD_BIN) --herald $(RELEASE_BIN) instructions

# Mixed publishes and reads: 100 requests/s for 10 minutes, then 1,000/s for a
# minute; success rate and percentiles. Not part of `make test`.
loadtest: build-bench
	$(LOAD_BIN) --herald $(RELEASE_BIN) load
