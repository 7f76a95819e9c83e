"""Runs the open-source `aiotedee` Tedee cloud client, unchanged but for its base URL, against
`lockbridge sim --demo` (it speaks API v1.32, with `lockProperties`).

    pip install aiotedee
    python3 interop/aiotedee_check.py     # starts `lockbridge sim --demo` itself (release build)

It exits non-zero when any call fails or a state read back is wrong.
"""

import asyncio
import json
import subprocess
import sys
import time

import aiohttp
import aiotedee.client.cloud as cloud
import aiotedee.helpers as helpers
from aiotedee import TedeeCloudClient


def point_at(base_url):
    # aiotedee keeps its URLs in module constants, imported by name into the modules using them.
    root = base_url + "/api/v1.32/"
    cloud.API_URL_LOCK = root + "my/lock/"
    cloud.API_URL_SYNC = root + "my/lock/sync"
    cloud.API_URL_BRIDGE = root + "my/bridge/"
    helpers.API_URL_DEVICE = root + "my/device/"


async def check(desc, calls):
    key = desc["personal_access_key"]
    async with aiohttp.ClientSession() as session:
        assert await helpers.is_personal_key_valid(key, session), "personal key refused"
        assert not await helpers.is_personal_key_valid("wrong", session), "a wrong key accepted"
        client = TedeeCloudClient(personal_token=key, session=session)
        await client.get_locks()
        names = sorted(lock.name for lock in client.locks)
        print("locks:", names)
        assert len(names) == len(desc["lock_ids"])
        first = desc["lock_ids"][0]
        print("battery of", client.locks_dict[first].name, client.locks_dict[first].battery_level)
        assert client.locks_dict[first].battery_level is not None
        bridges = await client.get_bridges()
        print("bridges:", [b.name for b in bridges])
        await client.lock(first)
        await client.sync()
        assert client.is_locked(first), "locked after lock()"
        await client.unlock(first)
        await client.sync()
        assert client.is_unlocked(first), "unlocked after unlock()"
        started = time.perf_counter()
        for _ in range(calls):
            await client.sync()
        per_call = (time.perf_counter() - started) / calls
        print(f"aiotedee: {per_call * 1e6:.1f} µs per sequential sync()")


def main():
    sim = subprocess.Popen(
        ["cargo", "run", "--release", "-q", "--", "sim", "--demo", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        desc = json.loads(sim.stdout.readline())["tedee"]
        point_at(desc["base_url"])
        asyncio.run(check(desc, 300))
        print("aiotedee works against the simulator")
    finally:
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    sys.exit(main())
