"""What the Merkle tree costs (docs/benchmarks.md, "The Merkle tree"), against the chain alone, measured
in the same run on the same log. Run through benches/merkle.sh.

Builds a log of N valid chained records (about 600 bytes each) in a temporary directory and times, with
the release build:

- `audit verify` (the chain alone): the baseline;
- the first start of `sluice serve` on it (no marker, no tiles: the chain verified, the index and the
  tree built, every tile written), to its first /healthz;
- a restart from the marker with the tiles there (the usual start);
- a restart from the marker with the tiles gone (the first start after upgrading a log to the tree);
- `audit verify --public-key` (the chain, the tree, every tile and checkpoint compared);
- `audit prove --seq N/2` (the chain verified, then one proof from the tiles).

Usage: merkle.py SLUICE [N]
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def generate(path, n):
    prev = "0" * 64
    pad = "x" * 420
    with open(path, "w") as f:
        for s in range(1, n + 1):
            body = ('{"app":{"name":"app%d"},"changeId":"CHG-%d","event":"sync-succeeded","key":"k%d",'
                    '"pad":"%s","prev":"%s","receivedAt":"2026-01-01T00:00:00.000Z","seq":%d}'
                    % (s % 300, s // 3, s, pad, prev, s))
            h = hashlib.sha256((prev + body).encode()).hexdigest()
            i = body.index(',"key"')
            f.write(body[:i] + ',"hash":"%s"' % h + body[i:] + "\n")
            prev = h


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def no_auth(exe):
    """`--insecure-no-auth` for a build whose `serve` refuses to start without a token (loopback only),
    nothing for an older build that has no such flag (runs against a baseline build)."""
    help_text = subprocess.run([exe, "serve", "--help"], capture_output=True, text=True).stdout
    return ["--insecure-no-auth"] if "--insecure-no-auth" in help_text else []


def start_to_healthz(sluice, data, extra=()):
    port = free_port()
    t = time.perf_counter()
    p = subprocess.Popen([sluice, "serve", *no_auth(sluice), "--listen", "127.0.0.1:%d" % port,
                          "--data-dir", data, *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if p.poll() is not None:
            raise SystemExit("sluice serve exited")
        time.sleep(0.02)
    took = time.perf_counter() - t
    return p, took


def stop(p):
    p.terminate()
    p.wait(timeout=300)


def main():
    sluice = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    work = tempfile.mkdtemp(prefix="sluice-merkle-")
    try:
        data = os.path.join(work, "data")
        os.makedirs(data)
        t = time.perf_counter()
        generate(os.path.join(data, "audit.jsonl"), n)
        size = os.path.getsize(os.path.join(data, "audit.jsonl"))
        print("generated %d records, %.0f MB, in %.1f s" % (n, size / 1e6, time.perf_counter() - t))
        subprocess.run([sluice, "audit", "keygen", "--name", "bench.example/sluice", "--out",
                        os.path.join(work, "k")], check=True, stdout=subprocess.DEVNULL)
        rows = []
        chain = timed([sluice, "audit", "verify", "--data-dir", data])
        rows.append(("audit verify (the chain alone)", chain))
        p, first = start_to_healthz(sluice, data, ["--checkpoint-key-file", os.path.join(work, "k.key")])
        # The first start signs the head right away; wait for it before stopping.
        note = os.path.join(data, "checkpoints", "%020d.note" % n)
        while not os.path.exists(note):
            time.sleep(0.05)
        stop(p)
        rows.append(("first start: chain, index and tree built, tiles written", first))
        p, quick = start_to_healthz(sluice, data)
        stop(p)
        rows.append(("restart from the marker, tiles there", quick))
        shutil.rmtree(os.path.join(data, "tile"))
        p, upgrade = start_to_healthz(sluice, data)
        stop(p)
        rows.append(("restart from the marker, no tiles (the first start after upgrading)", upgrade))
        full = timed([sluice, "audit", "verify", "--data-dir", data, "--public-key", os.path.join(work, "k.pub")])
        rows.append(("audit verify --public-key (chain, tree, tiles, checkpoint)", full))
        prove = timed([sluice, "audit", "prove", "--data-dir", data, "--seq", str(n // 2)])
        rows.append(("audit prove --seq N/2", prove))
        tiles = sum(len(fs) for _, _, fs in os.walk(os.path.join(data, "tile")))
        print("tiles on disk: %d" % tiles)
        print()
        print("| %d records | seconds | × chain alone |" % n)
        print("|---|---|---|")
        for name, secs in rows:
            print("| %s | %.2f | %.2f |" % (name, secs, secs / chain))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
