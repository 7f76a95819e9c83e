#!/usr/bin/env bash
# Builds the image from the Containerfile without any registry and exercises it: a minimal
# Debian root made by mmdebstrap stands in for the base the Containerfile names, buildah builds
# (--pull=never) and runs it (chroot isolation, host network). Checks: the process runs as the
# unprivileged user; `serve` answers /healthz and /readyz; data written to the volume survives
# a second run; `demo` in the image sets a code on its simulators. Prints the image's size and
# the time from `serve`'s start to its first 200 on /readyz.
#
#   packaging/image-check.sh [path/to/release/lockbridge]
set -euo pipefail
bin="${1:-target/release/lockbridge}"
B=(buildah --storage-driver vfs)
work=$(mktemp -d)
ctr=""
cleanup() {
    [ -n "$ctr" ] && "${B[@]}" rm "$ctr" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

base=$(sed -n 's/^ARG BASE=//p' Containerfile)
if ! "${B[@]}" inspect --type image "$base" >/dev/null 2>&1; then
    mmdebstrap --quiet --variant=minbase bookworm "$work/rootfs.tar"
    c=$("${B[@]}" from scratch)
    "${B[@]}" add "$c" "$work/rootfs.tar" / >/dev/null
    "${B[@]}" commit -q "$c" "$base" >/dev/null
    "${B[@]}" rm "$c" >/dev/null
    rm "$work/rootfs.tar"
fi

# The context: the Containerfile and the binary, its debug lines left out of the image.
mkdir -p "$work/ctx/target/release"
cp Containerfile "$work/ctx/"
objcopy --strip-debug "$bin" "$work/ctx/target/release/lockbridge"
"${B[@]}" bud --quiet --pull=never --isolation chroot --format docker \
    --build-arg VERSION="$(git describe --always --dirty 2>/dev/null || echo dev)" \
    -f "$work/ctx/Containerfile" -t localhost/lockbridge:check "$work/ctx" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; exit 1; }
size=$("${B[@]}" images --format '{{.Size}}' localhost/lockbridge:check)
echo "image localhost/lockbridge:check built: $size (base: Debian bookworm minbase, $("${B[@]}" images --format '{{.Size}}' "$base"))"

ctr=$("${B[@]}" from --pull=never localhost/lockbridge:check)
run() { "${B[@]}" run --isolation chroot -v "$work/data:/var/lib/lockbridge" "$@"; }
mkdir -p "$work/data" && chown 10001:10001 "$work/data"

uid=$(run "$ctr" -- id -u)
[ "$uid" = 10001 ] || { echo "runs as uid $uid, not the image's user" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_200() {
    for _ in $(seq 1 300); do
        curl -fsS "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "no 200 from $1" >&2
    return 1
}

# serve: health and readiness, timed from start.
port=$(free_port)
started=$(date +%s%N)
run --env LOCKBRIDGE_LISTEN="127.0.0.1:$port" \
    "$ctr" -- /usr/local/bin/lockbridge serve >"$work/serve.log" 2>&1 &
serve=$!
wait_200 "http://127.0.0.1:$port/readyz"
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
echo "serve in the image: /healthz and /readyz answer; ready ${ready_ms} ms after start"
kill "$serve"; wait "$serve" 2>/dev/null || true
pkill -f "lockbridge serve" >/dev/null 2>&1 || true

# The volume keeps what a run wrote: an organisation made in one run has a key made in the next.
org=$(run "$ctr" -- /usr/local/bin/lockbridge org create Acme 2>&1 | sed -n 's/.*(\(org_[0-9a-f]*\)).*/\1/p')
[ -n "$org" ] || { echo "no organisation created" >&2; exit 1; }
run "$ctr" -- /usr/local/bin/lockbridge org key "$org" --role member 2>/dev/null | grep -q '^lb_' \
    || { echo "the organisation did not survive a second run" >&2; exit 1; }
echo "the volume kept the database and the master key across runs"

# demo in the image: a code issued through the API is set on the simulated lock.
port=$(free_port)
rm -rf "${work:?}/data/"*
run "$ctr" -- \
    /usr/local/bin/lockbridge demo --json --listen "127.0.0.1:$port" >"$work/demo.json" 2>"$work/demo.log" &
demo=$!
wait_200 "http://127.0.0.1:$port/healthz"
python3 - "$work/demo.json" <<'PY'
import json, sys, time, urllib.request
demo = json.loads(open(sys.argv[1]).readline())
api, auth = demo["api_url"], {"Authorization": f"Bearer {demo['api_key']}", "Content-Type": "application/json"}
def call(method, path, body=None):
    req = urllib.request.Request(api + path, method=method, headers=auth, data=json.dumps(body).encode() if body else None)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())
locks = call("GET", "/v1/locks?provider=ttlock&limit=50")["data"]
lock = next(l for l in locks if l["name"] == "Front door")
code = call("POST", f"/v1/locks/{lock['id']}/access-codes", {"name": "Image check", "code": "618304"})
for _ in range(300):
    if code["status"] == "set":
        break
    time.sleep(0.1)
    code = call("GET", f"/v1/access-codes/{code['id']}")
assert code["status"] == "set", code
print("demo in the image: a code is set on its simulated lock")
PY
kill "$demo"; wait "$demo" 2>/dev/null || true
pkill -f "lockbridge demo" >/dev/null 2>&1 || true
echo "image: ok"
