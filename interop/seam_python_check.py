"""Seam's official Python SDK (`seam`, pinned), unchanged, against `lockbridge demo`'s `/seam`
surface, with the simulators' locks (their `/_sim/` control API) as the oracle:

- list locks; create a time-bound code and read it until `set`, the simulator holding it;
  list, update (the new PIN on the simulator), delete (gone from the simulator);
- unlock with the SDK's own action-attempt wait (the simulator's lock open);
- create_multiple across two vendors with one PIN (both simulators hold it);
- unmanaged codes listed and one converted to managed;
- events since a time; a webhook created and a delivery verified by `SeamWebhook`;
- a missing code raising the SDK's not-found error; a member key refused on webhooks.

    pip install seam==3.18.0
    python3 interop/seam_python_check.py   # starts `lockbridge demo --json` itself
"""

import datetime
import http.server
import json
import queue
import subprocess
import sys
import threading
import time
import urllib.request

from seam import Seam, SeamHttpApiError, SeamWebhook


def sim_lock(demo, vendor, device):
    base = demo["simulators"][vendor]["base_url"]
    with urllib.request.urlopen(f"{base}/_sim/locks/{device.properties.serial_number}") as r:
        return json.loads(r.read())


def pins(demo, device):
    vendor = device.device_type.removesuffix("_lock")
    lock = sim_lock(demo, vendor, device)
    if vendor == "ttlock":
        return {p["code"] for p in lock["passcodes"].values()}
    return {p["pin"] for p in lock["pins"].values()}


def until(what, cond, seconds=30):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.2)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class Hooks(http.server.BaseHTTPRequestHandler):
    got = queue.Queue()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        Hooks.got.put((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_):
        pass


def check(demo):
    seam = Seam(api_key="seam_" + demo["api_key"], endpoint=demo["api_url"] + "/seam")
    locks = seam.locks.list()
    print("locks:", len(locks))
    usable = [d for d in locks if d.properties.online and d.can_program_online_access_codes]
    front = next(d for d in usable if d.device_type == "ttlock_lock")
    tedee = next(d for d in usable if d.device_type == "tedee_lock")

    now = datetime.datetime.now(datetime.timezone.utc)
    made = seam.access_codes.create(
        device_id=front.device_id,
        name="Seam SDK guest",
        code="615243",
        starts_at=iso(now - datetime.timedelta(minutes=1)),
        ends_at=iso(now + datetime.timedelta(days=2)),
    )
    until("the code set", lambda: seam.access_codes.get(access_code_id=made.access_code_id).status == "set")
    assert "615243" in pins(demo, front), "the simulator holds the code"
    listed = seam.access_codes.list(device_id=front.device_id)
    assert any(c.access_code_id == made.access_code_id for c in listed)
    seam.access_codes.update(access_code_id=made.access_code_id, code="615244")
    until("the new PIN on the lock", lambda: "615244" in pins(demo, front) and "615243" not in pins(demo, front))
    seam.access_codes.delete(access_code_id=made.access_code_id)
    until("the code off the lock", lambda: "615244" not in pins(demo, front))
    try:
        seam.access_codes.get(access_code_id=made.access_code_id)
        raise AssertionError("a deleted code was found")
    except SeamHttpApiError as e:
        assert e.code == "access_code_not_found", e.code
    print("code created, set, updated, deleted")

    attempt = seam.locks.unlock_door(device_id=front.device_id)
    assert attempt.status == "success", attempt
    assert sim_lock(demo, "ttlock", front)["state"] == 1, "the simulator's lock is open"
    print("unlocked:", attempt.action_attempt_id)

    both = seam.access_codes.create_multiple(device_ids=[front.device_id, tedee.device_id], name="Two vendors")
    codes = {c.code for c in both}
    assert len(both) == 2 and len(codes) == 1, both
    pin = codes.pop()
    until("the shared PIN on both locks", lambda: pin in pins(demo, front) and pin in pins(demo, tedee))
    print("one PIN on two vendors:", both[0].common_code_key)

    found = seam.access_codes.unmanaged.list(device_id=front.device_id)
    assert found, "the demo's lock holds codes set outside lockbridge"
    seam.access_codes.unmanaged.convert_to_managed(access_code_id=found[0].access_code_id)
    managed = seam.access_codes.list(device_id=front.device_id)
    assert any(c.access_code_id == found[0].access_code_id for c in managed)
    print("unmanaged codes:", len(found), "one converted")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = seam.webhooks.create(url=f"http://127.0.0.1:{server.server_port}/hook", event_types=["access_code.set_on_device"])
    since = iso(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2))
    fresh = seam.access_codes.create(device_id=front.device_id, code="724136")
    headers, body = Hooks.got.get(timeout=30)
    event = SeamWebhook(hook.secret).verify(body, headers)
    assert event.event_type == "access_code.set_on_device", event
    assert event.access_code_id == fresh.access_code_id, event
    events = seam.events.list(since=since)
    assert any(e.event_id == event.event_id for e in events), events
    server.shutdown()
    print("webhook delivery verified by SeamWebhook; events since a time:", len(events))

    req = urllib.request.Request(
        demo["api_url"] + "/v1/api-keys",
        data=json.dumps({"name": "seam member", "role": "member"}).encode(),
        headers={"authorization": "Bearer " + demo["api_key"], "content-type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        member_key = json.loads(r.read())["key"]
    member = Seam(api_key="seam_" + member_key, endpoint=demo["api_url"] + "/seam")
    assert member.locks.list(), "a member lists locks"
    try:
        member.webhooks.list()
        raise AssertionError("a member listed webhooks")
    except SeamHttpApiError as e:
        assert (e.status_code, e.code) == (403, "forbidden"), (e.status_code, e.code)
    print("a member key is refused on webhooks")


def main():
    demo_proc = subprocess.Popen(["cargo", "run", "--release", "-q", "--", "demo", "--json"], stdout=subprocess.PIPE, text=True)
    try:
        demo = json.loads(demo_proc.stdout.readline())
        check(demo)
        print("Seam's Python SDK runs unchanged against lockbridge's /seam")
    finally:
        demo_proc.terminate()
        demo_proc.wait()


if __name__ == "__main__":
    sys.exit(main())
