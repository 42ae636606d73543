#!/usr/bin/env bash
# Checks deploy/systemd/trailwatch.service with systemd-analyze: `verify` (syntax, directives,
# the binary it starts) and `security` (the exposure score quoted in docs/deployment.md). The unit is
# checked as shipped except for ExecStart, which points at the binary the tests just built.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary="$PWD/target/debug/trailwatch"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|/usr/local/bin/trailwatch|$binary|" deploy/systemd/trailwatch.service >"$work/trailwatch.service"
# verify only warns about a bad value ("ignoring"); any output at all fails the check.
out=$(systemd-analyze verify "$work/trailwatch.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
    echo "$out" >&2
    exit 1
fi
systemd-analyze security --offline=yes --threshold=20 "$work/trailwatch.service" | tail -1
