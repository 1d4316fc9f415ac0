# libmqtt: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
# Seconds per fuzz target: 60 for fuzz-smoke, 1800 for fuzz-long unless given.
FUZZ_SECONDS ?=
FUZZ_TARGETS ?= decode_stream roundtrip encode_structured client server broker ffi differential store_frames
# fuzz-long: how many targets run at once.
FUZZ_JOBS ?= 1

.PHONY: all demo broker test setup fmt-check lint unit no-std docs fuzz-smoke fuzz-corpus fuzz-tools fuzz-long bench help conformance

all: test

help:
	@echo "make demo        show libmqtt working (Python asyncio client and broker; BROKER=host:port to use yours)"
	@echo "make test        the whole test suite (installs what it needs)"
	@echo "make conformance  coverage of the MQTT 3.1.1 and 5.0 normative statements per role (tests/conformance/*.map)"
	@echo "make fuzz-smoke  every fuzz target for $(or $(FUZZ_SECONDS),60)s on nightly, from the kept corpus"
	@echo "make fuzz-long   fuzz campaigns: every target for $(or $(FUZZ_SECONDS),1800)s (FUZZ_SECONDS, FUZZ_TARGETS, FUZZ_JOBS),"
	@echo "                 corpus minimised into fuzz/corpus-kept, coverage table in fuzz/COVERAGE.md"
	@echo "make bench       codec and client benchmarks beside peer crates; prints the tables"
	@echo "make broker      the broker binary target/release/libmqtt-broker (reads mosquitto.conf; or: cargo install --path broker)"
	@echo "make bench-broker  broker engine in memory, and example broker vs. mosquitto on 127.0.0.1"
	@echo "make bench-broker-mosq  libmqtt-broker vs. mosquitto, same mosquitto.conf, libmosquitto load, TCP and TLS (QUICK=1: short)"
	@echo "make bench-store-choice  the durable store chosen by measurement: append-only log vs. redb vs. fjall (issue 18)"
	@echo "make bench-durable  QoS 1 with persistent sessions (persistence off/periodic/sync) and restart time, ours vs. mosquitto (QUICK=1: short)"
	@echo "make bench-hostile  libmqtt-broker vs. mosquitto under hostile load: memory peak and recovery (QUICK=1: short)"
	@echo "make bench-idle  memory per idle connection (10,000; IDLE_N) and recovery after close, ours vs. mosquitto"
	@echo "make bench-tokio  the tokio client mqtt-tokio vs. rumqttc 0.25 through mosquitto and our broker (msg/s, CPU, allocations)"
	@echo "make bench-tokio-otel  the cost of mqtt-tokio's OpenTelemetry instrumentation (off / no-op / SDK)"
	@echo "make bench-py    Python clients (asyncio, sync) vs. paho-mqtt and gmqtt through mosquitto and our broker, codec vs. mqtt5 (bench/py/.venv)"
	@echo "make wheel       the manylinux abi3 wheel of py/ in target/wheels/ (installs without Rust); make sdist the source archive"
	@echo "make install PREFIX=/usr/local  the C library (libmqtt.a, libmqtt.so), include/mqtt.h and mqtt.pc (DESTDIR for staging)"
	@echo "make c-size / c-heap / c-bench  C library size, heap per handle, throughput beside libmosquitto"
	@echo "make c-firmware  the bare-metal libmqtt.a (Cortex-M0+, M3, M4F); c-firmware-test runs it in QEMU"
	@echo "make c-firmware-size  what libmqtt adds to a Cortex-M3 image, per feature set, beside coreMQTT"

## demo: the Python package end to end: creates .venv if missing, installs
## ./py, then round-trips QoS 0/1/2 with MQTT 5.0 features on the embedded
## asyncio broker (127.0.0.1, a free port), or on BROKER=host:port if given.
BROKER ?=
demo:
	@command -v $(CARGO) >/dev/null || { echo "Rust (cargo) is required to build the Python module: https://rustup.rs"; exit 1; }
	@test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install -q ./py
	.venv/bin/python py/demo.py $(if $(BROKER),--broker $(BROKER))

## broker: the broker binary, target/release/libmqtt-broker (`cargo install
## --path broker` installs it into ~/.cargo/bin). Run it with a
## mosquitto.conf: target/release/libmqtt-broker -c /etc/mosquitto/mosquitto.conf
broker:
	$(CARGO) build --release -p libmqtt-broker

## test: THE test command. Installs missing tools, then runs everything.
test: setup fmt-check lint no-std docs unit c-test c-firmware-test py-test tokio-ws-test tokio-otel-test wheel-test

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
	@# mqtt-tokio's optional features (websocket, opentelemetry) and the tests that need them.
	$(CARGO) clippy -p mqtt-tokio --all-targets --all-features -- -D warnings
	@# The bare-metal C library (no std), with every part and with the least.
	@rustup target list --installed 2>/dev/null | grep -x thumbv7m-none-eabi >/dev/null || rustup target add thumbv7m-none-eabi
	$(CARGO) clippy -p mqtt-ffi --target thumbv7m-none-eabi --no-default-features \
	  --features firmware,client,server,codec,error-text -- -D warnings
	$(CARGO) clippy -p mqtt-ffi --target thumbv7m-none-eabi --no-default-features \
	  --features firmware,client -- -D warnings

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
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p mqtt-tokio --no-deps --all-features --quiet

unit:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

## conformance: the coverage of the conformance maps
## (tests/conformance/mqtt-3.1.1.map, mqtt-5.0.map: every normative
## statement with its role, status and tests): per version and role, the
## statements tested, not applicable and still to do, and tested / (tested +
## todo). Fails if the maps are inconsistent (the same checks as
## tests/tests/conformance_map.rs, which `make test` runs). TODO=1 also
## lists the statements still to do.
conformance:
	$(CARGO) run --quiet -p mqtt-tests --bin conformance-report -- $(if $(TODO),--todo)

## fuzz-smoke: each cargo-fuzz target for FUZZ_SECONDS (60) on nightly,
## starting from the kept corpus (fuzz/corpus-kept/<target>, in the
## repository) and the golden vectors; fails on any crash.
fuzz-smoke: fuzz-corpus fuzz-tools
	cd fuzz && $(CARGO) +nightly fuzz build -O
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t fuzz/corpus-kept/$$t; \
	  echo "== fuzz $$t for $(or $(FUZZ_SECONDS),60)s"; \
	  (cd fuzz && $(CARGO) +nightly fuzz run -O $$t corpus/$$t corpus-kept/$$t corpus/seed -- \
	     -max_total_time=$(or $(FUZZ_SECONDS),60) -print_final_stats=1 2>&1 | tail -n 12) || exit 1; \
	done

fuzz-tools:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal

## fuzz-long: a campaign per target (fuzz/campaign.sh): FUZZ_SECONDS (1800)
## on the persistent working corpus fuzz/corpus/<target> (gitignored),
## seeded from the kept corpus; then `cargo fuzz cmin` back into
## fuzz/corpus-kept/<target> (commit it), and the coverage of that corpus
## (`cargo fuzz coverage`, llvm-cov from nightly's llvm-tools-preview).
## FUZZ_JOBS targets run at once. Writes fuzz/COVERAGE.md.
fuzz-long: fuzz-corpus fuzz-tools
	@rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^llvm-tools' || \
	  rustup component add llvm-tools-preview --toolchain nightly
	cd fuzz && $(CARGO) +nightly fuzz build -O
	printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -I{} \
	  env CARGO=$(CARGO) nice -n 5 fuzz/campaign.sh {} $(or $(FUZZ_SECONDS),1800)
	python3 fuzz/coverage-table.py fuzz/COVERAGE.md $(FUZZ_TARGETS)
	@du -sh --apparent-size fuzz/corpus-kept/* | sed 's/^/kept corpus: /'

## Seed corpus for the fuzzers, written from the golden byte vectors.
fuzz-corpus:
	$(CARGO) run --quiet -p mqtt-tests --bin write-seed-corpus -- fuzz/corpus/seed

## bench: criterion benchmarks beside the peer codecs (not a test); three
## runs, lowest estimate of each, table written to bench/RESULTS.md.
bench:
	bench/run-all.sh

## bench-broker: the broker benchmarks (not a test): the engine in memory
## (Criterion, three runs) and the release example broker against Debian's
## mosquitto on 127.0.0.1 under the same load; sections of bench/RESULTS.md.
.PHONY: bench-broker
bench-broker:
	bench/run-broker.sh

## bench-store-choice: issue 18's store chosen by measurement (not a test):
## an append-only log (std::fs, [len][crc32c][body] frames, one sync_data
## per batch; plain and pre-sized), redb (one write transaction per batch,
## Durability::Immediate) and fjall (one batch per commit, SyncData and
## SyncAll) under the broker's workload (N = 1, 16, 128 records of ~100 B
## inserted and as many deleted per durable batch) and a recovery of
## 1,000,000 records; medians of 3 runs, markdown printed (the figures are
## in bench/store-choice/RESULTS.md). bench/store-choice is a standalone
## cargo project (its own Cargo.lock and target/), like bench/.
.PHONY: bench-store-choice
bench-store-choice:
	cd bench/store-choice && $(CARGO) build --release && \
	  target/release/store-choice --runs 3 --seconds 5 --dir target/data
	@if command -v strace >/dev/null; then bench/store-choice/syscalls.sh; \
	else echo "strace missing (apt-get install strace): sync calls per batch not counted"; fi

## mosq_load: the libmosquitto load program (bench/mosq-load/mosq_load.c),
## installing Debian's libmosquitto-dev when its header is missing.
MOSQ_LOAD := bench/target/mosq-load/mosq_load
$(MOSQ_LOAD): bench/mosq-load/mosq_load.c
	@test -f /usr/include/mosquitto.h || { \
	  echo "installing libmosquitto-dev (the benchmark load)"; \
	  SUDO=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmosquitto-dev; }
	@mkdir -p $(dir $@)
	gcc -std=c11 -O2 -Wall -Wextra -Werror -pthread $< -lmosquitto -o $@

## bench-broker-mosq: issue 17's benchmark (not a test): Debian's mosquitto
## and libmqtt-broker in the same run, each given the same mosquitto.conf per
## case, loaded by mosq_load (libmosquitto), plain TCP and TLS: msg/s, broker
## CPU per message, peak RSS; table appended to bench/RESULTS.md.
## QUICK=1 for a few seconds per case (printed, not appended).
.PHONY: bench-broker-mosq
bench-broker-mosq: $(MOSQ_LOAD)
	$(CARGO) build --release -p libmqtt-broker
	python3 bench/broker-mosq.py --load $(MOSQ_LOAD) --no-build $(if $(QUICK),,--markdown-out bench/RESULTS.md)

## bench-durable: issue 18's durability benchmark (not a test): QoS 1 msg/s
## with persistent subscribers, libmqtt-broker with persistence false,
## periodic and sync beside mosquitto with persistence true (autosave 1800)
## and false, same mosquitto.conf, libmosquitto load; and restart time with
## 1,000,000 retained messages and 100,000 persistent sessions (built
## through the broker, SIGTERM, restart: time to the first CONNACK), ours
## vs. mosquitto; then the throughput again with a Receive Maximum (and
## max_inflight_messages) of 200 instead of 20; sections appended to
## bench/RESULTS.md. QUICK=1 for a
## short version (100,000 retained, 10,000 sessions; printed, not appended).
.PHONY: bench-durable
bench-durable: $(MOSQ_LOAD)
	$(CARGO) build --release -p libmqtt-broker
	python3 bench/broker-durable.py --load $(MOSQ_LOAD) --no-build $(if $(QUICK),,--markdown-out bench/RESULTS.md)
	python3 bench/broker-durable.py --load $(MOSQ_LOAD) --no-build --parts throughput --receive-max 200 \
	  $(if $(QUICK),,--markdown-out bench/RESULTS.md)

## bench-hostile: hostile load against both brokers with the same
## mosquitto.conf (idle and slowloris sockets, garbage, oversized packets, a
## subscriber that stops reading, churn, persistent sessions, many
## subscriptions): RSS peak and after recovery, and a fresh client's round
## trip after each phase; table appended to bench/RESULTS.md. QUICK=1 for a
## short version (printed, not appended).
.PHONY: bench-hostile
bench-hostile:
	$(CARGO) build --release -p libmqtt-broker
	python3 bench/hostile-load.py --no-build $(if $(QUICK),,--markdown-out bench/RESULTS.md)

## bench-idle: memory per idle connection (not a test, issue 17): the
## example broker (or IDLE_BROKER, a command where {port} is replaced,
## printing `listening on ADDR`) and mosquitto each get IDLE_N connections
## (CONNECT/CONNACK, then idle); RSS and PSS before, with them idle and
## after closing them (bench/idle-connections.py; IDLE_ARGS for more, e.g.
## IDLE_ARGS='--address 127.0.0.1:1884' for a broker whose port is set in
## its configuration file).
IDLE_N ?= 10000
IDLE_BROKER ?=
IDLE_ARGS ?=
.PHONY: bench-idle
bench-idle:
	$(CARGO) build --release -p mqtt-core --example broker
	python3 bench/idle-connections.py -n $(IDLE_N) $(if $(IDLE_BROKER),--broker '$(IDLE_BROKER)') $(IDLE_ARGS)

## bench-tokio: the tokio client benchmark of issue 15 (not a test):
## mqtt-tokio beside rumqttc 0.25 in the same run, through Debian's
## mosquitto and through the release example broker on 127.0.0.1, QoS
## 0/1/2, one publisher to one subscriber and 4 x 4; messages/s, client CPU
## and heap allocations per message, losses; best of 3 runs, section of
## bench/RESULTS.md (bench/run-tokio.sh, bench/tokio-clients.py).
.PHONY: bench-tokio
bench-tokio:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || $(MAKE) setup
	bench/run-tokio.sh

## bench-tokio-otel: the cost of mqtt-tokio's OpenTelemetry instrumentation
## (issue 16; not a test): off, on with no-op providers, on with the SDK
## (batch span processor), QoS 0 and 1, in one run through the release
## example broker (bench/run-tokio-otel.sh, bench/src/bin/tokio_otel.rs).
.PHONY: bench-tokio-otel
bench-tokio-otel:
	bench/run-tokio-otel.sh

## py-test: the Python package (py/): rustfmt and clippy on its extension
## crate, then `pip install ./py` into .venv (created if missing) with
## pytest, websockets and opentelemetry-sdk (tests/test_telemetry.py), and
## pytest.
.PHONY: py-test
py-test:
	$(CARGO) fmt --manifest-path py/Cargo.toml --check
	$(CARGO) clippy --manifest-path py/Cargo.toml -- -D warnings
	@test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/pip install -q ./py pytest websockets opentelemetry-sdk
	.venv/bin/python -m pytest py/tests -q

## tokio-ws-test: mqtt-tokio's `websocket` feature (after py-test, which
## installs libmqtt and websockets into .venv): tokio/tests/websocket.rs
## against the Python broker's WebSocket listener and small WebSocket
## servers, and the crate's unit tests and doctests with the feature on.
## (`unit` leaves the test out: it has required-features = ["websocket"].)
.PHONY: tokio-ws-test
tokio-ws-test:
	LIBMQTT_PYTHON=$(CURDIR)/.venv/bin/python $(CARGO) test -p mqtt-tokio --features websocket --lib --test websocket
	$(CARGO) test -p mqtt-tokio --features websocket --doc

## tokio-otel-test: mqtt-tokio's `opentelemetry` feature (after py-test,
## which installs libmqtt and opentelemetry-sdk into .venv):
## tokio/tests/opentelemetry.rs (through our example broker, recorded with
## opentelemetry_sdk's in-memory exporters), tokio/tests/opentelemetry_python.rs
## (a Rust publisher and a Python subscriber in one trace), the crate's
## unit tests and doctests with the feature on; and the `tracing-spans`
## feature's tokio/tests/tracing_spans.rs. (`unit` leaves the tests
## out: they have required-features; `lint` and `docs`
## check the feature with --all-features.)
.PHONY: tokio-otel-test
tokio-otel-test:
	LIBMQTT_PYTHON=$(or $(LIBMQTT_PYTHON),$(CURDIR)/.venv/bin/python) $(CARGO) test -p mqtt-tokio --features opentelemetry --lib \
	  --test opentelemetry --test opentelemetry_python
	$(CARGO) test -p mqtt-tokio --features opentelemetry --doc
	$(CARGO) test -p mqtt-tokio --features tracing-spans --test tracing_spans

## wheel: the manylinux abi3 wheel of py/ (one file for CPython 3.10 and
## later; installs without Rust) in target/wheels/: maturin links with zig
## against glibc 2.17 symbols (--compatibility manylinux2014) and strips
## it; cargo's output goes to target/wheel-build, the build tools (pinned,
## from PyPI) to their own venv, target/wheel-venv. Fails unless the file
## name says cp310-abi3-manylinux and `auditwheel show` finds the wheel
## consistent with that tag (py/tests_wheel/check_tag.py).
WHEEL_DIR := target/wheels
WHEEL_VENV := target/wheel-venv
WHEEL_TOOLS := maturin==1.16.0 ziglang==0.17.1 auditwheel==6.8.2
MATURIN := PATH="$(abspath $(WHEEL_VENV))/bin:$$PATH" $(WHEEL_VENV)/bin/maturin
.PHONY: wheel-tools wheel sdist sdist-test wheel-test
wheel-tools:
	@test -x $(WHEEL_VENV)/bin/python || python3 -m venv $(WHEEL_VENV) || { \
	  SUDO=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && \
	  rm -rf $(WHEEL_VENV) && python3 -m venv $(WHEEL_VENV); }
	@$(WHEEL_VENV)/bin/pip install -q $(WHEEL_TOOLS)

wheel: wheel-tools
	@command -v $(CARGO) >/dev/null || { echo "Rust (cargo) is required to build the wheel: https://rustup.rs"; exit 1; }
	rm -f $(WHEEL_DIR)/libmqtt-*.whl
	$(MATURIN) build --release --strip --zig --compatibility manylinux2014 \
	  -m py/Cargo.toml --target-dir target/wheel-build --out $(WHEEL_DIR)
	$(WHEEL_VENV)/bin/python py/tests_wheel/check_tag.py $(WHEEL_DIR)/libmqtt-*.whl
	@ls -l $(WHEEL_DIR)/libmqtt-*.whl

## sdist: the source distribution in target/wheels/ (maturin sdist); fails
## unless it carries the path dependency core/ and the workspace manifest
## that core/Cargo.toml inherits from, so that `pip install
## libmqtt-*.tar.gz` builds where Rust is installed.
SDIST_FILES := Cargo.toml core/Cargo.toml core/src/lib.rs py/Cargo.toml py/Cargo.lock \
  py/src/lib.rs pyproject.toml python/libmqtt/__init__.py
sdist: wheel-tools
	rm -f $(WHEEL_DIR)/libmqtt-*.tar.gz
	$(MATURIN) sdist -m py/Cargo.toml --out $(WHEEL_DIR)
	tar tzf $(WHEEL_DIR)/libmqtt-*.tar.gz > $(WHEEL_DIR)/sdist-files.txt
	@for f in $(SDIST_FILES); do \
	  grep -qx "libmqtt-[^/]*/$$f" $(WHEEL_DIR)/sdist-files.txt || { echo "sdist: $$f is missing"; exit 1; }; \
	done
	@echo "sdist: $$(wc -l < $(WHEEL_DIR)/sdist-files.txt) files, core/ included: $$(ls $(WHEEL_DIR)/libmqtt-*.tar.gz)"

## sdist-test (not part of `make test`: a cold build, and pip fetches
## maturin from PyPI): builds a wheel from the sdist as pip would on a
## machine with Rust (a scratch target directory), then runs the wheel
## test on that wheel.
sdist-test: sdist
	rm -rf target/sdist-test && mkdir -p target/sdist-test
	CARGO_TARGET_DIR=$(abspath target/sdist-test/cargo) $(WHEEL_VENV)/bin/pip wheel --no-deps --no-cache-dir \
	  -w target/sdist-test $(WHEEL_DIR)/libmqtt-*.tar.gz
	py/tests_wheel/check_wheel.sh target/sdist-test/libmqtt-*.whl target/sdist-test/check

## wheel-test: the wheel and the sdist built and checked (above), then the
## wheel installed into a fresh venv with no Rust on PATH and run: import,
## the command line (broker, sub, pub) and an asyncio round trip on
## 127.0.0.1 (py/tests_wheel/check_wheel.sh).
wheel-test: wheel sdist
	py/tests_wheel/check_wheel.sh $(WHEEL_DIR)/libmqtt-*.whl target/wheel-test

## c-test: the C library (ffi-c/): include/mqtt.h regenerated and compared
## (drift fails), compiled as C99 and C++; the C tests (client, broker,
## codec) under ASan+UBSan and under valgrind; the firmware example (client
## and broker in one program, also under valgrind); the examples pub/sub,
## and their interop with mosquitto
## on 127.0.0.1 (3.1.1 and 5.0, QoS 0-2). `make c-header` rewrites the header.
C_BUILD := target/c-test
C_LIBS := -lpthread -ldl -lm
C_STRICT := -std=c99 -Wall -Wextra -Werror -pedantic
.PHONY: c-test c-header c-tools
c-tools:
	@command -v cbindgen >/dev/null || { echo "installing cbindgen"; $(CARGO) install cbindgen --locked; }
	@command -v valgrind >/dev/null || { \
	  echo "installing valgrind (for the C tests)"; \
	  SUDO=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; }

c-header: c-tools
	cbindgen --quiet --config ffi-c/cbindgen.toml --crate mqtt-ffi --output include/mqtt.h ffi-c

c-test: setup c-tools
	@mkdir -p $(C_BUILD)
	cbindgen --quiet --config ffi-c/cbindgen.toml --crate mqtt-ffi --output $(C_BUILD)/mqtt.h ffi-c
	@diff -u include/mqtt.h $(C_BUILD)/mqtt.h || { echo "include/mqtt.h differs from what cbindgen generates: run 'make c-header' and commit it"; exit 1; }
	@printf '#include "mqtt.h"\nint main(void) { return mqtt_status_str(MQTT_STATUS_OK) == 0; }\n' > $(C_BUILD)/header.c
	gcc $(C_STRICT) -Iinclude -c $(C_BUILD)/header.c -o $(C_BUILD)/header_c.o
	g++ -Wall -Wextra -Werror -pedantic -Iinclude -x c++ -c $(C_BUILD)/header.c -o $(C_BUILD)/header_cpp.o
	$(CARGO) build -p mqtt-ffi --features test-panic
	cp target/debug/libmqtt.a $(C_BUILD)/libmqtt-test.a
	gcc $(C_STRICT) -g -fsanitize=address,undefined -fno-sanitize-recover=all -Iinclude \
	  ffi-c/tests/test_client.c $(C_BUILD)/libmqtt-test.a $(C_LIBS) -o $(C_BUILD)/test_client_asan
	RUST_BACKTRACE=0 ASAN_OPTIONS=detect_leaks=1 $(C_BUILD)/test_client_asan 2>$(C_BUILD)/test_client_asan.stderr || { cat $(C_BUILD)/test_client_asan.stderr; exit 1; }
	gcc $(C_STRICT) -g -Iinclude ffi-c/tests/test_client.c $(C_BUILD)/libmqtt-test.a $(C_LIBS) -o $(C_BUILD)/test_client
	RUST_BACKTRACE=0 valgrind -q --leak-check=full --error-exitcode=1 $(C_BUILD)/test_client 2>$(C_BUILD)/test_client_valgrind.stderr || { cat $(C_BUILD)/test_client_valgrind.stderr; exit 1; }
	for t in test_broker test_codec test_device; do \
	  gcc $(C_STRICT) -g -fsanitize=address,undefined -fno-sanitize-recover=all -Iinclude \
	    ffi-c/tests/$$t.c $(C_BUILD)/libmqtt-test.a $(C_LIBS) -o $(C_BUILD)/$${t}_asan && \
	  { RUST_BACKTRACE=0 ASAN_OPTIONS=detect_leaks=1 $(C_BUILD)/$${t}_asan 2>$(C_BUILD)/$${t}_asan.stderr || { cat $(C_BUILD)/$${t}_asan.stderr; exit 1; }; } && \
	  gcc $(C_STRICT) -g -Iinclude ffi-c/tests/$$t.c $(C_BUILD)/libmqtt-test.a $(C_LIBS) -o $(C_BUILD)/$$t && \
	  { RUST_BACKTRACE=0 valgrind -q --leak-check=full --error-exitcode=1 $(C_BUILD)/$$t 2>$(C_BUILD)/$${t}_valgrind.stderr || { cat $(C_BUILD)/$${t}_valgrind.stderr; exit 1; }; } || exit 1; \
	done
	$(CARGO) build -p mqtt-ffi --release
	cp target/release/libmqtt.a $(C_BUILD)/libmqtt.a
	for e in pub sub firmware; do \
	  gcc -std=c99 -O2 -Wall -Wextra -Werror -pedantic -Iinclude ffi-c/examples/$$e.c $(C_BUILD)/libmqtt.a $(C_LIBS) -o $(C_BUILD)/$$e || exit 1; \
	done
	@# The firmware-style example: client and broker over a loopback, no sockets.
	$(C_BUILD)/firmware
	valgrind -q --leak-check=full --error-exitcode=1 $(C_BUILD)/firmware >/dev/null
	ffi-c/tests/interop_mosquitto.sh $(C_BUILD)
	@# make c-install into a scratch prefix; an example built through pkg-config runs.
	rm -rf $(C_BUILD)/prefix
	$(MAKE) --no-print-directory c-install PREFIX=$(abspath $(C_BUILD))/prefix
	gcc -std=c99 -Wall -Werror $$(PKG_CONFIG_PATH=$(C_BUILD)/prefix/lib/pkgconfig pkg-config --cflags mqtt) \
	  ffi-c/examples/sub.c $$(PKG_CONFIG_PATH=$(C_BUILD)/prefix/lib/pkgconfig pkg-config --libs --static mqtt) -o $(C_BUILD)/sub-pkgconfig
	@# --help exits 2 after printing the usage: the shared library loaded.
	rc=0; LD_LIBRARY_PATH=$(C_BUILD)/prefix/lib $(C_BUILD)/sub-pkgconfig --help 2>/dev/null || rc=$$?; test $$rc = 2
	@# grep reads all of ldd's output (not -q: with pipefail, an early exit
	@# of grep can kill ldd with SIGPIPE and fail the line at random).
	LD_LIBRARY_PATH=$(C_BUILD)/prefix/lib ldd $(C_BUILD)/sub-pkgconfig | grep 'libmqtt.so.0 => .*prefix/lib/libmqtt.so.0' >/dev/null
	@# The SONAME the program recorded, and the symlinks make install laid out.
	readelf -d $(C_BUILD)/prefix/lib/libmqtt.so.$(C_VERSION) | grep 'SONAME.*\[libmqtt.so.0\]' >/dev/null
	test "$$(readlink $(C_BUILD)/prefix/lib/libmqtt.so.0)" = libmqtt.so.$(C_VERSION)
	test "$$(readlink $(C_BUILD)/prefix/lib/libmqtt.so)" = libmqtt.so.0
	@echo "c-test: all passed"

## c-install (also `make install`): libmqtt.a, the shared library as
## libmqtt.so.VERSION (SONAME libmqtt.so.0, set by ffi-c/build.rs) with the
## symlinks libmqtt.so.0 and libmqtt.so, mqtt.h and mqtt.pc under PREFIX
## (default /usr/local; DESTDIR for staging).
PREFIX ?= /usr/local
C_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
.PHONY: install c-install c-heap
install: c-install
c-install:
	$(CARGO) build -p mqtt-ffi --release
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 target/release/libmqtt.a $(DESTDIR)$(PREFIX)/lib/libmqtt.a
	install -m 755 target/release/libmqtt.so $(DESTDIR)$(PREFIX)/lib/libmqtt.so.$(C_VERSION)
	ln -sf libmqtt.so.$(C_VERSION) $(DESTDIR)$(PREFIX)/lib/libmqtt.so.0
	ln -sf libmqtt.so.0 $(DESTDIR)$(PREFIX)/lib/libmqtt.so
	install -m 644 include/mqtt.h $(DESTDIR)$(PREFIX)/include/mqtt.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(C_VERSION)|' ffi-c/mqtt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mqtt.pc

## c-heap: heap bytes per client handle and per broker connection (a
## measurement, not a test).
c-heap:
	$(CARGO) build -p mqtt-ffi --release
	@mkdir -p $(C_BUILD)
	for t in heap_per_client heap_per_connection; do \
	  gcc -std=c99 -O2 -Iinclude ffi-c/tests/$$t.c target/release/libmqtt.a $(C_LIBS) -o $(C_BUILD)/$$t && \
	  $(C_BUILD)/$$t || exit 1; \
	done

## c-size: text/data/bss of the firmware example (client and broker)
## linked statically against libmqtt.a built with the release-size profile
## (opt-level z, LTO, panic=abort), beside the text of Debian's
## libmosquitto.so / libpaho-mqtt3c.so when present (a measurement).
.PHONY: c-size
c-size:
	$(CARGO) build -p mqtt-ffi --profile release-size
	@mkdir -p $(C_BUILD)
	gcc -std=c99 -Os -ffunction-sections -fdata-sections -Wl,--gc-sections -Iinclude \
	  ffi-c/examples/firmware.c target/release-size/libmqtt.a $(C_LIBS) -o $(C_BUILD)/firmware-size
	strip $(C_BUILD)/firmware-size
	$(C_BUILD)/firmware-size >/dev/null
	size $(C_BUILD)/firmware-size
	@for l in /usr/lib/*/libmosquitto.so.1 /usr/lib/*/libpaho-mqtt3c.so.1; do \
	  if [ -e "$$l" ]; then size -d "$$(readlink -f $$l)"; fi; \
	done

## c-firmware: libmqtt.a for bare metal (no std; features firmware, client,
## server; release-size profile) for Cortex-M3 (thumbv7m-none-eabi) and
## Cortex-M4F (thumbv7em-none-eabihf), in
## target/firmware/cargo/<triple>/release-size/. A target directory of its
## own: builds of other feature sets (the size report) write
## target/<triple>/release-size/libmqtt.a, and one running at the same
## time would swap the library under the link. Installs what is missing:
## the two rustup targets, and the Arm GNU toolchain, newlib and QEMU that
## c-firmware-test uses.
FIRMWARE_TARGETS := thumbv7m-none-eabi thumbv7em-none-eabihf thumbv6m-none-eabi
FIRMWARE_FEATURES := firmware,client,server
FW_CARGO_DIR := target/firmware/cargo
## Cortex-M0/M0+ (thumbv6m) has no compare-and-swap: the `no-cas` feature
## and a portable-atomic cfg for single-core chips, in a target directory
## of its own (other RUSTFLAGS).
FW_V6M_DIR := target/firmware/cargo-v6m
FW_V6M_RUSTFLAGS := --cfg portable_atomic_unsafe_assume_single_core
.PHONY: c-firmware c-firmware-test
c-firmware:
	@command -v $(CARGO) >/dev/null || { echo "Rust (cargo) is required: https://rustup.rs"; exit 1; }
	@for t in $(FIRMWARE_TARGETS); do \
	  rustup target list --installed 2>/dev/null | grep -x $$t >/dev/null || rustup target add $$t || exit 1; \
	done
	@# libc_nano.a of the Cortex-M3 multilib: newlib-nano is installed.
	@command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null && \
	  test -f "$$(arm-none-eabi-gcc -mthumb -mcpu=cortex-m3 -print-file-name=libc_nano.a)" || { \
	  echo "installing gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm (for the firmware test)"; \
	  SUDO=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm; }
	for t in thumbv7m-none-eabi thumbv7em-none-eabihf; do \
	  $(CARGO) rustc -p mqtt-ffi --lib --crate-type staticlib --profile release-size --target $$t \
	    --target-dir $(FW_CARGO_DIR) --no-default-features --features $(FIRMWARE_FEATURES) || exit 1; \
	done
	RUSTFLAGS="$(FW_V6M_RUSTFLAGS)" $(CARGO) rustc -p mqtt-ffi --lib --crate-type staticlib \
	  --profile release-size --target thumbv6m-none-eabi --target-dir $(FW_V6M_DIR) \
	  --no-default-features --features $(FIRMWARE_FEATURES),no-cas

## c-firmware-test: ffi-c/firmware/test_firmware.c (client and broker in one
## image, over an in-memory loopback, on a fake clock) built for Cortex-M3
## with newlib-nano and run under QEMU (mps2-an385) with semihosting: its
## exit status is QEMU's, so a failed check fails the target. Prints the
## heap and stack high-water marks (heap-hwm-client, heap-hwm, stack-hwm;
## also in target/firmware/qemu.log, which the size report greps). The same
## program runs for Cortex-M4F (thumbv7em-none-eabihf, hard float) on
## mps2-an386, and for Cortex-M0+ (thumbv6m-none-eabi) on mps2-an385: QEMU
## has no M0+ board with this memory, and an M3 runs the ARMv6-M
## instruction set unchanged, so the M0+ library's code is what runs.
FW_BUILD := target/firmware
FW_SRC := ffi-c/firmware/startup.c ffi-c/firmware/test_firmware.c
FW_CFLAGS := -std=c99 -Wall -Wextra -Werror -Os -ffunction-sections -fdata-sections \
  -Iinclude -Iffi-c/firmware -Iffi-c/tests
FW_LDFLAGS := --specs=nano.specs -nostartfiles -T ffi-c/firmware/an385.ld \
  -Wl,--gc-sections -Wl,--no-warn-execstack
FW_QEMU := qemu-system-arm -M mps2-an385 -nographic -semihosting-config enable=on,target=native
c-firmware-test: c-firmware
	@mkdir -p $(FW_BUILD)
	arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb $(FW_CFLAGS) $(FW_SRC) $(FW_LDFLAGS) \
	  -Wl,-Map=$(FW_BUILD)/test_firmware.map \
	  $(FW_CARGO_DIR)/thumbv7m-none-eabi/release-size/libmqtt.a -o $(FW_BUILD)/test_firmware.elf
	arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 $(FW_CFLAGS) \
	  $(FW_SRC) $(FW_LDFLAGS) -Wl,-Map=$(FW_BUILD)/test_firmware-m4f.map \
	  $(FW_CARGO_DIR)/thumbv7em-none-eabihf/release-size/libmqtt.a -o $(FW_BUILD)/test_firmware-m4f.elf
	arm-none-eabi-gcc -mcpu=cortex-m0plus -mthumb $(FW_CFLAGS) $(FW_SRC) $(FW_LDFLAGS) \
	  -Wl,-Map=$(FW_BUILD)/test_firmware-m0.map \
	  $(FW_V6M_DIR)/thumbv6m-none-eabi/release-size/libmqtt.a -o $(FW_BUILD)/test_firmware-m0.elf
	arm-none-eabi-size $(FW_BUILD)/test_firmware.elf $(FW_BUILD)/test_firmware-m4f.elf $(FW_BUILD)/test_firmware-m0.elf
	timeout 60 $(FW_QEMU) -kernel $(FW_BUILD)/test_firmware.elf </dev/null | tee $(FW_BUILD)/qemu.log || { \
	  echo "c-firmware-test: Cortex-M3 FAILED (exit status $$?: 1 a check failed, 2 a fault, 3 a panic, 124 a timeout)"; exit 1; }
	timeout 60 $(subst mps2-an385,mps2-an386,$(FW_QEMU)) -kernel $(FW_BUILD)/test_firmware-m4f.elf </dev/null \
	  > $(FW_BUILD)/qemu-m4f.log || { rc=$$?; tail -n 20 $(FW_BUILD)/qemu-m4f.log; \
	  echo "c-firmware-test: Cortex-M4F FAILED (exit status $$rc)"; exit 1; }
	@tail -n 1 $(FW_BUILD)/qemu-m4f.log | sed 's/^/Cortex-M4F (mps2-an386): /'
	timeout 60 $(FW_QEMU) -kernel $(FW_BUILD)/test_firmware-m0.elf </dev/null > $(FW_BUILD)/qemu-m0.log || { \
	  rc=$$?; tail -n 20 $(FW_BUILD)/qemu-m0.log; \
	  echo "c-firmware-test: Cortex-M0+ build FAILED (exit status $$rc)"; exit 1; }
	@tail -n 1 $(FW_BUILD)/qemu-m0.log | sed 's/^/Cortex-M0+ library (thumbv6m, on mps2-an385): /'
	@echo "c-firmware-test: all passed"

## c-firmware-size: what libmqtt adds to a Cortex-M3 client image (text +
## rodata, -Os, --gc-sections) for each feature set, beside coreMQTT's
## reference figures, and the heap and stack high-water marks of the QEMU
## run: ffi-c/firmware/size/size-report.sh (a measurement, not a test).
.PHONY: c-firmware-size
c-firmware-size: c-firmware-test
	ffi-c/firmware/size/size-report.sh

## c-bench: publisher and subscriber throughput of the C examples beside
## libmosquitto programs against mosquitto on 127.0.0.1 (a benchmark, not a
## test).
.PHONY: c-bench
c-bench: setup
	@test -f /usr/include/mosquitto.h || { \
	  echo "installing libmosquitto-dev (the benchmark peer)"; \
	  SUDO=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmosquitto-dev; }
	$(CARGO) build -p mqtt-ffi --release
	@mkdir -p $(C_BUILD)
	for e in pub sub; do \
	  gcc -std=c99 -O2 -Iinclude ffi-c/examples/$$e.c target/release/libmqtt.a $(C_LIBS) -o $(C_BUILD)/$$e; \
	done
	for p in mosq_pub mosq_sub; do \
	  gcc -std=c99 -O2 -Wall -Wextra -Werror ffi-c/bench/$$p.c -lmosquitto -o $(C_BUILD)/$$p || exit 1; \
	done
	ffi-c/bench/throughput.sh $(C_BUILD)

## bench-py: the Python benchmarks of issues 5 and 12 (a script, not a
## test): libmqtt's asyncio client, libmqtt.sync running paho's own program
## (and a blocking loop on the sans-IO client) beside paho-mqtt 2.x and gmqtt
## through mosquitto and through libmqtt's example broker on 127.0.0.1,
## QoS 0/1/2, and the codec beside PyPI's mqtt5. Creates bench/py/.venv, installs the
## peers and ./py (release build) into it; prints markdown tables.
.PHONY: bench-py
bench-py:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || $(MAKE) setup
	python3 bench/py/run.py
