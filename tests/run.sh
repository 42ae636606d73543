#!/usr/bin/env bash
# Every check trailwatch has: formatting, lints, the test suites, the rule pack's own tests
# through the CLI, and the deployment files. The real tools they run against (moto server,
# Prometheus, the linters) are installed first when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/tools.sh

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
# The binary the integration tests just built: `cargo run` would rebuild the AWS crates
# with a different feature set.
target/debug/trailwatch rules test
# The deployment files, with the tool each format has.
deploy/check.sh
