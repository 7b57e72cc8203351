"""`audit verify` at scale against the speed of hashing (issue 28; docs/benchmarks.md, "Verifying the
log"), measured in the same run on the same bytes, in alternation:

- `wc -l`, coreutils `sha256sum` and `openssl dgst -sha256` of the log's files (the floor);
- `sluice audit verify` of the previous build (BASE, e.g. a release build of main at 00360fb);
- `sluice audit verify` of this build (NEW);
- the sink's first start on the log (no index, no tiles: the chain verified, the index and the tree
  built) to its first `/healthz` answer and to its first acknowledged POST (the record is cut off
  again afterwards), for each build in alternation;
- `audit list --app app-007 --limit 10` with the index that start left, for each build (a previous
  build from before issue 28 reads the whole log; one that reads this build's index reads through it),
  and this build with `--no-index`.

With `queries` as the sixth argument, only the reading through the index is measured (issue 28 item 1),
in alternation: `audit list --app app-007 --limit 10` and `audit show CHG-5` from the data directory,
this build and the previous one, each through the index its own sink left (two data directories
whose log files are hard links of DIR's, since the two builds' index formats differ; this build's in
the steady state of a sink that has run since its last seal, its postings stopping there: see
`tailed`);
and the same queries answered by this build's sink running over the same log: `GET /v1/records` timed
in this process (a new connection each) and by `curl`, and `audit list --server`. Wall time from
spawn to exit (GNU time's peak RSS of each process; the milliseconds measured here, not GNU time's
10 ms steps).

The log: N valid chained records shaped like the golden sync and guard records (about 1.1 KB each,
as benches/audit-scale.rs writes them), in sealed segments of 256 MiB (the sink's default) and the
active audit.jsonl. It is generated once into DIR and reused (a file `complete` marks it whole).

Usage: ledger-verify.py NEW BASE [N] [DIR] [ROUNDS] [queries]    (N default 1000000, ROUNDS default 3)
Prints a Markdown table: median wall time and peak RSS of each, and ratios.
"""

import http.client
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
import urllib.request



def generate(d, n):
    sync, guard = golden("sync-succeeded"), golden("guard-decision")
    pad = "x" * 120

    def record(i):
        m = dict(guard if i % 4 == 3 else sync)
        m.update(key=f"bench|{i}", changeId=f"CHG-{i // 3}", revision="%040x" % (i // 3),
                 receivedAt="2026-01-01T00:00:00.%03dZ" % (i % 1000))
        m["app"] = dict(m["app"], name="app-%03d" % (i % 300))
        if "message" in m:
            m["message"] = f"generated record {i} {pad}"
        return m

    write_log(d, n, record)


def files(d):
    seg = os.path.join(d, "segments")
    return [os.path.join(seg, f) for f in sorted(os.listdir(seg))] + [os.path.join(d, "audit.jsonl")]


def timed(argv):
    """Wall seconds and peak RSS (MB) of one run, through GNU time."""
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{argv} failed: {r.stderr}")
    wall, rss = r.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) / 1024


def spawned(argv):
    """Wall seconds from spawn to exit and peak RSS (MB) of one run: the command under GNU time (for
    its peak RSS; a child forked from this Python would report this Python's), timed here, so
    milliseconds are not rounded to GNU time's 10 ms (GNU time's own start, about 1 ms, is in every
    process contender's time alike)."""
    t = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t
    if r.returncode != 0:
        raise SystemExit(f"{argv} failed: {r.stderr}")
    return wall, int(r.stderr.strip().splitlines()[-1]) / 1024


def linked(d, to):
    """A data directory whose log files are hard links of `d`'s (never written here: no record is posted)."""
    if os.path.exists(os.path.join(to, "complete")):
        return to
    shutil.rmtree(to, ignore_errors=True)
    os.makedirs(os.path.join(to, "segments"))
    for f in files(d):
        os.link(f, os.path.join(to, os.path.relpath(f, d)))
    open(os.path.join(to, "complete"), "w").close()
    return to


def tailed(exe, d, to):
    """A data directory whose log files are hard links of `d`'s, with the index this build's sink
    leaves in its steady state: the postings stop at the last seal and the journal after them holds
    the active segment's records (the sink is started on the sealed segments alone and stopped once it
    has written its postings; then the active segment is linked in and the sink started again, which
    verifies those records after its marker and keeps its postings). A query then reads the postings
    and decodes the journal of the active segment's records, as on a sink that has run since its
    last seal: the most a query decodes is one segment's records."""
    if os.path.exists(os.path.join(to, "complete")):
        return to
    shutil.rmtree(to, ignore_errors=True)
    os.makedirs(os.path.join(to, "segments"))
    active = os.path.join(to, "audit.jsonl")
    for f in files(d):
        if os.path.relpath(f, d) != "audit.jsonl":
            os.link(f, os.path.join(to, os.path.relpath(f, d)))
    open(active, "w").close()
    for step in ("sealed", "active"):
        child, _ = serve(exe, to)
        try:
            deadline = time.monotonic() + 600
            while not os.path.exists(os.path.join(to, "index", "postings")):
                if time.monotonic() > deadline:
                    raise SystemExit("the sink wrote no postings")
                time.sleep(0.05)
        finally:
            child.terminate()
            child.wait(timeout=120)
        if step == "sealed":
            os.remove(active)
            os.link(os.path.join(d, "audit.jsonl"), active)
    with open(os.path.join(to, "index", "marker.json")) as f:
        m = json.load(f)
    point = m["postings"]["point"]
    print(f"postings stop at seq {point['seq']}; the journal after them: "
          f"{(m['journalBytes'] - point['journalBytes']) / 1e6:.2f} MB for {m['seq'] - point['seq']} records")
    open(os.path.join(to, "complete"), "w").close()
    return to


def serve(exe, d):
    """`sluice serve` on `d`, answering: (the child, its base URL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = subprocess.Popen([exe, "serve", *serve_flags(exe), "--listen", f"127.0.0.1:{port}",
                              "--data-dir", d],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, SLUICE_LOG="warn"))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                if r.status == 200:
                    return child, port
        except OSError:
            pass
        if child.poll() is not None:
            raise SystemExit(f"{exe} serve exited {child.returncode}")
        time.sleep(0.01)
    child.kill()
    raise SystemExit("serve did not answer /healthz")


def get(port, path):
    """Seconds for one GET on a new connection, to the last byte of the answer."""
    t = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    wall = time.monotonic() - t
    if r.status != 200 or not body.startswith(b"["):
        raise SystemExit(f"GET {path}: {r.status} {body[:200]!r}")
    return wall, 0.0


def queries(new, base, d, rounds):
    """`audit list` and `audit show` through the index, against the previous build and the sink."""
    top = os.path.dirname(os.path.abspath(d))
    dirs = {"new": tailed(new, d, os.path.join(top, "query-tail")),
            "base": linked(d, os.path.join(top, "query-base"))}
    # The previous build's sink start leaves its index there (a start that finds its index reads it).
    if not os.path.exists(os.path.join(dirs["base"], "index", "marker.json")):
        first_start(base, dirs["base"], keep=True)
    child, port = serve(new, dirs["new"])
    url = f"http://127.0.0.1:{port}"
    try:
        lst = ["audit", "list", "--app", "app-007", "--limit", "10"]
        shw = ["audit", "show", "CHG-5"]
        contenders = {
            "list: previous build, through its index": lambda: spawned([base, *lst, "--data-dir", dirs["base"]]),
            "list: this build, through the index": lambda: spawned([new, *lst, "--data-dir", dirs["new"]]),
            "list: this build, --server (the sink)": lambda: spawned([new, *lst, "--server", url]),
            "list: curl GET /v1/records?app=app-007&limit=10": lambda: spawned(
                ["curl", "-sf", "-o", "/dev/null", f"{url}/v1/records?app=app-007&limit=10"]),
            "list: GET /v1/records?app=app-007&limit=10 in process": lambda: get(
                port, "/v1/records?app=app-007&limit=10"),
            "show: this build, through the index": lambda: spawned([new, *shw, "--data-dir", dirs["new"]]),
            "show: curl GET /v1/records?change=CHG-5": lambda: spawned(
                ["curl", "-sf", "-o", "/dev/null", f"{url}/v1/records?change=CHG-5"]),
            "show: GET /v1/records?change=CHG-5 in process": lambda: get(port, "/v1/records?change=CHG-5"),
        }
        for run in contenders.values():
            run()
        runs = {k: [] for k in contenders}
        load = [os.getloadavg()[0]]
        for _ in range(rounds):
            for k, run in contenders.items():
                runs[k].append(run())
            load.append(os.getloadavg()[0])
        # The previous build's `audit show` and this build's whole-log read (15 s): once.
        once = {"show: previous build, through its index (once)": spawned([base, *shw, "--data-dir", dirs["base"]]),
                "show: this build, --no-index (once)": spawned([new, *shw, "--data-dir", dirs["new"], "--no-index"])}
    finally:
        child.terminate()
        child.wait(timeout=120)
    # The answers themselves: through the index as the previous build's list and the whole log's report.
    out = lambda argv: subprocess.run(argv, capture_output=True, check=True).stdout
    same_list = out([new, *lst, "--data-dir", dirs["new"]]) == out([base, *lst, "--data-dir", dirs["base"]])
    same_show = out([new, *shw, "--data-dir", dirs["new"]]) == out([new, *shw, "--data-dir", dirs["new"], "--no-index"])
    print(f"\nlist output identical to the previous build's: {same_list}; "
          f"show output identical to --no-index's: {same_show}")
    print(f"\n{rounds} alternating rounds; 1-min load {min(load):.1f}-{max(load):.1f}\n")
    print("| query | median ms | min ms | max ms | peak RSS MB |\n|---|---|---|---|---|")
    for k, v in runs.items():
        w = [x for x, _ in v]
        rss = statistics.median(r for _, r in v)
        print(f"| {k} | {statistics.median(w) * 1000:.1f} | {min(w) * 1000:.1f} | {max(w) * 1000:.1f} | "
              f"{f'{rss:.1f}' if rss else '–'} |")
    for k, (w, r) in once.items():
        print(f"| {k} | {w * 1000:.0f} | | | {r:.1f} |")
    med = {k: statistics.median(x for x, _ in v) for k, v in runs.items()}
    print(f"\nlist, this build / previous build: {med['list: this build, through the index'] / med['list: previous build, through its index']:.3f}")
    print(f"list, this build / --server: {med['list: this build, through the index'] / med['list: this build, --server (the sink)']:.2f}; "
          f"/ curl: {med['list: this build, through the index'] / med['list: curl GET /v1/records?app=app-007&limit=10']:.2f}")
    print(f"show, this build / curl: {med['show: this build, through the index'] / med['show: curl GET /v1/records?change=CHG-5']:.2f}")


def main():
    new, base = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    d = sys.argv[4] if len(sys.argv) > 4 else os.path.join("target", "tmp", f"ledger-verify-{n}")
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    if not os.path.exists(os.path.join(d, "complete")):
        generate(d, n)
    if len(sys.argv) > 6 and sys.argv[6] == "queries":
        queries(new, base, d, rounds)
        return
    fs = files(d)
    mb = sum(os.path.getsize(f) for f in fs) / 1e6
    contenders = {
        "wc -l": ["wc", "-l"] + fs,
        "sha256sum": ["sha256sum"] + fs,
        "openssl dgst -sha256": ["openssl", "dgst", "-sha256"] + fs,
        "audit verify (previous build)": [base, "audit", "verify", "--data-dir", d],
        "audit verify (this build)": [new, "audit", "verify", "--data-dir", d],
    }
    # Warm the page cache, then alternate.
    for argv in contenders.values():
        timed(argv)
    runs = {k: [] for k in contenders}
    load = [os.getloadavg()[0]]
    for _ in range(rounds):
        for k, argv in contenders.items():
            runs[k].append(timed(argv))
        load.append(os.getloadavg()[0])
    med = {k: (statistics.median(w for w, _ in v), statistics.median(r for _, r in v)) for k, v in runs.items()}
    print(f"{n} records, {mb:.0f} MB in {len(fs)} files; {rounds} alternating rounds; "
          f"1-min load {min(load):.1f}-{max(load):.1f}; {os.cpu_count()} cores\n")
    print("| contender | median s | peak RSS MB | × sha256sum | × openssl |")
    print("|---|---|---|---|---|")
    for k, (w, r) in med.items():
        print(f"| {k} | {w:.2f} | {r:.0f} | {w / med['sha256sum'][0]:.2f} | "
              f"{w / med['openssl dgst -sha256'][0]:.2f} |")
    old, cur = med["audit verify (previous build)"][0], med["audit verify (this build)"][0]
    print(f"\nverify, this build / previous build: {cur / old:.3f}")

    starts = {"previous build": [], "this build": []}
    for _ in range(max(1, rounds - 1)):
        for name, exe in (("previous build", base), ("this build", new)):
            starts[name].append(first_start(exe, d))
    print("\n| sink's first start (no index, no tiles) | to /healthz 200, median s | "
          "to the first POST's 201, median s |\n|---|---|---|")
    for name, v in starts.items():
        print(f"| {name} | {statistics.median(h for h, _ in v):.2f} | "
              f"{statistics.median(p for _, p in v):.2f} |")

    # The index the lists read: left by a start of this build that posts nothing (the log as generated).
    first_start(new, d, post=False, keep=True)
    query = ["audit", "list", "--data-dir", d, "--app", "app-007", "--limit", "10"]
    lists = {
        "previous build": [base] + query,
        "this build, through the index": [new] + query,
        "this build, --no-index": [new] + query + ["--no-index"],
    }
    runs = {k: [] for k in lists}
    for _ in range(rounds):
        for k, argv in lists.items():
            runs[k].append(timed(argv))
    print("\n| audit list --app app-007 --limit 10 | median ms | peak RSS MB |\n|---|---|---|")
    for k, v in runs.items():
        print(f"| {k} | {statistics.median(w for w, _ in v) * 1000:.0f} | "
              f"{statistics.median(r for _, r in v):.1f} |")


def serve_flags(exe):
    """`--insecure-no-auth` for a build whose `serve` refuses to start without a token (loopback only),
    nothing for an older build that has no such flag (runs against a baseline build); and a segment age
    of ten years: the generated records are dated 2026-01-01, and a sink that sealed the active segment
    by age (on the first POST, or its timer) would move it away under the benchmark, which cuts the
    active segment back to its length afterwards."""
    help_text = subprocess.run([exe, "serve", "--help"], capture_output=True, text=True).stdout
    return (["--insecure-no-auth"] if "--insecure-no-auth" in help_text else []) + \
        (["--segment-age", "520w"] if "--segment-age" in help_text else [])


def first_start(exe, d, post=True, keep=False):
    """Seconds from starting `sluice serve` on the log alone (no index, tiles or checkpoints) to its
    first /healthz 200, and to the first POST /v1/events acknowledged (201): what a client of the sink
    waits for. A build may answer /healthz before it accepts writes (the build before issue 27 held
    writes while it read the gate knowledge), so the second figure is the one to compare. The record
    posted is cut off again afterwards, so every run starts from the same log.

    The derived files are removed after each run (unless `keep`: the index is then read), and a run starts at least 31 s after they were: ext4
    skips inodes freed in the last 30 s when it allocates one (`recently_deleted`), so creating the
    ~3,900 tiles right after deleting as many cost about 1 s of kernel time that no real first start
    pays (a first start follows an upgrade or a restore, not the deletion of a tile tree)."""
    remove_derived(d)
    wait = DELETED.get(d, 0) + 31 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    active = os.path.join(d, "audit.jsonl")
    size = os.path.getsize(active)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    body = json.dumps({"event": "sync-succeeded", "app": {"metadata": {
        "name": "first-start", "namespace": "argocd", "uid": "first-start-uid"},
        "status": {"operationState": {"phase": "Succeeded", "startedAt": "2026-02-01T00:00:00Z",
                                      "syncResult": {"revision": "f" * 40}}}}}).encode()
    t = time.monotonic()
    child = subprocess.Popen([exe, "serve", *serve_flags(exe), "--listen", f"127.0.0.1:{port}",
                              "--data-dir", d],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, SLUICE_LOG="warn"))
    healthy = None
    try:
        deadline = t + 600
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise SystemExit(f"{exe} serve exited {child.returncode}")
            try:
                if healthy is None:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                        if r.status == 200:
                            healthy = time.monotonic() - t
                if healthy is not None and not post:
                    return healthy, healthy
                if healthy is not None:
                    rq = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events", data=body,
                                                headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(rq, timeout=5) as r:
                        if r.status in (200, 201):
                            return healthy, time.monotonic() - t
            except OSError:
                pass
            time.sleep(0.005)
        raise SystemExit("serve did not answer /healthz and accept a POST")
    finally:
        child.terminate()
        child.wait(timeout=120)
        with open(active, "r+b") as f:
            f.truncate(size)
            os.fsync(f.fileno())
        if not keep:
            remove_derived(d)


# When the derived files of each data directory were last removed (time.monotonic()).
DELETED = {}


def remove_derived(d):
    """Removes what a sink derives from the log in `d` (index, tiles, checkpoints), noting when."""
    for derived in ("index", "tile", "checkpoints"):
        path = os.path.join(d, derived)
        if os.path.exists(path):
            shutil.rmtree(path, ignore_errors=True)
            DELETED[d] = time.monotonic()



if __name__ == "__main__":
    main()
