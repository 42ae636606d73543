#!/usr/bin/env bash
# Every check trailwatch has: formatting, lints, the test suites, and the rule pack's own
# tests through the CLI. The daemon tests need moto server (`pip install 'moto[server]'`).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v moto_server >/dev/null 2>&1; then
    python3 -m pip install --quiet 'moto[server]'
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
# The binary the integration tests just built: `cargo run` would rebuild the AWS crates
# with a different feature set.
target/debug/trailwatch rules test
# The deployment files, with the tool each format has.
deploy/systemd/check.sh
