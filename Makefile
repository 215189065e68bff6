# The README's two commands. `make run` starts the server with the demo cluster; `make test` passes every test.
BUILD ?= build
PRESET ?= release
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
DESTDIR ?=
export CCACHE_DIR ?= $(HOME)/.cache/ccache
export CCACHE_NOHASHDIR = 1
export CCACHE_BASEDIR = $(CURDIR)

.PHONY: all deps test-deps build run test bench clean format install deb fuzz-deps fuzz-smoke

all: build

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

$(BUILD)/build.ninja:
	cmake --preset $(PRESET) >/dev/null

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	scripts/run-demo.sh

test: test-deps build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) --timeout 600

# `make install [PREFIX=/usr/local] [DESTDIR=]`: bin/allot, man pages, completions, systemd units,
# PREFIX/etc/allot (/etc/allot for PREFIX=/usr), headers, libraries and the CMake package (docs/install.md).
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# `make deb`: $(BUILD)/allot_VERSION_amd64.deb (and allot-dev_VERSION_amd64.deb) with CPack.
deb: build
	@scripts/install-deps.sh deb
	cd $(BUILD) && cpack -G DEB

bench: build
	scripts/bench.sh

# `make fuzz-smoke`: every libFuzzer target of fuzz/ for about a minute each (the `fuzz` preset, clang-14;
# docs/fuzzing.md has the long run). Not part of `make test`: about 10 minutes on top of its own build
# (a second, clang + ASan build of most of the tree), three to four times the suite on a 2-core CI.
fuzz-deps:
	@scripts/install-deps.sh fuzz

fuzz-smoke: fuzz-deps
	SECONDS_EACH=$${SECONDS_EACH:-60} scripts/fuzz.sh

clean:
	rm -rf $(BUILD) build-dev build-bench build-fuzz build-tsan

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')
