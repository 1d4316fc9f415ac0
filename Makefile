# libmqtt: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := decode_stream roundtrip encode_structured client server

.PHONY: all demo test setup fmt-check lint unit no-std docs fuzz-smoke fuzz-corpus bench help

all: test

help:
	@echo "make demo        show libmqtt working (codec tour for now)"
	@echo "make test        the whole test suite (installs what it needs)"
	@echo "make fuzz-smoke  every fuzz target for $(FUZZ_SECONDS)s on nightly"
	@echo "make bench       codec and client benchmarks beside peer crates; prints the tables"

## demo: a guided tour of the codec (decode, encode, errors with reason codes).
demo: setup
	$(CARGO) run --quiet -p mqtt-core --example codec_tour

## test: THE test command. Installs missing tools, then runs everything.
test: setup fmt-check lint no-std docs unit

setup:
	@command -v $(CARGO) >/dev/null || { echo "Rust (cargo) is required: https://rustup.rs"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	@# mosquitto for tests/tests/interop_mosquitto.rs, which starts its own
	@# broker on a free loopback port: a system service apt may start on
	@# 1883 is never used and does not matter.
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || { \
	  echo "installing mosquitto (for the interop tests)"; \
	  SUDO=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto; }
	@# mosquitto_pub / mosquitto_sub: third-party clients for
	@# tests/tests/interop_broker.rs (our example broker against them).
	@command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null || { \
	  echo "installing mosquitto-clients (for the broker interop tests)"; \
	  SUDO=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto-clients; }
	@# paho-mqtt 2.x in .venv: the Python client of tests/py/paho_interop.py.
	@test -x .venv/bin/python || { \
	  echo "creating .venv (Python, for the paho-mqtt interop tests)"; \
	  python3 -m venv .venv || { \
	    SUDO=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && \
	    rm -rf .venv && python3 -m venv .venv; }; }
	@.venv/bin/python -c 'import paho.mqtt, sys; sys.exit(not paho.mqtt.__version__.startswith("2."))' 2>/dev/null || { \
	  echo "installing paho-mqtt 2.x into .venv"; \
	  .venv/bin/pip install -q 'paho-mqtt>=2,<3'; }

fmt-check:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The core builds with core + alloc only: for the host without default
## features, and for a bare-metal target (no std at all) when rustup can add it.
NO_STD_TARGET ?= thumbv7em-none-eabihf
no-std:
	$(CARGO) build -p mqtt-core --no-default-features
	@if rustup target list --installed 2>/dev/null | grep -qx $(NO_STD_TARGET) || rustup target add $(NO_STD_TARGET); then \
	  echo "$(CARGO) build -p mqtt-core --no-default-features --target $(NO_STD_TARGET)"; \
	  $(CARGO) build -p mqtt-core --no-default-features --target $(NO_STD_TARGET); \
	else \
	  echo "NOTE: could not install $(NO_STD_TARGET); the bare-metal no_std build was NOT checked (host build above passed)"; \
	fi

docs:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --quiet

unit:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

## fuzz-smoke: each cargo-fuzz target for FUZZ_SECONDS on nightly; fails on any crash.
fuzz-smoke: fuzz-corpus
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
	cd fuzz && $(CARGO) +nightly fuzz build -O
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  (cd fuzz && $(CARGO) +nightly fuzz run -O $$t corpus/$$t corpus/seed -- \
	     -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 | tail -n 12) || exit 1; \
	done

## Seed corpus for the fuzzers, written from the golden byte vectors.
fuzz-corpus:
	$(CARGO) run --quiet -p mqtt-tests --bin write-seed-corpus -- fuzz/corpus/seed

## bench: criterion benchmarks beside the peer codecs (not a test); three
## runs, lowest estimate of each, table written to bench/RESULTS.md.
bench:
	bench/run-all.sh
