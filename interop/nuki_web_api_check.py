"""Runs the open-source `nuki-web-api` client, unchanged but for its base URL (a constructor
argument), against `lockbridge demo`'s Nuki simulator, and checks that a code issued through
lockbridge shows in the client's own listing and leaves it when revoked.

    pip install nuki-web-api==0.1.15
    python3 interop/nuki_web_api_check.py     # starts `lockbridge demo --json` itself (release build)

It exits non-zero when any call fails or a state read back is wrong.
"""

import json
import subprocess
import sys
import time

import requests
from nukiwebapi import NukiWebAPI


def until(what, probe, seconds=10.0):
    """Nuki applies a write a moment after accepting it: read again until it shows."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not show within {seconds} s")
        time.sleep(0.05)


def refused(call, text):
    try:
        call()
    except requests.HTTPError as e:
        assert text in str(e), f"expected {text!r} in {e}"
        return
    raise AssertionError(f"expected a refusal mentioning {text!r}")


def check_client(desc):
    api = NukiWebAPI(desc["api_token"], base_url=desc["base_url"])
    locks = api.lock_instances
    names = sorted(lock.name for lock in locks.values())
    print("locks:", names)
    assert len(locks) == len(desc["lock_ids"])
    lock_id = desc["lock_ids"][0]
    lock = locks[lock_id]
    assert lock.is_locked and lock.battery_charge is not None
    assert len(lock.hex_id) == 8, "a real-looking id: a type digit, then the Nuki ID"

    lock.unlock()
    until("the unlock", lambda: lock.refresh()["state"]["state"] == 3)
    api.smartlock.lock_smartlock(lock_id)
    until("the lock", lambda: lock.refresh()["state"]["state"] == 1)

    auths = api.smartlock_auth
    for bad, param in [(123456, "code"), (384305, "code"), (38436, "code")]:
        refused(
            lambda: auths.create_auth_for_smartlock(lock_id, "Bad", False, type=13, code=bad),
            f"parameter '{param}'",
        )
    auths.create_auth_for_smartlock(
        lock_id, "Guest", False, type=13, code=735918,
        allowed_from_date="2030-01-01T14:00:00.000Z", allowed_until_date="2030-01-08T10:00:00.000Z",
        allowed_week_days=124, allowed_from_time=480, allowed_until_time=1080,
    )
    refused(
        lambda: auths.create_auth_for_smartlock(lock_id, "Again", False, type=13, code=735918),
        "409",
    )
    listed = lambda: [a for a in auths.list_auths_for_smartlock(lock_id, types="13") if a["code"] == 735918]
    guest = until("the new code", listed)[0]
    assert guest["allowedWeekDays"] == 124 and guest["allowedUntilTime"] == 1080, guest
    assert auths.get_auth(lock_id, guest["id"]).json()["name"] == "Guest"

    # Someone types it on the keypad: the log names the code's authorization.
    control = desc["base_url"] + f"/_sim/locks/{lock_id}/keypad"
    assert requests.post(control, json={"code": 735918}).json()["opened"]
    logs = api.smartlock_log.list_logs_for_smartlock(lock_id, {"limit": 5}).json()
    assert logs[0]["trigger"] == 255 and logs[0]["authId"] == guest["id"], logs[0]

    auths.update_auth(lock_id, guest["id"], enabled=False)
    until("the change", lambda: not auths.get_auth(lock_id, guest["id"]).json()["enabled"])
    auths.delete_auth(lock_id, guest["id"])
    until("the deletion", lambda: not listed() or None)

    stranger = NukiWebAPI("not-a-token", base_url=desc["base_url"])
    refused(stranger.smartlock.list_smartlocks, "Your access token is not authorized")

    started = time.perf_counter()
    for _ in range(200):
        api.smartlock.get_smartlock(lock_id)
    per_call = (time.perf_counter() - started) / 200
    print(f"nuki-web-api: {per_call * 1e6:.1f} µs per sequential get_smartlock()")


def check_through_lockbridge(demo, desc):
    """A code issued through lockbridge is in the client's own listing, and leaves it revoked."""
    api = NukiWebAPI(desc["api_token"], base_url=desc["base_url"])
    base, auth = demo["api_url"], {"Authorization": f"Bearer {demo['api_key']}"}
    locks = requests.get(f"{base}/v1/locks?provider=nuki&limit=50", headers=auth).json()["data"]
    garden = next(l for l in locks if l["provider_id"] == str(desc["lock_ids"][1]))
    created = requests.post(
        f"{base}/v1/locks/{garden['id']}/access-codes",
        headers=auth,
        json={"name": "Gardener", "code": "846239"},
    ).json()
    assert "id" in created, created
    code_url = f"{base}/v1/access-codes/{created['id']}"
    until("the code set", lambda: requests.get(code_url, headers=auth).json()["status"] == "set")
    on_lock = lambda: [a for a in api.smartlock_auth.list_auths_for_smartlock(desc["lock_ids"][1], types="13")
                       if a["code"] == 846239]
    assert on_lock() and on_lock()[0]["name"] == "Gardener"
    gone = requests.delete(code_url, headers=auth)
    assert gone.ok, gone.text
    until("the revocation", lambda: not on_lock() or None, seconds=30)
    print("a code issued through lockbridge came and went in nuki-web-api's listing")


def main():
    demo_proc = subprocess.Popen(
        ["cargo", "run", "--release", "-q", "--", "demo", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        demo = json.loads(demo_proc.stdout.readline())
        desc = demo["simulators"]["nuki"]
        check_client(desc)
        check_through_lockbridge(demo, desc)
        print("nuki-web-api works against the simulator and through lockbridge")
    finally:
        demo_proc.terminate()
        demo_proc.wait()


if __name__ == "__main__":
    sys.exit(main())
