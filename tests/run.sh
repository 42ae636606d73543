#!/usr/bin/env bash
# Every check trailwatch has: formatting, lints, the test suites, and the rule pack's own
# tests through the CLI. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
cargo run --quiet --locked -- rules test
