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

# packaging/compose.yaml's two services, from the image, with the commands and settings the
# file gives them: on one PostgreSQL database (the local one stands in for its `db` service),
# the master key read from the secret file. The api instance serves the API; the workers
# instance answers its health only; both agree on the key.
pg="${LOCKBRIDGE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"
db="lockbridge_compose_$$"
PGOPTIONS="-c client_min_messages=warning" psql -q "$pg" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
dropdb() { psql -q "$pg" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; }
mkdir -p "$work/secrets" && openssl rand -hex 32 >"$work/secrets/master_key"
chmod 0444 "$work/secrets/master_key"
api_port=$(free_port); workers_port=$(free_port)
python3 - packaging/compose.yaml "${pg%/*}/$db" "$api_port" "$workers_port" >"$work/services" <<'PY'
import shlex, sys, yaml
compose, url, ports = yaml.safe_load(open(sys.argv[1])), sys.argv[2], {"api": sys.argv[3], "workers": sys.argv[4]}
for name in ("api", "workers"):
    svc = compose["services"][name]
    assert svc["secrets"] == ["master_key"], svc
    env = dict(svc["environment"])
    assert env["LOCKBRIDGE_MASTER_KEY_FILE"] == "/run/secrets/master_key", env
    env["LOCKBRIDGE_DATABASE_URL"] = url
    env["LOCKBRIDGE_LISTEN"] = f"127.0.0.1:{ports[name]}"
    flags = " ".join(f"--env {shlex.quote(f'{k}={v}')}" for k, v in env.items())
    print(name, flags, " ".join(shlex.quote(a) for a in svc["command"]))
PY
serve_as() {
    local line flags cmd
    line=$(grep "^$1 " "$work/services"); line=${line#"$1 "}
    flags=${line%% serve*}; cmd="serve${line#*serve}"
    eval "run -v $work/secrets:/run/secrets:ro $flags $ctr -- /usr/local/bin/lockbridge $cmd" >"$work/$1.log" 2>&1 &
}
serve_as api; api_pid=$!
serve_as workers; workers_pid=$!
wait_200 "http://127.0.0.1:$api_port/readyz" || { cat "$work/api.log" >&2; dropdb; exit 1; }
wait_200 "http://127.0.0.1:$workers_port/readyz" || { cat "$work/workers.log" >&2; dropdb; exit 1; }
settings="$(grep '^api ' "$work/services" | sed 's/^api //; s/ serve.*//')"
org=$(eval "run -v $work/secrets:/run/secrets:ro $settings $ctr -- /usr/local/bin/lockbridge org create Compose" 2>&1 | sed -n 's/.*(\(org_[0-9a-f]*\)).*/\1/p')
key=$(eval "run -v $work/secrets:/run/secrets:ro $settings $ctr -- /usr/local/bin/lockbridge org key $org --role admin" 2>/dev/null)
curl -fsS -H "Authorization: Bearer $key" "http://127.0.0.1:$api_port/v1/locks" >/dev/null \
    || { echo "the api service does not serve /v1 with a key made on the same database" >&2; dropdb; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "http://127.0.0.1:$workers_port/v1/locks")
[ "$status" = 404 ] || { echo "the workers service answered /v1 ($status)" >&2; dropdb; exit 1; }
kill "$api_pid" "$workers_pid"; wait "$api_pid" "$workers_pid" 2>/dev/null || true
pkill -f "lockbridge serve" >/dev/null 2>&1 || true
dropdb
echo "compose.yaml's api and workers services run from the image on one PostgreSQL database"
echo "image: ok"
