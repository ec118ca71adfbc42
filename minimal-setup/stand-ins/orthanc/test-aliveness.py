#!/usr/bin/env python3
"""Stand-in for the orthancteam image's /probes/test-aliveness.py: GET /system on the local
Orthanc with the port and first registered user of its configuration; exit 0 on a 200."""
import base64
import json
import sys
import urllib.request

with open("/tmp/orthanc.json", encoding="utf-8") as f:
    config = json.load(f)
request = urllib.request.Request(f"http://127.0.0.1:{config.get('HttpPort', 8042)}/system")
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
