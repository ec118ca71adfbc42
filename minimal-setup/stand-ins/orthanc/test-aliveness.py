#!/usr/bin/env python3
"""Stand-in for the orthancteam image's /probes/test-aliveness.py, as it behaves: GET /changes?last
(not /system, which answers from a cache) on the local Orthanc, with the first registered user of
its configuration when authentication is on, and no token; exit 0 on a 200. Behind the
authorization plugin that request needs a profile with "view": refused (403), so a stack whose
Orthanc runs the plugin must probe something the plugin leaves open instead."""
import base64
import json
import sys
import urllib.request

with open("/tmp/orthanc.json", encoding="utf-8") as f:
    config = json.load(f)
request = urllib.request.Request(f"http://localhost:{config.get('HttpPort', 8042)}/changes?last")
users = config.get("RegisteredUsers") or {}
if config.get("AuthenticationEnabled", True) and users:
    user, password = next(iter(users.items()))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
try:
    with urllib.request.urlopen(request, timeout=5) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except Exception as e:  # any failure is "not alive"
    print(f"test-aliveness: {e}", file=sys.stderr)
    sys.exit(1)
