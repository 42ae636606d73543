#!/usr/bin/env bash
# Every check trailwatch has: formatting, lints, the test suites, the rule pack's own tests
# through the CLI, and the deployment files. The real tools they run against (moto server,
# Prometheus, the linters) are installed first, at their pinned versions (deploy/tools.sh).
# Each phase says when it starts and how long it took, so a slow or failing one is plain.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
phase_start=$SECONDS
phase_name=""
phases=()
phase() {
    end_phase
    phase_name=$1
    phase_start=$SECONDS
    printf '\n==== %s\n' "$phase_name"
}
end_phase() {
    if [ -n "$phase_name" ]; then
        phases+=("$(printf '%5ss  %s' $((SECONDS - phase_start)) "$phase_name")")
        printf '==== %s: done in %ss\n' "$phase_name" $((SECONDS - phase_start))
    fi
    phase_name=""
}
report() {
    local status=$?
    if [ $status -ne 0 ] && [ -n "$phase_name" ]; then
        printf '\n==== %s FAILED after %ss (exit %s)\n' "$phase_name" $((SECONDS - phase_start)) $status
        phases+=("$(printf '%5ss  %s: FAILED' $((SECONDS - phase_start)) "$phase_name")")
        phase_name=""
    fi
    end_phase
    printf '\n==== phases\n'
    printf '%s\n' "${phases[@]}"
    printf '%5ss  total\n' $((SECONDS - started))
}
trap report EXIT

phase "tools: deploy/tools.sh (pinned PyPI tools, checkov virtualenv, Debian packages)"
deploy/tools.sh

phase "format: cargo fmt --check"
cargo fmt --all -- --check

# One build serves the lints, the tests and the local demo (tests/build.sh).
phase "build + lint: every target, clippy -D warnings (the first build of the AWS SDK takes minutes)"
tests/build.sh

# Most integration tests wait (on moto, a daemon's poll, a webhook): with one test per core the
# cores sit idle two thirds of the time. Three per core keeps them busy (a 2-core run: 175 s of
# tests at 2 at a time, 80 s at 6); TEST_THREADS overrides it.
threads=${TEST_THREADS:-$(( $(nproc) * 3 ))}
phase "tests: cargo test (unit, property, moto, Prometheus), $threads at a time"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --locked -- --test-threads "$threads"

# The binary the integration tests just built: `cargo run` would rebuild the AWS crates
# with a different feature set.
phase "rule pack: trailwatch rules test"
target/debug/trailwatch rules test

phase "deploy checks: deploy/check.sh"
deploy/check.sh
