"""Runs the open-source `switchbot-api` client (the one Home Assistant's SwitchBot Cloud
integration uses), unchanged but for its host — a module global, `switchbot_api._API_HOST`, as it
has no other setting — against `lockbridge demo`'s SwitchBot simulator, and checks that a code
issued through lockbridge shows in the client's own view of the keypad (its password decrypted
by the client) and leaves it when revoked.

    pip install switchbot-api==2.13.1
    python3 interop/switchbot_api_check.py     # starts `lockbridge demo --json` itself (release build)

It exits non-zero when any call fails or a state read back is wrong.
"""

import asyncio
import json
import subprocess
import sys
import time

import requests
import switchbot_api
from switchbot_api import SwitchBotAPI, SwitchBotConnectionError, SwitchBotDeviceOfflineError


async def until(what, probe, seconds=10.0):
    """A keypad carries a command out a moment after SwitchBot accepted it."""
    deadline = time.monotonic() + seconds
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not show within {seconds} s")
        await asyncio.sleep(0.05)


async def keys_of(api, keypad):
    return (await api.get_status(keypad)).get("keyList", [])


async def check_client(desc):
    api = SwitchBotAPI(desc["token"], desc["secret"])
    try:
        devices = await api.list_devices()
        types = sorted(d.device_type for d in devices)
        print("devices:", types)
        assert types.count("Smart Lock Pro") == len(desc["lock_ids"])
        lock, keypad = desc["lock_ids"][0], desc["keypad_ids"][0]
        status = await api.get_status(lock)
        assert status["lockState"] == "locked" and status["doorState"] == "closed", status
        await api.send_command(lock, "unlock")
        assert (await api.get_status(lock))["lockState"] == "unlocked"
        await api.send_command(lock, "lock")

        await api.send_command(keypad, "createKey", parameters={
            "name": "Plumber", "type": "permanent", "password": "135792468"})
        keys = await until("the new key", lambda: keys_of(api, keypad))
        plumber = next(k for k in keys if k["name"] == "Plumber")
        assert api.aes_128_cbc_decrypt(plumber["password"], plumber["iv"]) == "135792468"
        try:
            await api.send_command(keypad, "createKey", parameters={
                "name": "Bad", "type": "permanent", "password": "12345"})
            raise AssertionError("a five-digit password accepted")
        except SwitchBotConnectionError:
            pass
        await api.send_command(keypad, "deleteKey", parameters={"id": plumber["id"]})
        await until("the deletion", lambda: no_key(api, keypad, "Plumber"))

        await api.setup_webhook("http://127.0.0.1:9/hooks")
        assert (await api.get_webook_configuration())["urls"] == ["http://127.0.0.1:9/hooks"]
        await api.delete_webhook("http://127.0.0.1:9/hooks")

        requests.post(desc["base_url"] + f"/_sim/devices/{lock}/online", json={"online": False})
        try:
            await api.get_status(lock)
            raise AssertionError("an offline lock answered")
        except SwitchBotDeviceOfflineError:
            pass
        requests.post(desc["base_url"] + f"/_sim/devices/{lock}/online", json={"online": True})

        started = time.perf_counter()
        for _ in range(200):
            await api.get_status(lock)
        per_call = (time.perf_counter() - started) / 200
        print(f"switchbot-api: {per_call * 1e6:.1f} µs per sequential get_status()")
    finally:
        await api.close()


async def no_key(api, keypad, name):
    return not any(k["name"] == name for k in await keys_of(api, keypad)) or None


async def check_through_lockbridge(demo, desc):
    """A code issued through lockbridge is in the client's own key list, and leaves it revoked."""
    api = SwitchBotAPI(desc["token"], desc["secret"])
    try:
        base, auth = demo["api_url"], {"Authorization": f"Bearer {demo['api_key']}"}
        locks = requests.get(f"{base}/v1/locks?provider=switchbot&limit=50", headers=auth).json()["data"]
        side = next(l for l in locks if l["provider_id"] == desc["lock_ids"][1])
        created = requests.post(
            f"{base}/v1/locks/{side['id']}/access-codes",
            headers=auth,
            json={"name": "Courier", "code": "24681357"},
        ).json()
        assert "id" in created, created
        code_url = f"{base}/v1/access-codes/{created['id']}"
        for _ in range(200):
            if requests.get(code_url, headers=auth).json()["status"] == "set":
                break
            time.sleep(0.05)
        keypad = desc["keypad_ids"][1]
        keys = await keys_of(api, keypad)
        mine = [k for k in keys if api.aes_128_cbc_decrypt(k["password"], k["iv"]) == "24681357"]
        assert len(mine) == 1 and mine[0]["name"].startswith("Courier"), keys
        assert requests.delete(code_url, headers=auth).ok
        await until("the revocation", lambda: no_key(api, keypad, mine[0]["name"]), seconds=30)
        print("a code issued through lockbridge came and went in switchbot-api's key list")
    finally:
        await api.close()


def main():
    demo_proc = subprocess.Popen(
        ["cargo", "run", "--release", "-q", "--", "demo", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        demo = json.loads(demo_proc.stdout.readline())
        desc = demo["simulators"]["switchbot"]
        switchbot_api._API_HOST = desc["base_url"]
        asyncio.run(check_client(desc))
        asyncio.run(check_through_lockbridge(demo, desc))
        print("switchbot-api works against the simulator and through lockbridge")
    finally:
        demo_proc.terminate()
        demo_proc.wait()


if __name__ == "__main__":
    sys.exit(main())
