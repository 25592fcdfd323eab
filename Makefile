# Convenience wrapper around Meson: `make`, `make test`, `make bench`,
# `make demo`, `make install`, and the sanitizer builds CI runs.
BUILD ?= build
MESON ?= meson
MESON_OPTS ?=

.PHONY: all test bench demo install asan tsan test-asan test-tsan fuzz clean

all: $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) $(MESON_OPTS)

test: all
	tools/run-tests $(BUILD)

bench: all
	$(BUILD)/bench/rkv-bench $(BENCH_ARGS)
	if [ -x $(BUILD)/bench/rkv-bench-imgops ]; then $(BUILD)/bench/rkv-bench-imgops; fi
	if [ -x $(BUILD)/src/rkv-camera ]; then tools/bench-preview.sh $(BUILD); fi
	if [ -x $(BUILD)/src/rkvd ]; then /usr/bin/python3 bench/daemon/bench_daemon.py --build $(BUILD); fi
	if ls $(BUILD)/python/_rkv*.so >/dev/null 2>&1; then PYTHONPATH=python RKV_PYTHON_EXT_DIR=$(BUILD)/python /usr/bin/python3 bench/python/bench_python.py --build $(BUILD); fi

demo: all
	$(BUILD)/demo/rkv-demo $(DEMO_ARGS)

install: all
	$(MESON) install -C $(BUILD)

# Sanitizer builds run the same suite with smaller stress sizes (the
# instrumentation makes every memory access several times dearer), less the
# tests in the qemu VM (suite vm): `make test` boots it once for them.
build-asan/build.ninja:
	$(MESON) setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dtest_scale=0.5 $(MESON_OPTS)
build-tsan/build.ninja:
	$(MESON) setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dtest_scale=0.25 $(MESON_OPTS)

asan: build-asan/build.ninja
	$(MESON) compile -C build-asan
tsan: build-tsan/build.ninja
	$(MESON) compile -C build-tsan
test-asan: asan
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 tools/run-tests build-asan --no-suite vm
test-tsan: tsan
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 tools/run-tests build-tsan --no-suite vm

# libFuzzer targets (clang).
build-fuzz/build.ninja:
	CC=clang $(MESON) setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fuzz: build-fuzz/build.ninja
	$(MESON) compile -C build-fuzz

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
