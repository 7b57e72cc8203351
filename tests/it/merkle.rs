//! The Merkle tree against Go's own `golang.org/x/mod/sumdb/tlog` (tests/go/tlog, built offline from
//! Debian's golang-golang-x-mod-dev): the same roots, Go checks sluice's inclusion and consistency
//! proofs, sluice checks Go's (its `audit check-proof`, and its witness taking Go's consistency proofs),
//! and the tiles the sink writes are the tiles Go computes.

use crate::support::{bin, go_tool, http, keygen, WitnessServer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn sluice(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run sluice")
}

fn go(args: &[&str]) -> Output {
    Command::new(go_tool("tlog"))
        .args(args)
        .output()
        .expect("run tests/go/tlog")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A data directory holding a valid chained log of `n` records (record `i` the same in every log, so
/// a shorter log is a prefix of a longer one), written here as the contract says: canonical JSON,
/// `hash = SHA-256(prev ++ canonical(record without hash))`.
pub fn chained_log(dir: &Path, n: u64) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for s in 1..=n {
        let head = format!(r#"{{"app":{{"name":"app{}"}},"event":"test""#, s % 5);
        let tail = format!(
            r#""key":"k{s}","n":{},"prev":"{prev}","receivedAt":"2026-01-01T00:00:00.000Z","seq":{s}}}"#,
            s * 7
        );
        let body = format!("{head},{tail}");
        let hash = format!("{:x}", Sha256::digest(format!("{prev}{body}").as_bytes()));
        out.push_str(&format!("{head},\"hash\":\"{hash}\",{tail}\n"));
        prev = hash;
    }
    let log = dir.join("audit.jsonl");
    std::fs::write(&log, out).unwrap();
    log
}

/// The size and root line of a proof's (unsigned) checkpoint: its last two lines.
fn checkpoint_of(proof: &str) -> (String, String) {
    let lines: Vec<&str> = proof.lines().collect();
    let n = lines.len();
    (lines[n - 2].to_owned(), lines[n - 1].to_owned())
}

#[test]
fn go_tlog_computes_the_same_roots_and_checks_sluice_proofs_and_sluice_checks_go_proofs() {
    let tmp = tempfile::tempdir().unwrap();
    // A witness (sluice's) for a log whose checkpoints Go signs: it takes Go's consistency proofs.
    let keys = ok(Command::new(go_tool("note"))
        .args(["keygen", "go-oracle.example/log"])
        .output()
        .unwrap());
    let (go_private, go_public) = keys.trim().split_once('\n').unwrap();
    let go_key = tmp.path().join("go.key");
    std::fs::write(&go_key, format!("{go_private}\n")).unwrap();
    let go_pub = tmp.path().join("go.pub");
    std::fs::write(&go_pub, format!("{go_public}\n")).unwrap();
    keygen(tmp.path(), "witness", "witness.example/w", "w");
    let witness = WitnessServer::start(
        &tmp.path().join("wstate"),
        &tmp.path().join("w.key"),
        &[&go_pub],
    );
    let mut held = 0u64;
    for n in [1u64, 2, 3, 7, 8, 1000, 100_000] {
        let data = tmp.path().join(format!("log-{n}"));
        let log = chained_log(&data, n);
        let log_s = p(&log);
        // sluice's proofs: records first, middle and last; trees from 1, half and n − 1 records.
        let mut seqs = vec![1, n / 2 + 1, n];
        seqs.dedup();
        let mut olds: Vec<u64> = if n <= 8 {
            (1..=n).collect()
        } else {
            vec![1, n / 2, n - 1, n]
        };
        olds.dedup();
        let out = data.join("proofs");
        let mut args: Vec<String> = vec![
            "audit".into(),
            "prove".into(),
            "--data-dir".into(),
            p(&data).into(),
            "--size".into(),
            n.to_string(),
            "--out".into(),
            p(&out).into(),
        ];
        for s in &seqs {
            args.extend(["--seq".into(), s.to_string()]);
        }
        for m in &olds {
            args.extend(["--from-size".into(), m.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(sluice(&args));
        // The same root.
        let root = ok(go(&["root", log_s, &n.to_string()]));
        let proof = std::fs::read_to_string(out.join(format!("{n}.tlog-proof"))).unwrap();
        let (size, sluice_root) = checkpoint_of(&proof);
        assert_eq!(root.trim(), format!("{size} {sluice_root}"), "n = {n}");
        for s in &seqs {
            let f = out.join(format!("{s}.tlog-proof"));
            assert_eq!(
                ok(go(&["check-inclusion", log_s, p(&f)])).trim(),
                "ok",
                "n = {n}, seq {s}"
            );
        }
        for m in &olds {
            let f = out.join(format!("{m}.add-checkpoint"));
            assert_eq!(
                ok(go(&["check-consistency", log_s, p(&f)])).trim(),
                "ok",
                "{m} to {n}"
            );
        }
        // A proof with one hash changed: Go refuses it (the oracle can fail).
        if n > 1 {
            let f = out.join(format!("{n}.tlog-proof"));
            let text = std::fs::read_to_string(&f).unwrap();
            let line = text.lines().nth(2).unwrap().to_owned();
            let flipped = format!(
                "{}{}",
                if line.starts_with('A') { "B" } else { "A" },
                &line[1..]
            );
            std::fs::write(&f, text.replacen(&line, &flipped, 1)).unwrap();
            assert!(
                !go(&["check-inclusion", log_s, p(&f)]).status.success(),
                "n = {n}"
            );
        }
        // Go's inclusion proofs, checked by sluice without the log.
        let content = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = content.lines().collect();
        for s in &seqs {
            let go_proof = ok(go(&[
                "prove-inclusion",
                log_s,
                &n.to_string(),
                &(s - 1).to_string(),
            ]));
            let proof_file = data.join(format!("go-{s}.tlog-proof"));
            std::fs::write(&proof_file, &go_proof).unwrap();
            let record = data.join(format!("record-{s}"));
            std::fs::write(&record, format!("{}\n", lines[*s as usize - 1])).unwrap();
            let checked = ok(sluice(&[
                "audit",
                "check-proof",
                p(&proof_file),
                "--record",
                p(&record),
            ]));
            assert!(
                checked.starts_with(&format!("ok: the record is leaf {} (seq {s})", s - 1)),
                "{checked}"
            );
            // Another record under the same proof: refused.
            let other = lines[(*s as usize) % lines.len()];
            if n > 1 {
                std::fs::write(&record, other).unwrap();
                let out = sluice(&[
                    "audit",
                    "check-proof",
                    p(&proof_file),
                    "--record",
                    p(&record),
                ]);
                assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            }
        }
        // Go's consistency proof from the size the witness holds, with Go's signature: sluice's
        // witness checks it and cosigns.
        let body = ok(go(&[
            "add-checkpoint",
            log_s,
            &held.to_string(),
            &n.to_string(),
            p(&go_key),
        ]));
        let r = http(
            witness.addr(),
            "POST",
            "/add-checkpoint",
            &[],
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{held} to {n}: {}", r.body);
        assert!(r.body.starts_with("— witness.example/w "), "{}", r.body);
        held = n;
    }
    // A forked log (another record 3) whose tree Go signs and proves from what the witness holds: 422.
    let forked = tmp.path().join("forked");
    let log = chained_log(&forked, 100_001);
    let mut text_ = std::fs::read_to_string(&log).unwrap();
    text_ = text_.replacen("\"n\":21,", "\"n\":22,", 1);
    std::fs::write(&log, text_).unwrap();
    let body = ok(go(&[
        "add-checkpoint",
        p(&log),
        "100000",
        "100001",
        p(&go_key),
    ]));
    let r = http(
        witness.addr(),
        "POST",
        "/add-checkpoint",
        &[],
        body.as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
}

#[test]
fn the_tiles_the_sink_writes_are_the_tiles_go_computes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log = chained_log(&data, 70_000);
    keygen(tmp.path(), "audit", "ci.example/sluice", "k");
    // The sink builds the tree of an existing log when it starts, and signs it (writing the partial
    // tiles of that size).
    // Verifying 70,000 records with the debug build takes a while on a loaded machine.
    let mut sink = crate::support::Sink::start_within(
        &data,
        None,
        &["--checkpoint-key-file", p(&tmp.path().join("k.key"))],
        None,
        None,
        std::time::Duration::from_mins(3),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    while !data.join("checkpoints/00000000000000070000.note").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint: {}",
            sink.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // 273 full level-0 tiles, 1 full level-1 tile, and the partial tiles of 70,000 (112, 17, 1 wide),
    // there as soon as the checkpoint is: the sink writes the tiles its start made after it answers,
    // and signs once they are on disk.
    let compared = ok(go(&["tiles", p(&log), "70000", p(&data)]));
    assert_eq!(compared.trim(), "277", "tiles compared");
    assert!(sink
        .terminate(std::time::Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    assert!(data.join("tile/0/273.p/112").exists());
    assert!(data.join("tile/2/000.p/1").exists());
}
