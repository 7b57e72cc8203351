"""The logs the Python benchmarks generate (`ledger-verify.py`, `export.py`): records shaped like the
golden ones, chained as the sink chains them, in sealed segments of 256 MiB (the sink's default) and
the active audit.jsonl."""

import hashlib
import json
import os

SEGMENT = 256 << 20


def golden(event):
    """The golden log's first record of `event`."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "tests/fixtures/audit/golden/audit.jsonl")) as f:
        for line in f:
            m = json.loads(line)
            if m.get("event") == event:
                return m
    raise SystemExit(f"no golden {event} record")


def canonical(m):
    # The generated records hold plain ASCII strings, integers, booleans and null: sorted keys without
    # whitespace are their canonical bytes.
    return json.dumps(m, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_log(d, n, record):
    """N chained records into the data directory `d`: `record(i)` gives record i's members (its seq,
    prev and hash are set here). A file `complete` marks the log whole."""
    os.makedirs(os.path.join(d, "segments"), exist_ok=True)
    prev = "0" * 64
    first, size, out = 1, 0, open(os.path.join(d, "audit.jsonl"), "w")
    for i in range(n):
        seq = i + 1
        if size >= SEGMENT:
            out.close()
            os.rename(os.path.join(d, "audit.jsonl"), os.path.join(d, "segments", "%020d.jsonl" % first))
            first, size, out = seq, 0, open(os.path.join(d, "audit.jsonl"), "w")
        m = record(i)
        m.pop("hash", None)
        m.update(seq=seq, prev=prev)
        h = hashlib.sha256((prev + canonical(m)).encode()).hexdigest()
        m["hash"] = h
        line = canonical(m) + "\n"
        out.write(line)
        size += len(line.encode())
        prev = h
    out.close()
    open(os.path.join(d, "complete"), "w").close()
