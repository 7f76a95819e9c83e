"""Seam's official JavaScript SDK (`seam`, pinned in `interop/seam_js/package.json`), unchanged,
against `lockbridge demo`'s `/seam` surface under Node's test runner (`seam_js/seam.test.mjs`).

    python3 interop/seam_js_check.py   # starts `lockbridge demo --json` itself

Needs Node.js and npm: under CI=true their absence fails the check; otherwise it says SKIPPED.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seam_js")


def main():
    if not shutil.which("npm"):
        if os.environ.get("CI") == "true":
            print("seam (JavaScript): npm is required under CI=true", file=sys.stderr)
            return 1
        print("seam (JavaScript): SKIPPED — npm is not available")
        return 0
    demo_proc = subprocess.Popen(["cargo", "run", "--release", "-q", "--", "demo", "--json"], stdout=subprocess.PIPE, text=True)
    try:
        line = demo_proc.stdout.readline()
        json.loads(line)
        with tempfile.TemporaryDirectory() as work:
            for name in ["package.json", "seam.test.mjs"]:
                shutil.copy(os.path.join(HERE, name), work)
            done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "-q"], cwd=work, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
            done = subprocess.run(["node", "--test", "seam.test.mjs"], cwd=work, env={**os.environ, "LOCKBRIDGE_DEMO": line}, capture_output=True, text=True)
            print(done.stdout.strip())
            assert done.returncode == 0, done.stderr
        print("Seam's JavaScript SDK runs unchanged against lockbridge's /seam")
    finally:
        demo_proc.terminate()
        demo_proc.wait()


if __name__ == "__main__":
    sys.exit(main())
