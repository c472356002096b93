# Keywarden — the two commands a newcomer runs are `make demo` and `make test`.
# Everything else here is for CI (.ci/run), packaging and measurement.

SHELL := /bin/bash
CARGO ?= cargo
MACOS_TARGETS := x86_64-apple-darwin aarch64-apple-darwin
# Separate target dirs: the macOS check skips tracing-oslog's C shim (DOCS_RS=1) and must not
# leave that build where a real link would reuse it (TOOLCHAIN.md).
MACOS_CHECK_DIR := target-macos-check
MACOS_LINK_DIR := target-macos
MACOS_STUB := $(CURDIR)/daemon/macos-sdk-stub
export MACOSX_DEPLOYMENT_TARGET := 12.0

.PHONY: help build test doctest lint fmt macos-targets macos-check macos-binary demo corpus-sync ci clean

help:
	@echo "make demo          the daemon against a simulated Mac: what Keywarden reports, scenario by scenario"
	@echo "make test          every test (needs only Rust)"
	@echo "make lint          rustfmt check and clippy -D warnings"
	@echo "make macos-check   clippy for x86_64- and aarch64-apple-darwin (installs the rustup targets)"
	@echo "make macos-binary  cross-link the universal macOS binary with cargo-zigbuild (CI installs it)"
	@echo "make corpus-sync   refresh tests/fixtures/corpus from ../shared/corpus"
	@echo "make ci            what CI runs (.ci/run also installs what it needs)"

build:
	$(CARGO) build --bins

# Doc tests first: CI reads the summary of the last test run.
doctest:
	$(CARGO) test --doc

test: doctest
	$(CARGO) test --lib --bins --tests

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

macos-targets:
	@for t in $(MACOS_TARGETS); do \
	  for i in 1 2 3; do rustup target add $$t >/dev/null 2>&1 && break; sleep $$((i * 5)); done; \
	  rustup target list --installed | grep -qx $$t || { echo "make: could not install the rustup target $$t (network?)"; exit 1; }; \
	done

# Type-checks every cfg(target_os = "macos") path without Apple's SDK.
macos-check: macos-targets
	@for t in $(MACOS_TARGETS); do \
	  echo "clippy --target $$t"; \
	  DOCS_RS=1 CARGO_TARGET_DIR=$(MACOS_CHECK_DIR) $(CARGO) clippy --target $$t --features oslog --lib --bins -- -D warnings || exit 1; \
	done

# A real universal2 Mach-O link on Linux (zig as the linker), headers checked: both arches, minos <= 12.0.
macos-binary: macos-targets
	@command -v cargo-zigbuild >/dev/null || { echo "make: macos-binary needs cargo-zigbuild and zig: cargo install cargo-zigbuild; pip install ziglang"; exit 1; }
	CARGO_TARGET_DIR=$(MACOS_LINK_DIR) \
	  CFLAGS_x86_64_apple_darwin="-I$(MACOS_STUB)" CFLAGS_aarch64_apple_darwin="-I$(MACOS_STUB)" \
	  $(CARGO) zigbuild --release --bin keywarden --features oslog --target universal2-apple-darwin
	python3 .ci/macho-check.py $(MACOS_LINK_DIR)/universal2-apple-darwin/release/keywarden 12.0

demo: build
	@tests/demo/demo.sh

corpus-sync:
	@test -d ../shared/corpus || { echo "make: no ../shared/corpus next to this clone"; exit 1; }
	mkdir -p tests/fixtures/corpus
	cp -a ../shared/corpus/. tests/fixtures/corpus/
	@echo "Copied. Now map new directories in tests/corpus/main.rs and assert new samples in tests/corpus/<tool>.rs."

ci:
	.ci/run

clean:
	$(CARGO) clean
	rm -rf $(MACOS_CHECK_DIR) $(MACOS_LINK_DIR)
