# Herald's vocabulary: setup, run, build, test, lint, fmt, bench.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# One build cache outside the clone: fresh clones (and CI) on the same machine
# reuse earlier builds instead of starting cold. Override to taste.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/herald/target
HERALD_BIN := $(CARGO_TARGET_DIR)/debug/herald

.PHONY: help setup setup-build setup-e2e build run test fmt fmt-check lint check test-fast test-rust services e2e bench fuzz-api fuzz-api-quick

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

# The server binary and the console's wasm, CSS and assets (debug build).
build: setup-build
	cargo leptos build

# Local receivers (a webhook catcher on localhost) are reachable from `make run`:
# the destination guard otherwise refuses loopback and private addresses.
run: build
	@echo "make run: HERALD_OUTBOUND_ALLOW_CIDRS=$${HERALD_OUTBOUND_ALLOW_CIDRS-127.0.0.0/8,::1/128} (deliveries may reach loopback)"
	HERALD_OUTBOUND_ALLOW_CIDRS="$${HERALD_OUTBOUND_ALLOW_CIDRS-127.0.0.0/8,::1/128}" $(HERALD_BIN) serve

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

# The edit loop: what `make test` checks before it runs anything.
check: fmt-check lint

# Unit tests and the store conformance suite: no server, no browser.
test-fast:
	cargo test -p herald-engine
	cargo test -p herald-app --features ssr --lib
	cargo test -p herald-server --lib

# Per package, so features are not unified across the ssr and hydrate builds.
# A test whose service is missing is left out by name (and `services` says so),
# never passed silently.
test-rust: services
	cargo test -p herald-engine
	cargo test -p herald-app --features ssr
	cargo test -p herald-server -- --skip crash:: $$(scripts/services.sh skips)
	@# Shown in full: it reports how many deliveries arrived twice after the kill.
	cargo test -p herald-server --test it crash:: -- --nocapture

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

# Throughput on this machine (release build; prints numbers, asserts nothing about speed).
bench:
	cargo bench -p herald-server --bench throughput
	cargo bench -p herald-server --bench event_list
	cargo bench -p herald-server --bench stats
