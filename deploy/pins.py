#!/usr/bin/env python3
"""Exit 0 when every `name==version` line of the given files is installed at that version.

deploy/tools.sh runs it with the interpreter it installs into, so a tool that is missing or at
another version (an older python-hcl2 parses Terraform differently) is installed at its pin,
and a machine that already has the pins does not call pip at all.
"""

import re
import sys
from importlib import metadata


def pins(path):
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line)
        if m:
            yield m.group(1), m.group(3)


def main():
    wrong = []
    for path in sys.argv[1:]:
        for name, version in pins(path):
            try:
                have = metadata.version(name)
            except metadata.PackageNotFoundError:
                have = None
            if have != version:
                wrong.append(f"{name} {have or 'missing'} (pinned {version} in {path})")
    for w in wrong:
        print(f"  {w}")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
