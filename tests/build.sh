#!/usr/bin/env bash
# The one build every entry point shares: every target of the crate (the trailwatch binary,
# the test binary, the benchmarks) in the dev profile, linted by clippy while it compiles
# (-D warnings). tests/run.sh and deploy/local/run.sh both call it, so whichever runs first
# compiles the AWS SDK and the other finds it built: building the binary alone would compile
# the SDK a second time (tokio's test-util feature, which the tests need, changes every crate
# that depends on tokio).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed: trailwatch needs a Rust toolchain (https://rustup.rs, stable)" >&2
    exit 1
fi
if ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add clippy
fi
# clippy-driver compiles trailwatch's own targets (what `cargo clippy` does, but producing code
# instead of only checking it), so the dependencies are built once, for the lints and the
# tests alike.
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
if [ ! -d target/debug/deps ]; then
    echo "build: the first build compiles the AWS SDK and every dependency: about 8 minutes on 2 cores; cargo prints each crate as it goes"
fi
cargo test --locked --all-targets --no-run
