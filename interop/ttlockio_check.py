"""Runs the open-source `ttlockio` TTLock client, unchanged but for its base URL, against
`lockbridge sim --demo`, and times the same workload as the Rust client.

    pip install ttlockio
    python3 interop/ttlockio_check.py     # starts `lockbridge sim --demo` itself (release build)

It exits non-zero when any call fails.
"""

import argparse
import hashlib
import json
import subprocess
import sys
import time

import ttlockwrapper.ttlock as ttlock_module
from ttlockwrapper import TTLock


def point_at(base_url):
    # ttlockio keeps its host in module constants (API_URI and the token URL templates).
    ttlock_module.API_URI = base_url + "/v3"
    for name in ("TOKEN_CREATE_URL", "TOKEN_REFRESH_URL"):
        template = getattr(ttlock_module, name)
        setattr(ttlock_module, name, template.replace("https://euapi.ttlock.com", base_url))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500, help="lock-state calls to time")
    args = parser.parse_args()

    sim = subprocess.Popen(
        ["cargo", "run", "--release", "-q", "--", "sim", "--demo", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        desc = json.loads(sim.stdout.readline())["ttlock"]
        point_at(desc["base_url"])
        md5 = hashlib.md5(desc["password"].encode()).hexdigest()
        token = TTLock.get_token(desc["client_id"], desc["client_secret"], desc["username"], md5, "", hashed_password=True)
        assert "access_token" in token, token
        refreshed = TTLock.refresh_token(desc["client_id"], desc["client_secret"], token["refresh_token"], "")
        assert "access_token" in refreshed, refreshed

        api = TTLock(desc["client_id"], refreshed["access_token"])
        gateways = list(api.get_gateway_generator())
        assert len(gateways) == 2, gateways
        locks = [lock for g in gateways for lock in api.get_locks_per_gateway_generator(g["gatewayId"])]
        assert len(locks) == 3, locks
        front = desc["lock_ids"][0]
        assert api.unlock(front) is True
        assert api.lock_state(front) == 1
        assert api.lock(front) is True
        assert api.lock_electric_quantity(front) == 87
        records = list(api.get_lock_records_generator(front))
        assert len(records) >= 4, records
        print(f"ttlockio against the simulator: token, refresh, {len(gateways)} gateways, "
              f"{len(locks)} gateway locks, unlock/lock, state, battery, {len(records)} records: ok")

        started = time.perf_counter()
        for _ in range(args.calls):
            api.lock_state(front)
        per_call = (time.perf_counter() - started) / args.calls
        print(f"ttlockio lock/queryOpenState, sequential: {per_call * 1e6:.1f} µs per call")
    finally:
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    sys.exit(main())
