#!/usr/bin/env bash
# Checks every file under deploy/ with the real tool for its format (deploy/tools.sh installs
# them). The CloudFormation template is also deployed to moto, and the Kubernetes, Prometheus
# and Grafana files are held against the running daemon, by the cargo tests (tests/deploy.rs,
# tests/monitoring.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
checkov="${TRAILWATCH_TOOLS:-$HOME/.cache/trailwatch-tools}/checkov/bin/checkov"
step() { printf '== %s\n' "$*"; }

step "cfn-lint: CloudFormation"
cfn-lint deploy/cloudformation/trailwatch.yaml

step "python-hcl2: Terraform parses; CloudFormation, Terraform and docs/deployment.md agree"
python3 deploy/consistency.py

# Every finding is either fixed or skipped beside the resource with its reason.
for target in "-d deploy/terraform --framework terraform" \
    "-f deploy/cloudformation/trailwatch.yaml --framework cloudformation" \
    "-d deploy/kubernetes --framework kubernetes" \
    "-f deploy/docker/Dockerfile --framework dockerfile"; do
    step "checkov $target"
    # shellcheck disable=SC2086
    out=$("$checkov" --quiet --compact --skip-download $target 2>&1) || { echo "$out" >&2; exit 1; }
    grep -v '^$' <<<"$out"
done

step "hadolint: Dockerfile"
hadolint --failure-threshold info deploy/docker/Dockerfile

# ServiceMonitor is a CRD without a schema here (tests/deploy.rs checks it against the
# Service); the kustomization is not a Kubernetes object.
step "kubernetes-validate --strict"
kubernetes-validate --strict --quiet $(ls deploy/kubernetes/*.yaml | grep -v -e servicemonitor -e kustomization)

step "promtool: alerting rules and their unit tests"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml

step "systemd-analyze"
deploy/systemd/check.sh
