//! Witnesses through the real binaries: `sluice witness serve` answering C2SP tlog-witness as the
//! specification lists (status codes, the held size on 409, persisted before it answers), its
//! cosignatures checked by an independent Ed25519 (Python's `cryptography`, from moto's requirements)
//! against the C2SP tlog-cosignature layout, and the rewrite-and-restart attack: the sink refuses to
//! sign, says so, the witness refuses the forged checkpoint, and `audit verify` names the fork.

use crate::support::{bin, event_body, http, keygen, python, Sink, WitnessServer};
use serde_json::{Map, Value};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn sluice(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run sluice")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn post(sink: &Sink, i: usize) {
    let body = event_body(
        "sync-succeeded",
        "shop",
        &format!("2026-11-20T10:{:02}:00Z", i % 60),
        &format!("rev{i}"),
        Some(&format!("CHG-{}: change {i}\n\nApproved-by: bob", 100 + i)),
    );
    let r = sink.http("POST", "/v1/events", &[], body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.body);
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn notes(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| Path::new(n).extension().is_some_and(|e| e == "note"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Rewrites record `seq` of `DIR/audit.jsonl` (a member `forged`) and recomputes every hash after it,
/// as an operator with the files would: the chain alone verifies again.
pub fn forge(data: &Path, seq: u64) {
    use sha2::{Digest, Sha256};
    let path = data.join("audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for line in text.lines() {
        let rec: Map<String, Value> = serde_json::from_str(line).unwrap();
        let mut sorted: std::collections::BTreeMap<String, Value> = rec.into_iter().collect();
        if sorted["seq"] == seq {
            sorted.insert("forged".into(), Value::Bool(true));
        }
        sorted.insert("prev".into(), Value::String(prev.clone()));
        sorted.remove("hash");
        let body = serde_json::to_string(&sorted).unwrap();
        let hash = format!("{:x}", Sha256::digest(format!("{prev}{body}").as_bytes()));
        sorted.insert("hash".into(), Value::String(hash.clone()));
        out.push_str(&serde_json::to_string(&sorted).unwrap());
        out.push('\n');
        prev = hash;
    }
    std::fs::write(&path, out).unwrap();
}

fn health(sink: &Sink) -> Value {
    sink.http("GET", "/healthz", &[], b"").json()
}

fn metric(sink: &Sink, name: &str) -> String {
    let body = sink.http("GET", "/metrics", &[], b"").body;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{body}"))
        .trim()
        .to_owned()
}

#[test]
fn the_rewrite_and_restart_attack_is_refused_reported_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (log_key, log_pub) = keygen(tmp.path(), "audit", "ci.example/sluice", "log");
    let (w_key, w_pub) = keygen(tmp.path(), "witness", "witness.security.example/w1", "w1");
    let witness = WitnessServer::start(&tmp.path().join("wstate"), &w_key, &[&log_pub]);
    let data = tmp.path().join("data");
    let args = [
        "--checkpoint-key-file",
        p(&log_key),
        "--checkpoint-every",
        "3",
        "--witness",
        &witness.url,
        "--witness-key",
        p(&w_pub),
    ];
    let mut sink = Sink::start_with(&data, None, &args, None);
    for i in 0..6 {
        post(&sink, i);
    }
    assert!(sink
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    assert!(notes(&data.join("witnessed")).contains(&"00000000000000000006.note".to_owned()));
    let verify = |extra: &[&str]| {
        let mut a = vec![
            "audit",
            "verify",
            "--data-dir",
            p(&data),
            "--public-key",
            p(&log_pub),
            "--witness-key",
            p(&w_pub),
        ];
        a.extend_from_slice(extra);
        sluice(&a)
    };
    let out = ok(verify(&[]));
    assert!(
        out.contains("witnessed up to seq 6 by 1 witnesses"),
        "{out}"
    );

    // The operator rewrites record 2 and recomputes every hash: the chain alone is fooled.
    forge(&data, 2);
    ok(sluice(&["audit", "verify", "--data-dir", p(&data)]));
    // Restarted over it, the sink refuses to sign, and says so.
    let mut sink = Sink::start_with(&data, None, &args, None);
    wait_for("the refusal in /healthz", || {
        health(&sink)["status"] == "degraded"
    });
    let h = health(&sink);
    assert!(
        h["problems"][0]
            .as_str()
            .unwrap()
            .contains("refusing to sign")
            && h["evidence"]["signing"] == "refused",
        "{h}"
    );
    assert_eq!(metric(&sink, "sluice_checkpoint_refused"), "1");
    post(&sink, 6);
    post(&sink, 7);
    assert!(sink
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    assert!(
        !notes(&data.join("checkpoints"))
            .iter()
            .any(|n| n > &"00000000000000000006.note".to_owned()),
        "signed over a rewritten log: {:?}",
        notes(&data.join("checkpoints"))
    );
    assert!(
        sink.stderr().contains("refusing to sign"),
        "{}",
        sink.stderr()
    );
    // verify with the witness's key names the fork.
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("cosigned by witness.security.example/w1")
            && text(&out).contains("fork"),
        "{}",
        text(&out)
    );

    // The operator also removes every checkpoint, tile and index: the sink can no longer tell, and
    // signs the forged tree. The witness refuses it (it holds the original), and the sink says so.
    for dir in ["checkpoints", "witnessed", "tile", "index"] {
        std::fs::remove_dir_all(data.join(dir)).unwrap();
    }
    let mut sink = Sink::start_with(&data, None, &args, None);
    wait_for("the witness's refusal in /healthz", || {
        health(&sink)["status"] == "degraded"
    });
    let h = health(&sink);
    let problem = h["problems"][0].as_str().unwrap();
    assert!(
        problem.contains("witness.security.example/w1") && problem.contains("forked"),
        "{h}"
    );
    assert_eq!(h["evidence"]["witnesses"][0]["state"], "refused", "{h}");
    assert_eq!(
        metric(
            &sink,
            "sluice_witness_refusals_total{witness=\"witness.security.example/w1\"}"
        ),
        "1"
    );
    assert!(sink
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    assert!(notes(&data.join("witnessed")).is_empty());
    assert!(witness
        .stderr()
        .contains("refused a checkpoint that does not extend the one cosigned"));
    // Nothing witnessed is left here: verify with the witness's key says so; with the witness's own
    // checkpoint (its monitoring URL) it names the fork.
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no checkpoint is cosigned by 1 of the 1 witness keys"),
        "{}",
        text(&out)
    );
    let origin_hash = {
        use sha2::{Digest, Sha256};
        format!("{:x}", Sha256::digest(b"ci.example/sluice"))
    };
    let held = http(
        witness.addr(),
        "GET",
        &format!("/{origin_hash}/checkpoint"),
        &[],
        b"",
    );
    assert_eq!(held.status, 200);
    assert!(
        held.body.starts_with("ci.example/sluice\n6\n"),
        "{}",
        held.body
    );
    let held_file = tmp.path().join("held.note");
    std::fs::write(&held_file, &held.body).unwrap();
    let out = verify(&["--checkpoint", p(&held_file)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("held.note (cosigned by witness.security.example/w1)")
            && text(&out).contains("fork"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_witness_answers_as_c2sp_lists_persists_and_its_cosignatures_verify_independently() {
    let tmp = tempfile::tempdir().unwrap();
    let (log_key, log_pub) = keygen(tmp.path(), "audit", "log.example/a", "log");
    let (w_key, w_pub) = keygen(tmp.path(), "witness", "witness.example/w", "w");
    let state = tmp.path().join("wstate");
    let mut witness = WitnessServer::start(&state, &w_key, &[&log_pub]);
    // A second witness on the same state directory is refused.
    let args = WitnessServer::args(&state, &w_key, &[&log_pub]);
    let second = sluice(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert!(text(&second).contains("another witness holds this state directory"));
    // A log of 9 records and its checkpoints, through the sink and `audit prove`.
    let data = tmp.path().join("data");
    let mut sink = Sink::start_with(
        &data,
        None,
        &[
            "--checkpoint-key-file",
            p(&log_key),
            "--checkpoint-every",
            "1000",
        ],
        None,
    );
    for i in 0..9 {
        post(&sink, i);
    }
    assert!(sink
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    let prove = |old: u64| {
        ok(sluice(&[
            "audit",
            "prove",
            "--data-dir",
            p(&data),
            "--public-key",
            p(&log_pub),
            "--from-size",
            &old.to_string(),
        ]))
    };
    let add = |body: &str| {
        http(
            witness.addr(),
            "POST",
            "/add-checkpoint",
            &[],
            body.as_bytes(),
        )
    };
    // Old size 0 with a proof of 9: the witness holds nothing yet, so this is the first.
    let first = prove(0);
    let r = add(&first);
    assert_eq!(r.status, 200, "{}", r.body);
    // The cosignature: key ID (type 0x04) ‖ timestamp ‖ Ed25519 over "cosignature/v1\ntime T\n" and
    // the checkpoint text, checked with Python's cryptography from the public key text alone.
    let checkpoint_text = first
        .split_once("\n\n")
        .unwrap()
        .1
        .split("\n\n")
        .next()
        .unwrap()
        .to_owned()
        + "\n";
    let checked = python(
        r"
import base64, hashlib, struct, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
vkey, line, text = sys.argv[1].strip(), sys.argv[2].strip(), sys.argv[3]
name, keyid, b64 = vkey.split('+', 2)
raw = base64.b64decode(b64)
assert raw[0] == 4, 'not a cosignature key'
pub = raw[1:]
assert hashlib.sha256(name.encode() + b'\n\x04' + pub).hexdigest()[:8] == keyid
dash, signer, sig = line.split(' ')
assert dash == '\u2014' and signer == name
sig = base64.b64decode(sig)
assert sig[:4].hex() == keyid and len(sig) == 76
ts = struct.unpack('>Q', sig[4:12])[0]
msg = b'cosignature/v1\ntime %d\n' % ts + text.encode()
Ed25519PublicKey.from_public_bytes(pub).verify(sig[12:], msg)
print('ok', ts)
",
        &[
            std::fs::read_to_string(&w_pub).unwrap().trim(),
            r.body.trim(),
            &checkpoint_text,
        ],
    );
    assert!(checked.starts_with("ok "), "{checked}");
    // The same again: old size 0 is not what it holds (9): 409 with its size.
    let r = add(&first);
    assert_eq!((r.status, r.body.as_str()), (409, "9\n"));
    // Persisted before it answered: killed and restarted, it still holds 9.
    drop(witness);
    witness = WitnessServer::start(&state, &w_key, &[&log_pub]);
    let add = |body: &str| {
        http(
            witness.addr(),
            "POST",
            "/add-checkpoint",
            &[],
            body.as_bytes(),
        )
    };
    assert_eq!(add(&first).status, 409);
    // Old size above the checkpoint's: 400. Unknown origin: 404. Another key's signature: 403.
    assert_eq!(add(&first.replacen("old 0\n", "old 10\n", 1)).status, 400);
    let (other_key, _) = keygen(tmp.path(), "audit", "log.example/b", "other");
    let other = tmp.path().join("other-data");
    let mut s2 = Sink::start_with(
        &other,
        None,
        &["--checkpoint-key-file", p(&other_key)],
        None,
    );
    post(&s2, 1);
    assert!(s2
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    let body = ok(sluice(&[
        "audit",
        "prove",
        "--data-dir",
        p(&other),
        "--from-size",
        "0",
    ]));
    assert_eq!(add(&body).status, 404);
    let (impostor, _) = keygen(tmp.path(), "audit", "log.example/a", "impostor");
    let forged_dir = tmp.path().join("forged-data");
    let mut s3 = Sink::start_with(
        &forged_dir,
        None,
        &["--checkpoint-key-file", p(&impostor)],
        None,
    );
    for i in 0..9 {
        post(&s3, i + 100);
    }
    assert!(s3
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    let body = ok(sluice(&[
        "audit",
        "prove",
        "--data-dir",
        p(&forged_dir),
        "--from-size",
        "0",
    ]));
    assert_eq!(add(&body.replacen("old 0\n", "old 9\n", 1)).status, 403);
    // The log's own key over another history (a fork): 10 other records, proved from 9 in that
    // tree, is not consistent with the 9 the witness cosigned: 422.
    let fork = tmp.path().join("fork-data");
    let mut s4 = Sink::start_with(
        &fork,
        None,
        &[
            "--checkpoint-key-file",
            p(&log_key),
            "--checkpoint-every",
            "1000",
        ],
        None,
    );
    for i in 0..10 {
        post(&s4, i + 200);
    }
    assert!(s4
        .terminate(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    let body = ok(sluice(&[
        "audit",
        "prove",
        "--data-dir",
        p(&fork),
        "--from-size",
        "9",
    ]));
    let r = add(&body);
    assert_eq!(r.status, 422, "{r:?}");
    let garbage = add("hello");
    assert_eq!(garbage.status, 400);
    // Too large a body: 413, and the GET of an unknown log 404.
    assert_eq!(add(&"x".repeat(70_000)).status, 413);
    assert_eq!(
        http(
            witness.addr(),
            "GET",
            &format!("/{}/checkpoint", "0".repeat(64)),
            &[],
            b""
        )
        .status,
        404
    );
}

/// SIGTERM as soon as the witness's port is bound: it stops in order and exits 0 (the handler is in
/// place before the bind), never killed by the signal's default action.
#[test]
fn a_sigterm_the_moment_the_port_is_bound_stops_the_witness_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, log_pub) = keygen(tmp.path(), "audit", "log.example/a", "log");
    let (w_key, _) = keygen(tmp.path(), "witness", "witness.example/w", "w");
    for round in 0..5 {
        let state = tmp.path().join(format!("state{round}"));
        let args = WitnessServer::args(&state, &w_key, &[&log_pub]);
        let (status, text) = crate::support::sigterm_once_listening(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &tmp.path().join(format!("stderr{round}")),
        );
        assert_eq!(status.code(), Some(0), "round {round}: {status}\n{text}");
        assert!(text.contains("stopping"), "round {round}: {text}");
    }
}
