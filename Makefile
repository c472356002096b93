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

.PHONY: help build test doctest lint fmt macos-targets macos-check macos-binary demo corpus-sync ci clean \
	pkg pkg-stage install uninstall fuzz soak bench test-mac

help:
	@echo "make demo          the daemon against a simulated Mac: what Keywarden reports, scenario by scenario"
	@echo "make test          every test (needs only Rust)"
	@echo "make lint          rustfmt check and clippy -D warnings"
	@echo "make macos-check   clippy for x86_64- and aarch64-apple-darwin (installs the rustup targets)"
	@echo "make macos-binary  cross-link the universal macOS binary with cargo-zigbuild (CI installs it)"
	@echo "make fuzz          every cargo-fuzz target for FUZZ_SECONDS (60) each; fails on a crash (tests/fuzz/README.md)"
	@echo "make soak          a simulated month of hourly checks [SOAK_CHECKS=720]; fails on growth or loss"
	@echo "make bench         the benchmarks of docs/BENCHMARKS.md (about 5 minutes)"
	@echo "make corpus-sync   refresh tests/fixtures/corpus from ../shared/corpus"
	@echo "make pkg           (macOS) the signed, notarized installer package in target/pkg/ (docs/deployment.md)"
	@echo "make pkg-stage     (any OS) the pkg's payload, scripts and manifest in target/pkg/ [BINARY=path]"
	@echo "make install       (macOS) install on this Mac, as the pkg does; make uninstall [PURGE=1] removes it"
	@echo "make test-mac      (macOS, a test Mac) build, test, selftest bundle, check, pkg, install, uninstall: CI's macOS job"
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

# What CI's macOS job runs (.github/workflows/ci.yml), step by step, for a person on a test Mac to
# run the same by hand: tests/mac/test-mac.sh, docs/testing-on-a-mac.md. It installs and then
# purges Keywarden, so it refuses a Mac where Keywarden is installed; off macOS it exits 2.
test-mac:
	@tests/mac/test-mac.sh

# Fuzzing (tests/fuzz/README.md): builds every cargo-fuzz target and runs each for FUZZ_SECONDS
# on seeds made from tests/fixtures, printing executions and any crash per target; fails on a
# crash. Uses the installed nightly, else RUSTC_BOOTSTRAP=1; installs cargo-fuzz if missing.
# CI: make fuzz FUZZ_SECONDS=10. FUZZ_TARGETS="a b" runs only those, FUZZ_JOBS=2 two at a time.
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1
FUZZ_TARGETS ?=
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_JOBS='$(FUZZ_JOBS)' FUZZ_TARGETS='$(FUZZ_TARGETS)' tests/fuzz/run.sh

# Soak (tests/soak/soak.sh): the daemon against the simulated Mac for SOAK_CHECKS hourly checks
# (720 = a simulated month, about 90 s), a key used, rotated and confirmed every day; fails when
# memory, descriptors or threads grow, the log passes its bound, or a use or rotation is lost.
# CI: make soak SOAK_CHECKS=100 SOAK_PROFILE=debug (reuses the test build).
SOAK_CHECKS ?= 720
SOAK_PROFILE ?= release
.PHONY: soak
soak:
	$(CARGO) build --bins $(if $(filter release,$(SOAK_PROFILE)),--release)
	tests/soak/soak.sh '$(SOAK_CHECKS)' "$${CARGO_TARGET_DIR:-target}/$(SOAK_PROFILE)/keywarden" \
		"$${CARGO_TARGET_DIR:-target}/$(SOAK_PROFILE)/keywarden-sim"

corpus-sync:
	@test -d ../shared/corpus || { echo "make: no ../shared/corpus next to this clone"; exit 1; }
	mkdir -p tests/fixtures/corpus
	cp -a ../shared/corpus/. tests/fixtures/corpus/
	@echo "Copied. Now map new directories in tests/corpus/mod.rs and assert new samples in tests/corpus/<tool>.rs."

# The five benchmarks (docs/BENCHMARKS.md) on the simulated Mac, release builds: prints measured
# value, target and ratio, writes target/bench/results.json. About 5 minutes once built (3 of them
# the idle window, IDLE_SECONDS); links the macOS binary for its size when cargo-zigbuild is there
# (BENCH_MACOS=0 skips it). Reports misses, never fails on a timing.
.PHONY: bench
bench:
	$(CARGO) build --release --bins
	tests/bench/bench.sh

ci:
	.ci/run

clean:
	$(CARGO) clean
	rm -rf $(MACOS_CHECK_DIR) $(MACOS_LINK_DIR) $(PKG_BUILD_DIR)

# ---- Packaging (docs/deployment.md) ----------------------------------------------------------
# pkg-stage runs anywhere (the tests use it); pkg, install and uninstall need a Mac.

VERSION ?= $(shell sed -n 's/^version = "\([^"]*\)"$$/\1/p' Cargo.toml | head -n 1)
PKG_ID := org.keywarden.pkg
PKG_DIR := target/pkg
PKG := $(PKG_DIR)/Keywarden-$(VERSION).pkg
# Apple-toolchain builds for the pkg, apart from zig's (macos-binary) and the host's.
PKG_BUILD_DIR := target-macos-pkg
# The code-signing identifier: a PPPC or managed login-items profile names the binary by it.
CODESIGN_ID := org.keywarden.keywarden
# Signing and notarization (all optional): the Developer ID identities' names as in the keychain,
# and a profile saved with `xcrun notarytool store-credentials`.
DEVELOPER_ID_APPLICATION ?=
DEVELOPER_ID_INSTALLER ?=
NOTARY_PROFILE ?=
# Given to the recipes' shells as environment variables: names with quotes survive.
export DEVELOPER_ID_APPLICATION DEVELOPER_ID_INSTALLER NOTARY_PROFILE
# The binary to stage or install; empty: the host's release build.
BINARY ?=
UNAME_S := $(shell uname -s)
HOST_FEATURES := $(if $(filter Darwin,$(UNAME_S)),--features oslog,)
HOST_RELEASE := $(or $(CARGO_TARGET_DIR),target)/release/keywarden
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

pkg-stage:
	@bin='$(BINARY)'; \
	if [ -z "$$bin" ]; then \
	  $(CARGO) build --release --bin keywarden $(HOST_FEATURES) || exit 1; bin='$(HOST_RELEASE)'; \
	fi; \
	launchd/stage-pkg.sh "$$bin" '$(PKG_DIR)' '$(VERSION)'

# Universal binary (cargo for both Apple targets, then lipo), codesign, stage, pkgbuild, productbuild,
# then notarytool and stapler. Stapling fails unless Apple accepted the submission, so a rejected
# pkg stops the build (`xcrun notarytool log ID --keychain-profile ...` says why).
pkg:
	@if [ "$(UNAME_S)" != Darwin ]; then \
	  echo "make pkg builds the installer package on a Mac; this is $(UNAME_S)."; \
	  echo "It needs:"; \
	  echo "  - macOS with the Xcode command line tools (xcode-select --install): pkgbuild, productbuild,"; \
	  echo "    codesign, lipo, xcrun notarytool and stapler; Rust (rustup adds the two Apple targets)"; \
	  echo "  - to sign and notarize (optional, else ad hoc and unsigned, for testing only):"; \
	  echo "      DEVELOPER_ID_APPLICATION='Developer ID Application: Org (TEAMID)'"; \
	  echo "      DEVELOPER_ID_INSTALLER='Developer ID Installer: Org (TEAMID)'"; \
	  echo "      NOTARY_PROFILE=name   (saved with xcrun notarytool store-credentials)"; \
	  echo "What works here:"; \
	  echo "  make macos-binary   cross-links the universal binary: $(MACOS_LINK_DIR)/universal2-apple-darwin/release/keywarden"; \
	  echo "  make pkg-stage      lays out the payload, the scripts and payload.txt in $(PKG_DIR)/ (BINARY=path for another binary)"; \
	  echo "See docs/deployment.md."; \
	  exit 1; \
	fi
	@for t in pkgbuild productbuild codesign lipo xcrun python3; do \
	  command -v $$t >/dev/null || { echo "make pkg: $$t not found: install the Xcode command line tools (xcode-select --install)"; exit 1; }; \
	done
	@$(MAKE) --no-print-directory macos-targets
	@mkdir -p $(PKG_DIR)
	@for t in $(MACOS_TARGETS); do \
	  echo "cargo build --release --target $$t"; \
	  CARGO_TARGET_DIR=$(PKG_BUILD_DIR) $(CARGO) build --release --bin keywarden --features oslog --target $$t || exit 1; \
	done
	lipo -create -output $(PKG_DIR)/keywarden $(foreach t,$(MACOS_TARGETS),$(PKG_BUILD_DIR)/$(t)/release/keywarden)
	python3 .ci/macho-check.py $(PKG_DIR)/keywarden 12.0
	@if [ -n "$$DEVELOPER_ID_APPLICATION" ]; then \
	  echo "codesign: $$DEVELOPER_ID_APPLICATION, hardened runtime, secure timestamp"; \
	  codesign --force --options runtime --timestamp --identifier $(CODESIGN_ID) \
	    -s "$$DEVELOPER_ID_APPLICATION" $(PKG_DIR)/keywarden || exit 1; \
	else \
	  echo "codesign: DEVELOPER_ID_APPLICATION not set: signing ad hoc (fine on a test Mac, not for a fleet)"; \
	  codesign --force --identifier $(CODESIGN_ID) -s - $(PKG_DIR)/keywarden || exit 1; \
	fi
	codesign --verify --strict --verbose=1 $(PKG_DIR)/keywarden
	@$(MAKE) --no-print-directory pkg-stage BINARY=$(PKG_DIR)/keywarden
	@rm -rf $(PKG_DIR)/component && mkdir -p $(PKG_DIR)/component
	pkgbuild --root $(PKG_DIR)/stage --scripts $(PKG_DIR)/scripts --identifier $(PKG_ID) \
	  --version $(VERSION) --install-location / --ownership recommended \
	  $(PKG_DIR)/component/keywarden-component.pkg
	@rm -f $(PKG)
	@if [ -n "$$DEVELOPER_ID_INSTALLER" ]; then \
	  echo "productbuild: signed with $$DEVELOPER_ID_INSTALLER"; \
	  productbuild --distribution $(PKG_DIR)/distribution.xml --package-path $(PKG_DIR)/component \
	    --sign "$$DEVELOPER_ID_INSTALLER" --timestamp $(PKG) || exit 1; \
	  pkgutil --check-signature $(PKG) || exit 1; \
	else \
	  echo "productbuild: DEVELOPER_ID_INSTALLER not set: the pkg is unsigned (MDMs and Gatekeeper want it signed)"; \
	  productbuild --distribution $(PKG_DIR)/distribution.xml --package-path $(PKG_DIR)/component $(PKG) || exit 1; \
	fi
	@if [ -z "$$NOTARY_PROFILE" ]; then \
	  echo "notarization: NOTARY_PROFILE not set: skipped"; \
	elif [ -z "$$DEVELOPER_ID_APPLICATION" ] || [ -z "$$DEVELOPER_ID_INSTALLER" ]; then \
	  echo "notarization: skipped: it needs both DEVELOPER_ID_APPLICATION and DEVELOPER_ID_INSTALLER"; \
	else \
	  echo "notarization: xcrun notarytool submit --keychain-profile $$NOTARY_PROFILE --wait"; \
	  xcrun notarytool submit $(PKG) --keychain-profile "$$NOTARY_PROFILE" --wait || exit 1; \
	  xcrun stapler staple $(PKG) || exit 1; \
	fi
	@echo "built $(PKG)"

install:
	@[ "$(UNAME_S)" = Darwin ] || { echo "make install installs Keywarden on this Mac; this is $(UNAME_S). See make pkg-stage and docs/deployment.md."; exit 1; }
	@$(MAKE) --no-print-directory pkg-stage
	$(SUDO) launchd/pkg-scripts/preinstall "" / /
	@# The same entries, modes and owners as the pkg: from its manifest. Directories that exist
	@# (/Library, a previous install) are left as they are.
	@while read -r mode owner path; do \
	  src='$(PKG_DIR)/stage'"$$path"; \
	  if [ -d "$$src" ]; then \
	    [ -d "$$path" ] || $(SUDO) install -d -o "$${owner%%:*}" -g "$${owner##*:}" -m "$$mode" "$$path" || exit 1; \
	  else \
	    echo "install -m $$mode $$path"; \
	    $(SUDO) install -o "$${owner%%:*}" -g "$${owner##*:}" -m "$$mode" "$$src" "$$path" || exit 1; \
	  fi; \
	done < $(PKG_DIR)/payload.txt
	$(SUDO) launchd/pkg-scripts/postinstall "" / /

uninstall:
	@[ "$(UNAME_S)" = Darwin ] || { echo "make uninstall removes Keywarden from this Mac; this is $(UNAME_S). See docs/deployment.md."; exit 1; }
	$(SUDO) launchd/pkg-scripts/uninstall.sh $(if $(PURGE),--purge,)
