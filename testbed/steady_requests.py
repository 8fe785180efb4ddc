"""Requests one after another through the edge until stdin closes; prints `started`, then JSON with
the count and every failure (a status other than 200, or an error). Usage: steady_requests.py URL
(the test CA comes from $TEST_CA_FILE)."""

from __future__ import annotations

import json
import os
import select
import ssl
import sys

import httpx


def main(url: str) -> None:
    failures: list[str] = []
    requests = 0
    context = ssl.create_default_context(cafile=os.environ["TEST_CA_FILE"])
    print("started", flush=True)
    # A new connection each time, as many browsers arriving would make.
    while not select.select([sys.stdin], [], [], 0)[0]:
        requests += 1
        try:
            with httpx.Client(verify=context) as client:
                response = client.get(url, timeout=10)
            if response.status_code != 200:
                failures.append(f"{response.status_code}: {response.text[:100]}")
        except httpx.HTTPError as error:
            failures.append(f"{error.__class__.__name__}: {error}")
    print(json.dumps({"requests": requests, "failed": len(failures), "failures": failures[:10]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
