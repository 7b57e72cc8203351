"""`audit export` at scale (issue 28; docs/benchmarks.md, "Export at scale"): a year of changes
exported from a 1,000,000-record log, this build against the previous one, with `audit verify` of the
same log as the reference, measured in the same run:

- `sluice audit verify --data-dir D` (the chain alone) and `sluice audit verify --data-dir D
  --public-key K` (the chain, the tree and the checkpoints: what an export verifies first), and
  `sluice audit export` of the whole year (every record of the log), each of this build and of the
  previous one, ROUNDS times in alternation (both exports run in bounded memory since issue 28); the
  two builds' bundles must be byte-identical but for VERIFY.md, which the run checks (their
  SHA256SUMS are equal on every other file);
- the bundle's own recipe (VERIFY.md's bash block), run on this build's bundle as an auditor runs it,
  then the previous build's recipe on its own bundle (the recipe is part of what each build writes),
  and this build's sample check alone (`--sample-only`).

Each run's wall time, CPU time (user + system) and peak RSS come from GNU time; the number of files
the bundle holds, its size and the largest directory are counted after each export.

The log: N valid chained records shaped like the golden sync and guard records (about 1.1 KB each,
as benches/ledger-verify.py writes them), one every 31.5 s through 2026 (a year), five records a
change (200,000 changes at N = 1,000,000), some with approvers and gate findings, in sealed segments
of 256 MiB and the active audit.jsonl; signed once by this build's sink (`serve --checkpoint-key-file`:
the tiles and a checkpoint of the whole log). Generated once into DIR and reused (files `complete` and
`signed` mark it). The bundles are written under DIR and deleted after they are measured.

Usage: export.py NEW BASE [N] [DIR] [ROUNDS]    (N default 1000000, ROUNDS default 2)
Prints Markdown tables.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chained import golden, write_log  # noqa: E402

START = 1767225600  # 2026-01-01T00:00:00Z
STEP_MS = 31_536  # a year of 365 days over a million records


def stamp(ms):
    t = time.gmtime(START + ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % (ms % 1000)


def generate(d, n):
    sync, guard = golden("sync-succeeded"), golden("guard-decision")
    pad = "x" * 120
    step = STEP_MS * 1_000_000 // n

    def record(i):
        m = dict(guard if i % 5 == 0 else sync)
        m.update(key=f"bench|{i}", changeId=f"CHG-{i // 5}", revision="%040x" % (i // 5),
                 receivedAt=stamp(i * step))
        m["app"] = dict(m["app"], name="app-%03d" % ((i // 5) % 300))
        if "message" in m:
            m["message"] = f"generated record {i} {pad}"
            m["approvedBy"] = ["=cmd|' /C calc'!A0"] if i % 997 == 1 else ["bob", "carol"]
            m["gate"] = {"backup": None, "exceptions": ["rollback"] if i % 13 == 1 else [],
                         "guard": "Succeeded", "migrations": None, "source": "Plugin"}
        return m

    write_log(d, n, record)


def sign(exe, d, keys, n):
    """The tiles and a checkpoint of the whole log: this build's sink, started once on it."""
    subprocess.run([exe, "audit", "keygen", "--name", "bench.example/sluice", "--out", keys],
                   check=True, stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = subprocess.Popen([exe, "serve", "--insecure-no-auth", "--listen", f"127.0.0.1:{port}",
                              "--data-dir", d, "--checkpoint-key-file", keys + ".key"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, SLUICE_LOG="warn"))
    note = os.path.join(d, "checkpoints", "%020d.note" % n)
    try:
        deadline = time.monotonic() + 1800
        while not os.path.exists(note):
            if time.monotonic() > deadline or child.poll() is not None:
                raise SystemExit(f"no checkpoint of {n} records")
            time.sleep(0.5)
    finally:
        child.terminate()
        child.wait(timeout=300)
    open(os.path.join(d, "signed"), "w").close()


def timed(argv, cwd=None, ok=(0,), env=None):
    """Wall seconds, peak RSS (MB) and output of one run, through GNU time; its CPU seconds (user and
    system) in CPU[-1]."""
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S"] + argv, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    if r.returncode not in ok:
        raise SystemExit(f"{argv} failed ({r.returncode}): {r.stdout[-2000:]} {r.stderr[-2000:]}")
    wall, rss, user, system = r.stderr.strip().splitlines()[-1].split()
    CPU.append(float(user) + float(system))
    return float(wall), int(rss) / 1024, r.stdout


CPU = []


def shape(bundle):
    """Files, bytes, and the most files in one directory."""
    files, size, widest = 0, 0, 0
    for root, _, names in os.walk(bundle):
        files += len(names)
        widest = max(widest, len(names))
        size += sum(os.path.getsize(os.path.join(root, f)) for f in names)
    return files, size, widest


def recipe(bundle):
    with open(os.path.join(bundle, "VERIFY.md")) as f:
        md = f.read()
    start = md.index("```bash\n") + len("```bash\n")
    end = md.index("\n```", start)
    return md[start:end + 1]


def main():
    new, base = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    root = sys.argv[4] if len(sys.argv) > 4 else os.path.join("target", "tmp", f"export-{n}")
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    d, keys = os.path.join(root, "log"), os.path.join(root, "k")
    if not os.path.exists(os.path.join(d, "complete")):
        shutil.rmtree(d, ignore_errors=True)
        generate(d, n)
    if not os.path.exists(os.path.join(d, "signed")):
        sign(new, d, keys, n)
    mb = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs
             if f.endswith(".jsonl")) / 1e6
    period = ["--from", "2026-01-01T00:00:00Z", "--to", "2027-01-01T00:00:00Z"]

    def export(exe, name, sample=False):
        out = os.path.join(root, name)
        shutil.rmtree(out, ignore_errors=True)
        argv = [exe, "audit", "export", "--data-dir", d, "--public-key", keys + ".pub", *period,
                "--out", out]
        if sample:
            argv += ["--sample", "25", "--seed", "bench"]
        wall, rss, _ = timed(argv)
        return wall, rss, out

    def verify(exe, keyed):
        argv = [exe, "audit", "verify", "--data-dir", d] + (["--public-key", keys + ".pub"] if keyed else [])
        return lambda: timed(argv)[:2] + (CPU[-1],)

    builds = [("this build", new, "bundle-new")] + ([("previous build", base, "bundle-base")] if base != "-" else [])
    contenders = {}
    for who, exe, name in builds:
        contenders[f"audit verify (chain), {who}"] = verify(exe, False)
        contenders[f"audit verify --public-key, {who}"] = verify(exe, True)
        contenders[f"audit export of the year, {who}"] = (exe, name, who)
    runs = {k: [] for k in contenders}
    load = [os.getloadavg()[0]]
    timed(["cat"] + [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs if f.endswith(".jsonl")])
    shapes, sums = {}, {}
    for i in range(rounds):
        for k, f in contenders.items():
            if isinstance(f, tuple):
                exe, name, who = f
                wall, rss, out = export(exe, name, sample=True)
                shapes[who] = shape(out)
                with open(os.path.join(out, "SHA256SUMS")) as fh:
                    # VERIFY.md aside: a build may change the recipe and nothing else of the bundle.
                    sums[who] = [l for l in fh.read().splitlines() if not l.endswith("  VERIFY.md")]
                if i + 1 < rounds:
                    shutil.rmtree(out)
                runs[k].append((wall, rss, CPU[-1]))
            else:
                runs[k].append(f())
        load.append(os.getloadavg()[0])
    same = len({tuple(v) for v in sums.values()}) == 1
    bundle = os.path.join(root, "bundle-new")
    key = open(keys + ".pub").read().strip()
    script = recipe(bundle)
    wall, rss, stdout = timed(["bash", "-c", script, "verify.sh", key], cwd=bundle)
    full = (wall, rss, stdout.strip().splitlines()[-1], CPU[-1])
    # The previous build's recipe, on its own bundle.
    old = None
    if base != "-":
        previous = os.path.join(root, "bundle-base")
        wall, rss, stdout = timed(["bash", "-c", recipe(previous), "verify.sh", key], cwd=previous)
        old = (wall, rss, stdout.strip().splitlines()[-1], CPU[-1])
        shutil.rmtree(previous)
    wall, rss, stdout = timed(["bash", "-c", script, "verify.sh", key, "--sample-only"], cwd=bundle)
    sampled = (wall, rss, stdout.strip().splitlines()[-1], CPU[-1])
    shutil.rmtree(bundle)
    load.append(os.getloadavg()[0])

    print(f"{n} records ({mb:.0f} MB) received through 2026, {n // 5} changes; {rounds} alternating "
          f"rounds; 1-min load {min(load):.1f}-{max(load):.1f}; {os.cpu_count()} cores\n")
    print("| run | median s | median CPU s (user + sys) | peak RSS MB |")
    print("|---|---|---|---|")
    med = {}
    for k, v in runs.items():
        med[k] = tuple(statistics.median(x[j] for x in v) for j in range(3))
        print(f"| {k} | {med[k][0]:.2f} | {med[k][2]:.2f} | {med[k][1]:.0f} |")
    print(f"| VERIFY.md recipe, whole bundle, this build | {full[0]:.2f} | {full[3]:.2f} | {full[1]:.0f} |")
    if old:
        print(f"| VERIFY.md recipe, whole bundle, previous build | {old[0]:.2f} | {old[3]:.2f} | {old[1]:.0f} |")
    print(f"| VERIFY.md recipe, `--sample-only` (25 changes) | {sampled[0]:.2f} | {sampled[3]:.2f} | {sampled[1]:.0f} |")
    for who, _, _ in builds:
        exp = med[f"audit export of the year, {who}"][0]
        ver = med[f"audit verify --public-key, {who}"][0]
        chain = med[f"audit verify (chain), {who}"][0]
        print(f"\n{who}: export / verify --public-key: {exp / ver:.2f}; export / verify (chain): {exp / chain:.2f}")
    print(f"\nrecipe: {full[2]}\n" + (f"previous build's recipe: {old[2]}\n" if old else "")
          + f"sample: {sampled[2]}\n")
    if base != "-":
        print(f"bundles of this build and the previous one byte-identical but for VERIFY.md (SHA256SUMS, "
              f"which covers every other file, equal on those): {'yes' if same else 'NO'}\n")
    print("| bundle | files | MB | most files in one directory |\n|---|---|---|---|")
    for k, (files, size, widest) in shapes.items():
        print(f"| {k} | {files} | {size / 1e6:.0f} | {widest} |")


if __name__ == "__main__":
    main()
