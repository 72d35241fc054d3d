"""Waits for the sandbox server's /health, creates the `default` session and polls until
it is WORKING with its demo address book synced. Polls with deadlines; fails loudly.

usage: link_default.py BASE_URL API_KEY SERVER_PID
"""

import os
import sys
import time

import httpx

base, key, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
DEADLINE_S = 180


def alive() -> None:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the server exited before it was ready")


def poll(what, probe):
    """Calls probe() until it returns a truthy value, or fails after the deadline."""
    end = time.monotonic() + DEADLINE_S
    last = None
    while time.monotonic() < end:
        alive()
        try:
            last = probe()
            if last:
                return last
        except httpx.TransportError as e:
            last = e
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}; last: {last!r}")


with httpx.Client(base_url=base, headers={"X-Api-Key": key}, timeout=10) as http:
    poll("/health", lambda: http.get("/health").status_code == 200)
    r = http.post("/api/sessions", json={"name": "default"})
    if r.status_code != 201:
        sys.exit(f"creating the default session: {r.status_code} {r.text}")
    poll(
        "default to be WORKING",
        lambda: http.get("/api/sessions/default").json().get("status") == "WORKING",
    )
    poll(
        "the demo address book",
        lambda: len(http.get("/api/contacts/all", params={"session": "default", "limit": 10}).json()) >= 3,
    )
print("default session WORKING with its contacts")
