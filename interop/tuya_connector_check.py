"""Runs Tuya's own `tuya-connector-python` (TuyaOpenAPI), unchanged but for its endpoint, against
`lockbridge sim --demo`: token, device info, the password ticket, a temporary password created
with the ticket-encrypted PIN, listed, frozen, unfrozen and deleted, remote unlock, open logs.

    pip install tuya-connector-python cryptography
    python3 interop/tuya_connector_check.py     # starts `lockbridge sim --demo` itself (release build)

It exits non-zero when any call fails.
"""

import json
import subprocess
import sys
import time

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from tuya_connector import TuyaOpenAPI


def ecb(key, data, encrypt):
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    if encrypt:
        padder = padding.PKCS7(128).padder()
        data = padder.update(data) + padder.finalize()
        e = cipher.encryptor()
        return e.update(data) + e.finalize()
    d = cipher.decryptor()
    return (d.update(data) + d.finalize())[:16]


def ok(response, what):
    if not response.get("success"):
        raise SystemExit(f"{what} failed: {response}")
    return response["result"]


def main():
    sim = subprocess.Popen(
        ["cargo", "run", "--release", "-q", "--", "sim", "--demo", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        desc = json.loads(sim.stdout.readline())["tuya"]
        api = TuyaOpenAPI(desc["base_url"], desc["access_id"], desc["access_secret"])
        ok(api.connect(), "connect")
        lock = desc["lock_ids"][0]
        device = ok(api.get(f"/v1.0/devices/{lock}"), "device info")
        print("device:", device["name"], "online:", device["online"], "category:", device["category"])
        ticket = ok(api.post(f"/v1.0/devices/{lock}/door-lock/password-ticket"), "ticket")
        key = ecb(desc["access_secret"].encode(), bytes.fromhex(ticket["ticket_key"]), False)
        password = ecb(key, b"5820394", True).hex().upper()
        now = int(time.time())
        created = ok(
            api.post(
                f"/v1.0/devices/{lock}/door-lock/temp-password",
                {
                    "name": "Interop",
                    "password": password,
                    "password_type": "ticket",
                    "ticket_id": ticket["ticket_id"],
                    "effective_time": now,
                    "invalid_time": now + 86400,
                    "time_zone": "",
                },
            ),
            "create temp password",
        )
        pid = created["id"]
        listed = ok(api.get(f"/v1.0/devices/{lock}/door-lock/temp-passwords", {"valid": "true"}), "list")
        assert any(p["id"] == pid for p in listed), listed
        base = f"/v1.0/devices/{lock}/door-lock/temp-passwords/{pid}"
        ok(api.put(f"{base}/freeze-password"), "freeze")
        ok(api.put(f"{base}/unfreeze-password"), "unfreeze")
        ok(api.delete(base), "delete")
        unlock_ticket = ok(api.post(f"/v1.0/devices/{lock}/door-lock/password-ticket"), "ticket")
        ok(
            api.post(
                f"/v1.0/devices/{lock}/door-lock/password-free/open-door",
                {"ticket_id": unlock_ticket["ticket_id"]},
            ),
            "remote unlock",
        )
        logs = ok(
            api.get(
                f"/v1.0/devices/{lock}/door-lock/open-logs",
                {"page_no": 1, "page_size": 20, "start_time": now - 3600, "end_time": now + 60},
            ),
            "open logs",
        )
        print("open logs:", [entry["status"]["code"] for entry in logs["logs"]])
        print("tuya-connector-python works against the simulator")
    finally:
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    sys.exit(main())
