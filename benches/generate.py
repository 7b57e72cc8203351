#!/usr/bin/env python3
"""Benchmark of `sluice generate` against `kubectl kustomize` and `cat` on the same generated app.

Generates apps of N objects (ConfigMaps, Deployments that reference them, Services, ServiceAccounts)
in a temporary directory, then times, in the same run and on the same files:
  - cat of every manifest file (the floor: reading the bytes),
  - sluice generate in the app directory, what Argo CD's plugin sidecar runs (read, parse as YAML 1.1,
    checksum, write JSON; `render -o yaml` for people writes YAML and is not timed here),
  - kubectl kustomize DIR (the baseline a Kustomize app pays on every refresh; not run above
    KUSTOMIZE_MAX_OBJECTS objects, 20,000 by default: it does not finish at 20,000 already).
Reports MB/s (median of 9 runs), peak RSS (from GNU time, median of RSS_RUNS separate runs, 5 by
default) above the start-up baseline (the median peak RSS of the same binary on a 4-object app), and
ratios. Usage: benches/generate.py SLUICE_BIN [N...]

With SLUICE_BASELINE=/path/to/another/sluice (e.g. a release build of main), that binary and SLUICE_BIN
are also run alternately on the same files, 11 times each for time and RSS_RUNS times each for peak
RSS, and the ratios of their medians are printed: a comparison that holds even when the machine is
busy and absolute MB/s are not comparable. The load average is printed before and after each block.
With INSTRUCTIONS=1 as well, each build's instruction count (valgrind --tool=callgrind, all threads)
is measured once per size up to INSTRUCTIONS_MAX_OBJECTS (20,000 by default): a count that a shared
machine's load does not move.
"""
import os, re, subprocess, sys, tempfile, time

KUSTOMIZE_LIMIT = int(os.environ.get("KUSTOMIZE_LIMIT", "300"))
KUSTOMIZE_MAX_OBJECTS = int(os.environ.get("KUSTOMIZE_MAX_OBJECTS", "20000"))
RSS_RUNS = int(os.environ.get("RSS_RUNS", "5"))
INSTRUCTIONS_MAX_OBJECTS = int(os.environ.get("INSTRUCTIONS_MAX_OBJECTS", "20000"))

def make_app(root, n_objects, per_file=200):
    """Writes the manifests into root/manifests (the sluice app) and root/kustomization.yaml over them."""
    mdir = os.path.join(root, "manifests")
    os.mkdir(mdir)
    quads = n_objects // 4
    docs = []
    for i in range(quads):
        docs.append(f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg-{i}
  labels: {{app: svc-{i}, tier: backend}}
data:
  LOG_LEVEL: info
  FEATURE_FLAG: "on"
  MODE: '0644'
  TIMEOUT: "30"
""")
        docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  labels: {{app: svc-{i}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: svc-{i}}}
  template:
    metadata:
      labels: {{app: svc-{i}}}
    spec:
      serviceAccountName: svc-{i}
      containers:
      - name: app
        image: registry.example.com/svc:1.10.{i % 10}
        ports: [{{containerPort: 8080}}]
        envFrom: [{{configMapRef: {{name: cfg-{i}}}}}]
        resources:
          requests: {{cpu: 100m, memory: 128Mi}}
      volumes:
      - name: cfg
        configMap: {{name: cfg-{i}, defaultMode: 0644}}
""")
        docs.append(f"""apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
spec:
  selector: {{app: svc-{i}}}
  ports: [{{port: 80, targetPort: 8080}}]
""")
        docs.append(f"""apiVersion: v1
kind: ServiceAccount
metadata:
  name: svc-{i}
automountServiceAccountToken: no
""")
    files = []
    for f in range(0, len(docs), per_file):
        name = f"m{f // per_file:05d}.yaml"
        with open(os.path.join(mdir, name), "w") as fh:
            fh.write("---\n".join(docs[f:f + per_file]))
        files.append(name)
    with open(os.path.join(mdir, ".sluice.yaml"), "w") as fh:
        fh.write("apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\nrender: {tool: directory}\n")
    with open(os.path.join(root, "kustomization.yaml"), "w") as fh:
        fh.write("resources:\n" + "".join(f"- manifests/{n}\n" for n in files))
    return sum(os.path.getsize(os.path.join(mdir, n)) for n in files)

def run(argv, cwd=None, limit=None, rss=False):
    """Runs argv once; returns (seconds, peak RSS in bytes or 0, stdout size), or None past `limit`
    seconds. With rss, the command runs under GNU time (the peak RSS that wait4 reports to a forked
    Python includes the Python parent's pages), which adds a little to the time, so timing runs go
    without it."""
    rss_file = None
    if rss:
        rss_file = tempfile.NamedTemporaryFile(delete=False)
        rss_file.close()
        argv = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *argv]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    out_len = 0
    timer = None
    if limit:
        import threading
        timer = threading.Timer(limit, lambda: os.killpg(proc.pid, 9))
        timer.start()
    while True:
        chunk = proc.stdout.read(1 << 20)
        if not chunk:
            break
        out_len += len(chunk)
    err = proc.stderr.read()
    status = proc.wait()
    secs = time.perf_counter() - start
    if timer:
        timer.cancel()
        if secs >= limit:
            return None
    if status != 0:
        sys.exit(f"{argv[0]} failed: {err.decode(errors='replace')[-2000:]}")
    peak = 0
    if rss_file:
        with open(rss_file.name) as fh:
            peak = int(fh.read().strip().splitlines()[-1]) * 1024
        os.unlink(rss_file.name)
    return secs, peak, out_len

def median(values):
    values = sorted(values)
    return values[len(values) // 2]

def peak_rss(argv, cwd=None, runs=RSS_RUNS):
    """The median peak RSS of `runs` runs."""
    return median([run(argv, cwd, rss=True)[1] for _ in range(runs)])

def best(argv, cwd=None, reps=5, limit=None):
    runs = [run(argv, cwd, limit) for _ in range(reps)]
    if None in runs:
        return None
    runs.sort()
    return runs[len(runs) // 2]  # median time

def instructions(argv, cwd):
    """Instructions executed by all threads of one run, counted by callgrind."""
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/cg", *argv],
                             cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    m = re.search(rb"Collected : (\d+)", out.stderr) or re.search(rb"I\s+refs:\s+([\d,]+)", out.stderr)
    return int(m.group(1).replace(b",", b""))

def load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()

def startup_rss(binary):
    """The start-up baseline: median peak RSS of `generate` on a 4-object app."""
    with tempfile.TemporaryDirectory() as d:
        make_app(d, 4)
        return peak_rss([binary, "generate"], cwd=os.path.join(d, "manifests"))

def main():
    sluice = os.path.abspath(sys.argv[1])
    # Argo CD's build environment, as the plugin sidecar gets it (inherited by every run).
    os.environ.update(ARGOCD_APP_NAME="bench", ARGOCD_APP_NAMESPACE="bench")
    sizes = [int(a) for a in sys.argv[2:]] or [2000, 20000]
    print(load())
    base_rss = startup_rss(sluice)
    print(f"baseline: sluice generate of a 4-object app peaks at {base_rss / 1e6:.1f} MB RSS (median of {RSS_RUNS})\n", flush=True)
    print(f"| objects | input MB | cat s | sluice generate s | sluice MB/s | sluice peak RSS MB | (RSS - baseline) / input | kubectl kustomize s | kustomize / sluice |")
    print(f"|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    times = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            size = make_app(d, n)
            m = os.path.join(d, "manifests")
            files = sorted(f for f in os.listdir(m) if f.endswith(".yaml"))
            cat_s, _, _ = best(["cat", *files], cwd=m)
            s_s, _, _ = best([sluice, "generate"], cwd=m, reps=9)
            s_rss = peak_rss([sluice, "generate"], cwd=m)
            # kubectl kustomize grows faster than linearly; it is stopped after KUSTOMIZE_LIMIT seconds and
            # the ratio is then a lower bound.
            if n > KUSTOMIZE_MAX_OBJECTS:
                k_text, ratio = "not run", "-"
            else:
                k = best(["kubectl", "kustomize", d], reps=1 if n > 5000 else 3, limit=KUSTOMIZE_LIMIT)
                k_text, ratio = (f"{k[0]:.2f}", f"{k[0] / s_s:.0f}x") if k else (f"> {KUSTOMIZE_LIMIT}", f"> {KUSTOMIZE_LIMIT / s_s:.0f}x")
            mb = size / 1e6
            times[n] = (s_s, size)
            print(f"| {n} | {mb:.1f} | {cat_s:.3f} | {s_s:.3f} | {mb / s_s:.0f} | {s_rss / 1e6:.0f} | {(s_rss - base_rss) / size:.1f}x | {k_text} | {ratio} |", flush=True)
    print(load())

    baseline = os.environ.get("SLUICE_BASELINE")
    if baseline:
        baseline = os.path.abspath(baseline)
        print(f"\nalternating runs against SLUICE_BASELINE={baseline}:")
        other_rss = startup_rss(baseline)
        print(f"  start-up baselines (4 objects): baseline {other_rss / 1e6:.1f} MB, sluice {base_rss / 1e6:.1f} MB")
        for n in sizes:
            with tempfile.TemporaryDirectory() as d:
                size = make_app(d, n)
                m = os.path.join(d, "manifests")
                print(f"  {n} objects ({load()}):")
                runs = {baseline: [], sluice: []}
                for _ in range(11):
                    for b in runs:
                        runs[b].append(run([b, "generate"], cwd=m)[0])
                med = {b: median(t) for b, t in runs.items()}
                print(f"    time (median of 11): baseline {size / 1e6 / med[baseline]:.1f} MB/s, sluice {size / 1e6 / med[sluice]:.1f} MB/s, sluice time / baseline time {med[sluice] / med[baseline]:.2f}")
                rss = {baseline: [], sluice: []}
                for _ in range(RSS_RUNS):
                    for b in rss:
                        rss[b].append(run([b, "generate"], cwd=m, rss=True)[1])
                peak = {b: median(r) for b, r in rss.items()}
                above = {baseline: (peak[baseline] - other_rss) / size, sluice: (peak[sluice] - base_rss) / size}
                print(f"    peak RSS (median of {RSS_RUNS}): baseline {peak[baseline] / 1e6:.1f} MB ({above[baseline]:.1f}x the input above its start-up), sluice {peak[sluice] / 1e6:.1f} MB ({above[sluice]:.1f}x)")
                if os.environ.get("INSTRUCTIONS") and n <= INSTRUCTIONS_MAX_OBJECTS:
                    ins = {b: instructions([b, "generate"], cwd=m) for b in (baseline, sluice)}
                    print(f"    instructions (callgrind): baseline {ins[baseline] / 1e9:.3f} G, sluice {ins[sluice] / 1e9:.3f} G, ratio {ins[sluice] / ins[baseline]:.2f}")
                print(f"    ({load()})", flush=True)

    if len(times) > 1:
        (n0, (t0, b0)), (n1, (t1, b1)) = min(times.items()), max(times.items())
        print(f"\nscaling: {n1 / n0:.0f}x the objects ({b1 / b0:.1f}x the bytes) took {t1 / t0:.1f}x the time")

if __name__ == "__main__":
    main()
