"""Times an unlock through lockbridge against the same unlock made by the Python TTLock client
(`ttlockio`) straight to the simulator, in one run, interleaved: ROUNDS rounds of CALLS calls
each side, medians per round. A measurement for BENCHMARKS.md, not a check CI runs.

    pip install ttlockio==0.3.4
    python3 interop/unlock_timing.py [--rounds 5] [--calls 50]   # starts `lockbridge demo --json`
    LOCKBRIDGE_MASTER_KEY=$(openssl rand -hex 32) python3 interop/unlock_timing.py \
        --database-url postgres://postgres@127.0.0.1:5432/unlock_timing
        # the same with the demo on PostgreSQL (an empty database: create it first)

lockbridge is called with `http.client` on one kept-alive connection (what a service calling
lockbridge would do), and again with a new connection per call; ttlockio opens a connection per
request, as it always does.
"""

import argparse
import hashlib
import http.client
import json
import statistics
import subprocess
import sys
import time
import urllib.parse

import ttlockwrapper.ttlock as ttlock_module
from ttlockwrapper import TTLock


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--database-url", help="the demo's database (default: its SQLite file)")
    args = parser.parse_args()
    demo_args = ["cargo", "run", "--release", "-q", "--", "demo", "--json"]
    if args.database_url:
        demo_args += ["--database-url", args.database_url]
    demo_proc = subprocess.Popen(demo_args, stdout=subprocess.PIPE, text=True)
    try:
        demo = json.loads(demo_proc.stdout.readline())
        desc = demo["simulators"]["ttlock"]
        ttlock_module.API_URI = desc["base_url"] + "/v3"
        for name in ("TOKEN_CREATE_URL", "TOKEN_REFRESH_URL"):
            setattr(ttlock_module, name, getattr(ttlock_module, name).replace("https://euapi.ttlock.com", desc["base_url"]))
        md5 = hashlib.md5(desc["password"].encode()).hexdigest()
        token = TTLock.get_token(desc["client_id"], desc["client_secret"], desc["username"], md5, "", hashed_password=True)
        direct = TTLock(desc["client_id"], token["access_token"])
        sim_lock = desc["lock_ids"][0]

        api = urllib.parse.urlsplit(demo["api_url"])
        conn = http.client.HTTPConnection(api.hostname, api.port)
        auth = {"Authorization": "Bearer " + demo["api_key"], "Content-Type": "application/json"}

        def fresh(path):
            # A new connection per call, as ttlockio makes them.
            c = http.client.HTTPConnection(api.hostname, api.port)
            c.request("POST", path, body="{}", headers=auth)
            r = c.getresponse()
            r.read()
            c.close()
            assert r.status == 200, r.status

        def through(method, path, body=None):
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=auth)
            r = conn.getresponse()
            data = r.read()
            assert r.status == 200, (r.status, data)
            return json.loads(data)

        locks = through("GET", "/v1/locks?provider=ttlock&limit=200")["data"]
        lock = next(l for l in locks if l["provider_id"] == str(sim_lock))["id"]
        for _ in range(20):
            assert direct.unlock(sim_lock) is True
            through("POST", f"/v1/locks/{lock}/unlock", {})
        print(f"unlock, {args.rounds} rounds of {args.calls} calls each side, interleaved (medians):")
        for n in range(1, args.rounds + 1):
            lb, new, py, health, read = [], [], [], [], []
            for _ in range(args.calls):
                # The floor under an unlock: the same connection's cheapest answer, and the
                # lock read alone (the key checked, one statement).
                t = time.perf_counter()
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                health.append(time.perf_counter() - t)
                t = time.perf_counter()
                through("GET", f"/v1/locks/{lock}")
                read.append(time.perf_counter() - t)
                t = time.perf_counter()
                through("POST", f"/v1/locks/{lock}/unlock", {})
                lb.append(time.perf_counter() - t)
                t = time.perf_counter()
                fresh(f"/v1/locks/{lock}/unlock")
                new.append(time.perf_counter() - t)
                t = time.perf_counter()
                assert direct.unlock(sim_lock) is True
                py.append(time.perf_counter() - t)
            a, c, b, h, r = (statistics.median(x) * 1e6 for x in (lb, new, py, health, read))
            print(
                f"  round {n}: through lockbridge {a:.0f} µs ({a / b:.2f}×), with a new connection per call "
                f"{c:.0f} µs ({c / b:.2f}×); ttlockio direct {b:.0f} µs; "
                f"/healthz {h:.0f} µs, the lock read {r:.0f} µs"
            )
    finally:
        demo_proc.terminate()
        demo_proc.wait()


if __name__ == "__main__":
    sys.exit(main())
