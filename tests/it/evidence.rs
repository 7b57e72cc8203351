//! Signed checkpoints, the archive and the auditor's export, through the real binary: checkpoints are
//! checked with Go's own `golang.org/x/mod/sumdb/note` (tests/go/note), the archive runs against moto's
//! S3 server (tests/requirements.txt) with Object Lock, and the export's VERIFY.md recipe is run as written.

use crate::support::{bin, event_body, keygen, listening_port, read_log_lines, Sink};
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Builds tests/go/note (Go's note package from Debian's golang-golang-x-mod-dev, offline) once.
fn go_note() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("note-go");
        let bin = work.join("note");
        let out = Command::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/note"))
            .env("GOCACHE", work.join("gocache"))
            .env("GOPATH", work.join("gopath"))
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local")
            .env("GO111MODULE", "on")
            .env("CGO_ENABLED", "0")
            .output()
            .expect("go is required (tests/run installs golang-go and golang-golang-x-mod-dev)");
        assert!(
            out.status.success(),
            "go build tests/go/note: {}",
            text(&out)
        );
        bin
    })
}

fn post(sink: &Sink, i: usize) {
    let body = event_body(
        "sync-succeeded",
        &format!("shop{}", i % 3),
        &format!("2026-11-20T10:{:02}:00Z", i % 60),
        &format!("rev{i}"),
        Some(&format!(
            "CHG-{}: change {i}\n\nApproved-by: bob",
            100 + i % 4
        )),
    );
    let r = sink.http("POST", "/v1/events", &[], body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.body);
}

/// SIGTERM, and the exit status.
fn terminate(sink: &mut Sink) -> std::process::ExitStatus {
    let pid = sink.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = sink.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("checkpoints"))
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "note"));
    v.sort();
    v
}

/// The record count and the RFC 6962 Merkle tree root (hex) of the log's lines, computed here from the
/// definition (leaf = SHA-256(0x00 ‖ line), node = SHA-256(0x01 ‖ left ‖ right), split at the largest
/// power of two below the count): what a checkpoint of the whole log must sign.
fn tree_root(dir: &Path) -> (usize, String) {
    use sha2::{Digest, Sha256};
    fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let mut k = 1;
        while k * 2 < leaves.len() {
            k *= 2;
        }
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(root(&leaves[..k]));
        h.update(root(&leaves[k..]));
        h.finalize().into()
    }
    let lines = read_log_lines(dir);
    let leaves: Vec<[u8; 32]> = lines
        .iter()
        .map(|l| {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(l.as_bytes());
            h.finalize().into()
        })
        .collect();
    let hex = root(&leaves).iter().fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    });
    (lines.len(), hex)
}

#[test]
fn checkpoints_signed_by_the_sink_with_a_go_made_key_verify_with_go_note() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A key pair made by Go's note.GenerateKey: sluice must read Go's private key text as it is.
    let keys = ok(Command::new(go_note())
        .args(["keygen", "ci.example/sluice"])
        .output()
        .unwrap());
    let (private, public) = keys.trim().split_once('\n').unwrap();
    let key_file = tmp.path().join("go.key");
    std::fs::write(&key_file, format!("{private}\n")).unwrap();
    let pub_file = tmp.path().join("go.pub");
    std::fs::write(&pub_file, format!("{public}\n")).unwrap();
    let mut sink = Sink::start_with(
        &data,
        None,
        &[
            "--checkpoint-key-file",
            path(&key_file),
            "--checkpoint-every",
            "3",
        ],
        None,
    );
    for i in 0..7 {
        post(&sink, i);
    }
    let status = terminate(&mut sink);
    assert!(status.success(), "{status}: {}", sink.stderr());
    // After 3 new records (the newest durable head when the signer wakes: on a loaded machine a
    // few more may have come), and the 7th at shutdown.
    let notes = checkpoints(&data);
    let sizes: Vec<u64> = notes
        .iter()
        .map(|p| {
            p.file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .trim_start_matches('0')
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(sizes.last(), Some(&7), "{sizes:?}");
    assert!(sizes[0] >= 3, "{sizes:?}");
    assert!(
        sizes[..sizes.len() - 1]
            .windows(2)
            .all(|w| w[1] - w[0] >= 3),
        "{sizes:?}"
    );
    let mut args = vec!["verify".to_owned(), public.to_owned()];
    args.extend(notes.iter().map(|p| path(p).to_owned()));
    let go = ok(Command::new(go_note()).args(&args).output().unwrap());
    let (n, root) = tree_root(&data);
    assert_eq!(go.lines().last().unwrap(), format!("{n} {root}"));
    // And sluice agrees.
    let out = ok(sluice(&[
        "audit",
        "verify",
        "--data-dir",
        path(&data),
        "--public-key",
        path(&pub_file),
    ]));
    assert!(
        out.contains("ok: 7 records") && out.contains("checkpoints verified, the newest at seq 7"),
        "{out}"
    );
}

#[test]
fn keygen_makes_a_pair_go_reads_and_never_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prod.example.com");
    let out = ok(sluice(&[
        "audit",
        "keygen",
        "--name",
        "prod.example.com/sluice",
        "--out",
        path(&prefix),
    ]));
    let private = tmp.path().join("prod.example.com.key");
    let public = tmp.path().join("prod.example.com.pub");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(out.trim(), std::fs::read_to_string(&public).unwrap().trim());
    assert!(std::fs::read_to_string(&private)
        .unwrap()
        .starts_with("PRIVATE+KEY+prod.example.com/sluice+"));
    let again = sluice(&["audit", "keygen", "--name", "x", "--out", path(&prefix)]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("exists already"));
    // Sign with the sluice key, check with Go.
    let data = tmp.path().join("data");
    let mut sink = Sink::start_with(
        &data,
        None,
        &["--checkpoint-key-file", path(&private)],
        None,
    );
    post(&sink, 1);
    assert!(terminate(&mut sink).success());
    let notes = checkpoints(&data);
    let pub_text = std::fs::read_to_string(&public).unwrap();
    let go = ok(Command::new(go_note())
        .args(["verify", pub_text.trim(), path(&notes[0])])
        .output()
        .unwrap());
    assert_eq!(go.trim(), format!("1 {}", tree_root(&data).1));
    let bad = sluice(&[
        "audit",
        "keygen",
        "--name",
        "has space",
        "--out",
        path(&tmp.path().join("y")),
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

/// A log of `n` records with checkpoints, written by the sink (key from `sluice audit keygen`).
fn signed_data_dir(tmp: &Path, n: usize, every: &str) -> (PathBuf, PathBuf, PathBuf) {
    let prefix = tmp.join("k");
    ok(sluice(&[
        "audit",
        "keygen",
        "--name",
        "ci.example/sluice",
        "--out",
        path(&prefix),
    ]));
    let (key, public) = (tmp.join("k.key"), tmp.join("k.pub"));
    let data = tmp.join("data");
    let mut sink = Sink::start_with(
        &data,
        None,
        &[
            "--checkpoint-key-file",
            path(&key),
            "--checkpoint-every",
            every,
        ],
        None,
    );
    // The signer coalesces heads that come faster than it signs: wait for each checkpoint due, so
    // that the sizes signed are every `every` records and the last one (at SIGTERM).
    let every: usize = every.parse().expect("--checkpoint-every");
    for i in 0..n {
        post(&sink, i);
        if (i + 1) % every == 0 {
            let note = data.join("checkpoints").join(format!("{:020}.note", i + 1));
            let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
            while !note.exists() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no checkpoint of {} records: {}",
                    i + 1,
                    sink.stderr()
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
    assert!(terminate(&mut sink).success());
    (data, key, public)
}

#[test]
fn verify_with_the_public_key_catches_a_truncated_log_and_another_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _, public) = signed_data_dir(tmp.path(), 6, "3");
    let verify = |keys: &[&Path]| {
        let mut args = vec!["audit", "verify", "--data-dir", path(&data)];
        for k in keys {
            args.extend(["--public-key", path(k)]);
        }
        sluice(&args)
    };
    ok(verify(&[&public]));
    // Cut the last two records: the chain alone still verifies, the checkpoint at 6 does not.
    let log = data.join("audit.jsonl");
    let lines = read_log_lines(&data);
    std::fs::write(&log, lines[..4].join("\n") + "\n").unwrap();
    ok(sluice(&["audit", "verify", "--data-dir", path(&data)]));
    let out = verify(&[&public]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the log ends at seq 4") && text(&out).contains("cut off the end"),
        "{}",
        text(&out)
    );
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    // Someone else's key does not verify these checkpoints.
    keygen(tmp.path(), "audit", "ci.example/sluice", "other");
    let out = verify(&[&tmp.path().join("other.pub")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("signed only by keys not given"),
        "{}",
        text(&out)
    );
    // A rotated key list: either key is accepted.
    ok(verify(&[&tmp.path().join("other.pub"), &public]));
}

// ---- the archive, against moto's S3 server ----------------------------------------------------------------

/// moto's S3 server on 127.0.0.1 (in memory: it keeps its buckets only while it runs).
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let mut child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with moto[server] (tests/requirements.txt)");
        let port = listening_port(&mut child).expect("moto's server listens");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Runs boto3 against this server: `s3` is a client in the script.
    fn boto(&self, script: &str) -> String {
        let prelude = format!(
            "import boto3, json, sys\ns3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', \
             aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            self.endpoint
        );
        crate::support::python(&format!("{prelude}{script}"), &[])
    }

    /// A bucket with Object Lock and a default retention.
    fn locked_bucket(&self, name: &str, mode: &str, period: &str) {
        self.boto(&format!(
            "s3.create_bucket(Bucket='{name}', ObjectLockEnabledForBucket=True)\n\
             s3.put_object_lock_configuration(Bucket='{name}', ObjectLockConfiguration={{'ObjectLockEnabled': 'Enabled', \
             'Rule': {{'DefaultRetention': {{'Mode': '{mode}', {period}}}}}}})\n"
        ));
    }

    fn keys(&self, bucket: &str) -> Vec<String> {
        let out = self.boto(&format!(
            "r = s3.list_objects_v2(Bucket='{bucket}')\nprint(json.dumps(sorted(o['Key'] for o in r.get('Contents', []))))"
        ));
        serde_json::from_str(&out).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// sluice with the S3 settings for `endpoint` in its environment (as a pod would get them).
fn sluice_s3(endpoint: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .envs(s3_env(endpoint))
        .output()
        .unwrap()
}

fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT", endpoint.to_owned()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ]
}

/// Seals the log by hand as sluice's segment layout has it (`segments/<first seq, 20 digits>.jsonl`,
/// `audit.jsonl` continuing the chain): `starts` are the sealed segments' first seqs, then the active one's.
fn split_into_segments(data: &Path, starts: &[usize]) {
    let lines: Vec<String> = read_log_lines(data).into_iter().map(|l| l + "\n").collect();
    std::fs::create_dir_all(data.join("segments")).unwrap();
    for w in starts.windows(2) {
        std::fs::write(
            data.join("segments").join(format!("{:020}.jsonl", w[0])),
            lines[w[0] - 1..w[1] - 1].concat(),
        )
        .unwrap();
    }
    std::fs::write(
        data.join("audit.jsonl"),
        lines[starts.last().unwrap() - 1..].concat(),
    )
    .unwrap();
}

#[test]
fn archive_round_trip_against_an_s3_server_with_object_lock() {
    let moto = Moto::start();
    moto.locked_bucket("evidence", "COMPLIANCE", "'Years': 7");
    moto.locked_bucket("weak", "GOVERNANCE", "'Days': 1");
    moto.boto("s3.create_bucket(Bucket='unlocked')");
    let tmp = tempfile::tempdir().unwrap();
    let (data, _, public) = signed_data_dir(tmp.path(), 9, "4");
    split_into_segments(&data, &[1, 5, 8]);
    ok(sluice(&[
        "audit",
        "verify",
        "--data-dir",
        path(&data),
        "--public-key",
        path(&public),
    ]));
    // A bucket whose lock is weaker, or that has none, is refused before anything is written.
    for (bucket, why) in [("weak", "GOVERNANCE"), ("unlocked", "not enabled")] {
        let url = format!("s3://{bucket}/audit");
        let out = sluice_s3(
            &moto.endpoint,
            &[
                "audit",
                "archive",
                "--data-dir",
                path(&data),
                "--archive",
                &url,
                "--retention",
                "7y",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(why), "{}", text(&out));
        assert!(moto.keys(bucket).is_empty());
    }
    let url = "s3://evidence/prod";
    let out = ok(sluice_s3(
        &moto.endpoint,
        &[
            "audit",
            "archive",
            "--data-dir",
            path(&data),
            "--archive",
            url,
            "--retention",
            "7y",
        ],
    ));
    // Two segments, three checkpoints, and the partial tile of each checkpoint's size.
    assert!(out.contains("ok: 8 objects"), "{out}");
    let keys = moto.keys("evidence");
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with("prod/segments/"))
            .count(),
        2,
        "{keys:?}"
    );
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with("prod/checkpoints/"))
            .count(),
        3,
        "{keys:?}"
    );
    // Again: nothing to do, nothing rewritten.
    assert!(ok(sluice_s3(
        &moto.endpoint,
        &[
            "audit",
            "archive",
            "--data-dir",
            path(&data),
            "--archive",
            url
        ]
    ))
    .contains("ok: 0 objects"));
    // Verify from the archive alone: segments 1-7, checkpoints at 4 (checked against the records), 8
    // and 9 (past the sealed segments: checked against the archived tiles).
    let out = ok(sluice_s3(
        &moto.endpoint,
        &[
            "audit",
            "verify",
            "--archive",
            url,
            "--public-key",
            path(&public),
        ],
    ));
    assert!(
        out.contains("ok: 7 records")
            && out.contains("1 checkpoints verified")
            && out.contains("2 newer checkpoints past the archived segments checked"),
        "{out}"
    );
    // Another log under the same names: sluice refuses to overwrite (conditional create), and the
    // locked object stays as it was.
    let first = "prod/segments/00000000000000000001.jsonl";
    let before = moto.boto(&format!(
        "print(s3.get_object(Bucket='evidence', Key='{first}')['Body'].read().decode())"
    ));
    let tmp2 = tempfile::tempdir().unwrap();
    let (other, _, _) = signed_data_dir(tmp2.path(), 5, "100");
    split_into_segments(&other, &[1, 5]);
    let out = sluice_s3(
        &moto.endpoint,
        &[
            "audit",
            "archive",
            "--data-dir",
            path(&other),
            "--archive",
            url,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("exists with other content"),
        "{}",
        text(&out)
    );
    let after = moto.boto(&format!(
        "print(s3.get_object(Bucket='evidence', Key='{first}')['Body'].read().decode())"
    ));
    assert_eq!(before, after);
    // And the store itself refuses to delete the locked version (COMPLIANCE retention).
    let refused = moto.boto(&format!(
        "v = s3.list_object_versions(Bucket='evidence', Prefix='{first}')['Versions'][0]['VersionId']\n\
         try:\n    s3.delete_object(Bucket='evidence', Key='{first}', VersionId=v)\n    print('deleted')\n\
         except Exception as e:\n    print('refused', e)"
    ));
    assert!(refused.starts_with("refused"), "{refused}");
    // A rewritten segment in the archive (a new version on top) is caught by verify --archive.
    moto.boto(&format!(
        "s3.put_object(Bucket='evidence', Key='{first}', Body=open('{}', 'rb').read())",
        path(&other.join("segments/00000000000000000001.jsonl"))
    ));
    let out = sluice_s3(
        &moto.endpoint,
        &[
            "audit",
            "verify",
            "--archive",
            url,
            "--public-key",
            path(&public),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn each_archive_attack_fails_verify_naming_the_object_and_the_untouched_archive_passes() {
    let moto = Moto::start();
    moto.locked_bucket("evidence", "COMPLIANCE", "'Years': 7");
    let tmp = tempfile::tempdir().unwrap();
    let (data, _, public) = signed_data_dir(tmp.path(), 12, "4");
    // Sealed segments 1-4 and 5-8 (archived); 9-12 stay in the active segment.
    split_into_segments(&data, &[1, 5, 9]);
    let archive_to = |prefix: &str| {
        ok(sluice_s3(
            &moto.endpoint,
            &[
                "audit",
                "archive",
                "--data-dir",
                path(&data),
                "--archive",
                &format!("s3://evidence/{prefix}"),
            ],
        ))
    };
    let verify = |prefix: &str, with_data: bool| {
        let url = format!("s3://evidence/{prefix}");
        let mut args = vec![
            "audit",
            "verify",
            "--archive",
            &url,
            "--public-key",
            path(&public),
        ];
        if with_data {
            args.extend(["--data-dir", path(&data)]);
        }
        sluice_s3(&moto.endpoint, &args)
    };
    let segment = |prefix: &str, first: usize| format!("{prefix}/segments/{first:020}.jsonl");
    for prefix in ["clean", "marker", "shorter", "rewritten"] {
        archive_to(prefix);
    }
    // Untouched: the archive alone, and with the data directory (which extends it), pass.
    let out = ok(verify("clean", true));
    assert!(
        out.contains("ok: 12 records")
            && out.contains("archive s3://evidence/clean: ok: 8 records")
            && out.contains("each with one version and no delete marker"),
        "{out}"
    );
    // 1. The newest segment hidden behind a delete marker (DeleteObject without a version: allowed
    // on a locked bucket, the locked version stays underneath).
    let newest = segment("marker", 5);
    moto.boto(&format!(
        "s3.delete_object(Bucket='evidence', Key='{newest}')"
    ));
    assert!(
        !moto.keys("evidence").contains(&newest),
        "the marker hides it"
    );
    let out = verify("marker", false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("s3://evidence/{newest}: a delete marker hides it")),
        "{}",
        text(&out)
    );
    // 2. A shorter version put on top of the newest segment (PutObject alone).
    let newest = segment("shorter", 5);
    let lines: Vec<String> =
        std::fs::read_to_string(data.join("segments").join(format!("{:020}.jsonl", 5)))
            .unwrap()
            .lines()
            .map(|l| format!("{l}\n"))
            .collect();
    let short = tmp.path().join("short.jsonl");
    std::fs::write(&short, lines[..2].concat()).unwrap();
    moto.boto(&format!(
        "s3.put_object(Bucket='evidence', Key='{newest}', Body=open('{}', 'rb').read())",
        path(&short)
    ));
    let out = verify("shorter", false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "s3://evidence/{newest}: 2 versions, but sluice writes each object once"
        )),
        "{}",
        text(&out)
    );
    // 3. Rewritten versions of every segment (a forged record, the chain recomputed), and the
    // checkpoints that would contradict them delete-marked.
    let forged_dir = tmp.path().join("forged");
    crate::support::copy_dir(&data, &forged_dir);
    std::fs::write(
        forged_dir.join("audit.jsonl"),
        [
            "segments/00000000000000000001.jsonl",
            "segments/00000000000000000005.jsonl",
            "audit.jsonl",
        ]
        .iter()
        .map(|f| std::fs::read_to_string(data.join(f)).unwrap())
        .collect::<String>(),
    )
    .unwrap();
    std::fs::remove_dir_all(forged_dir.join("segments")).unwrap();
    crate::witness::forge(&forged_dir, 3);
    split_into_segments(&forged_dir, &[1, 5, 9]);
    for first in [1, 5] {
        moto.boto(&format!(
            "s3.put_object(Bucket='evidence', Key='{}', Body=open('{}', 'rb').read())",
            segment("rewritten", first),
            path(
                &forged_dir
                    .join("segments")
                    .join(format!("{first:020}.jsonl"))
            )
        ));
    }
    for key in moto.keys("evidence") {
        if key.starts_with("rewritten/checkpoints/") {
            moto.boto(&format!("s3.delete_object(Bucket='evidence', Key='{key}')"));
        }
    }
    let out = verify("rewritten", false);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("s3://evidence/rewritten/")
            && text(&out).contains("more objects with extra versions or delete markers"),
        "{}",
        text(&out)
    );
    // And a data directory rewritten the same way does not extend the (untouched) archive.
    let out = sluice_s3(
        &moto.endpoint,
        &[
            "audit",
            "verify",
            "--archive",
            "s3://evidence/clean",
            "--public-key",
            path(&public),
            "--data-dir",
            path(&forged_dir),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("rewritten"), "{}", text(&out));
}

/// A TCP relay in front of moto that can be cut: the S3 endpoint going away and coming back while moto
/// (which keeps its buckets only in memory) keeps the archive. Cutting closes every relayed connection,
/// and while cut every new connection is closed at once, before any answer, as by a load balancer with
/// no backend left. The port stays bound throughout, so no other test's server can take it over while
/// the endpoint is "down" (a server that keeps a request open would hide the outage for a minute).
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: String) -> Relay {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let relay = Relay {
            port: listener.local_addr().unwrap().port(),
            up: Arc::new(AtomicBool::new(true)),
            conns: Arc::default(),
        };
        let (up, conns) = (Arc::clone(&relay.up), Arc::clone(&relay.conns));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target.trim_start_matches("http://")) else {
                    continue;
                };
                let mut held = conns.lock().unwrap();
                // Cut while connecting: this one must not outlive the cut either.
                if !up.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                held.extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                drop(held);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        relay
    }

    fn open(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    fn cut(&self) {
        let mut held = self.conns.lock().unwrap();
        self.up.store(false, Ordering::SeqCst);
        for c in held.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        drop(held);
        std::thread::sleep(Duration::from_millis(100));
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn metric(sink: &Sink, name: &str) -> u64 {
    let body = sink.http("GET", "/metrics", &[], b"").body;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{body}"))
        .trim()
        .parse()
        .unwrap()
}

fn wait_for(what: &str, bound: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn appends_go_on_while_the_archive_is_down_and_the_backlog_drains() {
    let moto = Moto::start();
    moto.locked_bucket("evidence", "COMPLIANCE", "'Days': 3000");
    let relay = Relay::start(moto.endpoint.clone());
    let tmp = tempfile::tempdir().unwrap();
    keygen(tmp.path(), "audit", "ci.example/sluice", "k");
    let data = tmp.path().join("data");
    let key = tmp.path().join("k.key");
    let args = [
        "--checkpoint-key-file",
        path(&key),
        "--checkpoint-every",
        "1",
        "--archive",
        "s3://evidence/a",
        "--retention",
        "7y",
    ];
    // Sink::start_with passes the process environment on: the S3 settings go in through a shell prefix.
    let env: String = s3_env(&relay.endpoint())
        .iter()
        .fold(String::new(), |s, (k, v)| s + "export " + k + "=" + v + ";");
    let sink = Sink::start_with(&data, None, &args, Some(&env));
    post(&sink, 0);
    wait_for(
        "the first checkpoint in the archive",
        Duration::from_secs(30),
        || {
            moto.keys("evidence")
                .iter()
                .any(|k| k.ends_with("00000000000000000001.note"))
        },
    );
    relay.cut();
    // The endpoint is gone: appends are answered as before, the backlog grows and is shown.
    for i in 1..6 {
        post(&sink, i);
    }
    // The signer signs the newest durable head when it wakes, so records that come faster than it
    // wakes share a checkpoint: count the checkpoints it made rather than assume one per record.
    wait_for("the checkpoint of seq 6", Duration::from_secs(30), || {
        checkpoints(&data)
            .last()
            .is_some_and(|p| p.ends_with("00000000000000000006.note"))
    });
    let signed = checkpoints(&data).len();
    assert!(signed >= 2, "{signed} checkpoints");
    wait_for(
        "upload failures in /metrics",
        Duration::from_mins(1),
        || {
            metric(&sink, "sluice_archive_upload_failures_total") > 0
                && metric(&sink, "sluice_archive_lag_checkpoints") == (signed - 1) as u64
        },
    );
    let health: Value = serde_json::from_str(&sink.http("GET", "/healthz", &[], b"").body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(
        health["evidence"]["archive"]["state"], "retrying",
        "{health}"
    );
    assert_eq!(read_log_lines(&data).len(), 6);
    // Back again: the backlog drains by itself (backoff is at most 30 s).
    relay.open();
    wait_for("the backlog to drain", Duration::from_secs(90), || {
        metric(&sink, "sluice_archive_lag_checkpoints") == 0
    });
    assert_eq!(
        moto.keys("evidence")
            .iter()
            .filter(|k| Path::new(k).extension().is_some_and(|e| e == "note"))
            .count(),
        signed
    );
}

// ---- the auditor's export ------------------------------------------------------------------------------

/// The bash block of a bundle's VERIFY.md.
fn recipe(bundle: &Path) -> String {
    let md = std::fs::read_to_string(bundle.join("VERIFY.md")).unwrap();
    let start = md.find("```bash\n").expect("VERIFY.md has a bash block") + "```bash\n".len();
    let end = md[start..].find("\n```").unwrap() + start;
    md[start..=end].to_owned()
}

fn run_recipe(script: &str, bundle: &Path, key: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("verify.sh")
        .arg(key)
        .current_dir(bundle)
        .output()
        .unwrap()
}

#[test]
fn an_export_verifies_with_its_own_recipe_and_fails_when_one_byte_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _, public) = signed_data_dir(tmp.path(), 12, "5");
    let bundle = tmp.path().join("bundle");
    let export = |out: &Path, seed: &str| {
        sluice(&[
            "audit",
            "export",
            "--data-dir",
            path(&data),
            "--public-key",
            path(&public),
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2100-01-01T00:00:00Z",
            "--out",
            path(out),
            "--sample",
            "2",
            "--seed",
            seed,
        ])
    };
    ok(export(&bundle, "2026-audit"));
    let key = std::fs::read_to_string(&public).unwrap().trim().to_owned();
    let script = recipe(&bundle);
    let out = run_recipe(&script, &bundle, &key);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("ok: records 1 to 12") && text(&out).contains("; 4 changes"),
        "{}",
        text(&out)
    );
    let csv = std::fs::read_to_string(bundle.join("changes.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    // On a machine without a tmpfs at /dev/shm, the recipe hashes its batches in its temporary
    // directory, with the same outcome.
    let no_tmpfs = script.replace("/dev/shm", "/nonexistent/shm");
    assert_ne!(no_tmpfs, script);
    let out = run_recipe(&no_tmpfs, &bundle, &key);
    assert!(
        out.status.success() && text(&out).contains("ok: records 1 to 12"),
        "{}",
        text(&out)
    );
    // The same seed draws the same sample; another seed another one.
    let again = tmp.path().join("again");
    ok(export(&again, "2026-audit"));
    assert_eq!(
        std::fs::read(bundle.join("sample.txt")).unwrap(),
        std::fs::read(again.join("sample.txt")).unwrap()
    );
    let seeds: std::collections::BTreeSet<Vec<u8>> = (0..6)
        .map(|i| {
            let d = tmp.path().join(format!("seed{i}"));
            ok(export(&d, &format!("seed-{i}")));
            std::fs::read(d.join("sample.txt")).unwrap()
        })
        .collect();
    assert!(seeds.len() > 1, "every seed drew the same sample");
    // Another key: the recipe fails.
    keygen(tmp.path(), "audit", "ci.example/sluice", "other");
    let other = std::fs::read_to_string(tmp.path().join("other.pub")).unwrap();
    assert!(!run_recipe(&script, &bundle, other.trim()).status.success());
    // One byte changed anywhere in the bundle: the recipe fails.
    let mut files = Vec::new();
    for entry in walk(&bundle) {
        files.push(entry);
    }
    assert!(files.len() >= 10, "{files:?}");
    for file in &files {
        let original = std::fs::read(file).unwrap();
        for at in [0, original.len() / 2] {
            let mut changed = original.clone();
            changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
            std::fs::write(file, &changed).unwrap();
            let out = run_recipe(&script, &bundle, &key);
            assert!(
                !out.status.success(),
                "{} byte {at} changed, yet: {}",
                file.display(),
                text(&out)
            );
        }
        std::fs::write(file, &original).unwrap();
    }
    assert!(run_recipe(&script, &bundle, &key).status.success());
    // A changed evidence page with SHA256SUMS updated to match is still caught: the pages are re-derived.
    // The pages are one file a month (evidence/<YYYY-MM>.md); CHG-100's is the first one's.
    let page = walk(&bundle.join("evidence"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "md"))
        .expect("a month of pages");
    let original = std::fs::read_to_string(&page).unwrap();
    assert!(original.contains("# Change CHG-100\n"), "{original}");
    let forged = original.replacen("| Approved by | bob |", "| Approved by | bob carol |", 1);
    assert_ne!(forged, original);
    std::fs::write(&page, &forged).unwrap();
    let sums = Command::new("bash").arg("-c").arg("find . -type f ! -name SHA256SUMS -printf '%P\\n' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS")
        .current_dir(&bundle).output().unwrap();
    assert!(sums.status.success());
    let out = run_recipe(&script, &bundle, &key);
    assert!(
        text(&out).contains(&format!(
            "evidence/{} is not what the records give",
            page.file_name().unwrap().to_string_lossy()
        )),
        "{}",
        text(&out)
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Peak RSS in KiB of a command (GNU time), and its output.
fn peak_rss_kib(envs: &[(&str, String)], args: &[&str]) -> (u64, Output) {
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("peak-rss-kib=%M")
        .arg(bin())
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("/usr/bin/time (GNU time; tests/run installs it)");
    let err = String::from_utf8_lossy(&out.stderr);
    let kib = err
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in: {err}"));
    (kib, out)
}

/// A large sealed segment is streamed into the archive, part by part: peak memory stays under 64 MiB
/// whatever its size (the old copy held it up to three times). Once there, copying again compares
/// digests instead of downloading it.
#[test]
fn a_large_segment_archives_with_bounded_memory() {
    let _heavy = crate::support::exclusive();
    let moto = Moto::start();
    moto.boto("s3.create_bucket(Bucket='big')");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("segments")).unwrap();
    // 256 MiB, the default size of a sealed segment (issue 27's bound is for that size), in lines of
    // 1 KiB: four times the 64 MiB budget, which the old code exceeded with even one copy of it.
    let line = format!("{}\n", "x".repeat(1023));
    let segment = data.join("segments").join(format!("{:020}.jsonl", 1));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&segment).unwrap());
        for _ in 0..256 * 1024 {
            std::io::Write::write_all(&mut f, line.as_bytes()).unwrap();
        }
    }
    let size = std::fs::metadata(&segment).unwrap().len();
    let dir_archive = tmp.path().join("archive");
    let runs: [(&str, Vec<(&str, String)>); 2] = [
        (dir_archive.to_str().unwrap(), Vec::new()),
        ("s3://big/prod", s3_env(&moto.endpoint)),
    ];
    for (url, env) in &runs {
        let args = [
            "audit",
            "archive",
            "--data-dir",
            path(&data),
            "--archive",
            url,
        ];
        let (kib, out) = peak_rss_kib(env, &args);
        assert!(out.status.success(), "{url}: {}", text(&out));
        assert!(
            text(&out).contains("ok: 1 objects"),
            "{url}: {}",
            text(&out)
        );
        assert!(
            kib < 64 * 1024,
            "{url}: peak RSS {kib} KiB copying {size} bytes"
        );
        // Again: the digests agree, nothing is written, and memory stays as low.
        let (kib, out) = peak_rss_kib(env, &args);
        assert!(
            text(&out).contains("ok: 0 objects"),
            "{url}: {}",
            text(&out)
        );
        assert!(
            kib < 64 * 1024,
            "{url}: peak RSS {kib} KiB comparing {size} bytes"
        );
    }
    assert_eq!(
        std::fs::read(
            dir_archive
                .join("segments")
                .join(format!("{:020}.jsonl", 1))
        )
        .unwrap()
        .len() as u64,
        size
    );
    let stored = moto.boto(
        "h = s3.head_object(Bucket='big', Key='prod/segments/00000000000000000001.jsonl')\n\
         print(h['ContentLength'], h['Metadata'].get('sha256', ''))",
    );
    let (len, digest) = stored.trim().split_once(' ').expect("length and digest");
    assert_eq!(len.parse::<u64>().unwrap(), size);
    assert_eq!(
        digest.len(),
        64,
        "the digest is kept with the object: {stored}"
    );
}

/// `value` as canonical JSON (keys sorted at every depth, no white space), as the log writes records.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let members: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&map[*k])))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// A data directory of `records` chained as the log's contract says.
fn chain(dir: &Path, records: &[Value]) {
    use sha2::{Digest, Sha256};
    std::fs::create_dir_all(dir).unwrap();
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for (i, r) in records.iter().enumerate() {
        let mut r = r.clone();
        r["seq"] = serde_json::json!(i + 1);
        r["prev"] = serde_json::json!(prev);
        let hash = format!(
            "{:x}",
            Sha256::digest(format!("{prev}{}", canonical(&r)).as_bytes())
        );
        r["hash"] = serde_json::json!(hash);
        out.push_str(&canonical(&r));
        out.push('\n');
        prev = hash;
    }
    std::fs::write(dir.join("audit.jsonl"), out).unwrap();
}

#[test]
fn an_export_of_one_month_verifies_with_the_recipe_alone_and_fails_on_any_altered_dropped_or_reordered_record(
) {
    let tmp = tempfile::tempdir().unwrap();
    // 30 syncs, ten a month from January to March, some ungated, one approver a spreadsheet would run.
    let records: Vec<Value> = (0..30)
        .map(|i| {
            let month = 1 + i / 10;
            serde_json::json!({
                "app": {"name": format!("shop{}", i % 3)},
                "approvedBy": if i == 14 { vec!["@SUM(A1)"] } else { vec!["bob"] },
                "changeId": format!("CHG-{}", 100 + i / 2),
                "event": "sync-succeeded",
                "gate": {"backup": null, "exceptions": if i % 7 == 0 { vec!["rollback"] } else { vec![] },
                         "guard": "Succeeded", "migrations": null, "source": "Plugin"},
                "key": format!("k{i}"),
                "receivedAt": format!("2026-{month:02}-{:02}T10:00:00.000Z", 1 + i % 10 * 2),
                "revision": format!("rev{i}"),
                "via": "webhook",
            })
        })
        .collect();
    let data = tmp.path().join("data");
    chain(&data, &records);
    keygen(tmp.path(), "audit", "ci.example/sluice", "k");
    keygen(tmp.path(), "witness", "witness.example/w", "w");
    let (public, w_pub) = (tmp.path().join("k.pub"), tmp.path().join("w.pub"));
    let witness = crate::support::WitnessServer::start(
        &tmp.path().join("wstate"),
        &tmp.path().join("w.key"),
        &[&public],
    );
    // The sink signs the log's tree when it starts, and the witness cosigns it.
    let key_file = tmp.path().join("k.key");
    let mut sink = Sink::start_with(
        &data,
        None,
        &[
            "--checkpoint-key-file",
            path(&key_file),
            "--witness",
            &witness.url,
            "--witness-key",
            path(&w_pub),
        ],
        None,
    );
    let deadline = Instant::now() + Duration::from_mins(1);
    while !data.join("witnessed/00000000000000000030.note").exists() {
        assert!(Instant::now() < deadline, "not cosigned: {}", sink.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(terminate(&mut sink).success());
    let bundle = tmp.path().join("february");
    let out = ok(sluice(&[
        "audit",
        "export",
        "--data-dir",
        path(&data),
        "--public-key",
        path(&public),
        "--witness-key",
        path(&w_pub),
        "--from",
        "2026-02-01T00:00:00Z",
        "--to",
        "2026-03-01T00:00:00Z",
        "--out",
        path(&bundle),
    ]));
    assert!(
        out.contains("anchored to the checkpoint of 30 records"),
        "{out}"
    );
    // The period's ten records, with the one before it (seq 10) and the one after it (seq 21).
    // Twelve records, so one file of records/, named by the first one's seq.
    let records_file = bundle.join(format!("records/{:020}.jsonl", 10));
    let lines: Vec<String> = std::fs::read_to_string(&records_file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        walk(&bundle.join("records")),
        std::slice::from_ref(&records_file)
    );
    let index = std::fs::read_to_string(bundle.join("index.md")).unwrap();
    assert!(
        index.contains("| 2026-02 | 5 | 10 | CHG-105 | CHG-109 | [JSON](evidence/2026-02.jsonl), [pages](evidence/2026-02.md) |"),
        "{index}"
    );
    assert_eq!(lines.len(), 12);
    assert!(
        lines[0].contains("\"seq\":10,") && lines[11].contains("\"seq\":21,"),
        "{lines:?}"
    );
    let csv = std::fs::read_to_string(bundle.join("changes.csv")).unwrap();
    assert!(
        csv.contains(r#""'@SUM(A1) bob""#) && csv.contains(r#""rollback""#),
        "{csv}"
    );
    let key = std::fs::read_to_string(&public).unwrap().trim().to_owned();
    let wkey = std::fs::read_to_string(&w_pub).unwrap().trim().to_owned();
    let script = recipe(&bundle);
    let run = |dir: &Path| {
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .args(["verify.sh", &key, "--witness", &wkey])
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let good = run(&bundle);
    assert!(good.status.success(), "{}", text(&good));
    assert!(
        text(&good).contains("ok: records 10 to 21 are in the tree of 30 records signed by ci.example/sluice (cosigned by 1 witnesses)"),
        "{}",
        text(&good)
    );
    // Another witness's key: the threshold is not met.
    keygen(tmp.path(), "witness", "witness.example/x", "x");
    let other = std::fs::read_to_string(tmp.path().join("x.pub"))
        .unwrap()
        .trim()
        .to_owned();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .args(["verify.sh", &key, "--witness", &other])
        .current_dir(&bundle)
        .output()
        .unwrap();
    assert!(
        !out.status.success() && text(&out).contains("cosigned by 0 of the 1 witnesses"),
        "{}",
        text(&out)
    );
    // Each tampering below is done with care: the chain recomputed (the forger knows the recipe) and
    // SHA256SUMS recomputed, so only the proofs and the completeness check stand in the way.
    let tamper = |name: &str, edit: &dyn Fn(&mut Vec<String>, &mut Vec<String>), why: &str| {
        let dir = tmp.path().join(name);
        crate::support::copy_dir(&bundle, &dir);
        let mut recs: Vec<String> = lines.clone();
        let mut proofs: Vec<String> = std::fs::read_to_string(dir.join("proofs.txt"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        edit(&mut recs, &mut proofs);
        // A careful forger names the file by its first record, as the bundle does.
        std::fs::remove_dir_all(dir.join("records")).unwrap();
        std::fs::create_dir(dir.join("records")).unwrap();
        let first: Value = serde_json::from_str(&recs[0]).unwrap();
        std::fs::write(
            dir.join(format!(
                "records/{:020}.jsonl",
                first["seq"].as_u64().unwrap()
            )),
            recs.iter()
                .flat_map(|l| [l.as_str(), "\n"])
                .collect::<String>(),
        )
        .unwrap();
        std::fs::write(
            dir.join("proofs.txt"),
            proofs
                .iter()
                .flat_map(|l| [l.as_str(), "\n"])
                .collect::<String>(),
        )
        .unwrap();
        let sums = Command::new("bash")
            .arg("-c")
            .arg("find . -type f ! -name SHA256SUMS -printf '%P\\n' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(sums.status.success());
        let out = run(&dir);
        assert!(!out.status.success(), "{name} passed: {}", text(&out));
        assert!(text(&out).contains(why), "{name}: {}", text(&out));
    };
    // Altered: a February record's approver, with every hash after it recomputed.
    let rechain = |recs: &mut Vec<String>| {
        use sha2::{Digest, Sha256};
        let first: Value = serde_json::from_str(&recs[0]).unwrap();
        let mut prev = first["prev"].as_str().unwrap().to_owned();
        for line in recs.iter_mut() {
            let mut r: Value = serde_json::from_str(line).unwrap();
            r["prev"] = serde_json::json!(prev);
            r.as_object_mut().unwrap().remove("hash");
            let hash = format!(
                "{:x}",
                Sha256::digest(format!("{prev}{}", canonical(&r)).as_bytes())
            );
            r["hash"] = serde_json::json!(hash);
            *line = canonical(&r);
            prev = hash;
        }
    };
    tamper(
        "altered",
        &|recs, _| {
            recs[3] = recs[3].replace("\"bob\"", "\"carol\"");
            rechain(recs);
        },
        "not in the checkpoint's tree",
    );
    // Altered and left as it was otherwise: its hash is not the hash of its content.
    tamper(
        "altered-hash-kept",
        &|recs, _| {
            recs[3] = recs[3].replace("\"bob\"", "\"eve\"");
        },
        "FAILED: seq 13: hash does not match the record",
    );
    // A record written otherwise than in canonical form (a space after its first brace), its hash as
    // it was: the same JSON value, other bytes.
    tamper(
        "not-canonical",
        &|recs, _| {
            recs[3] = recs[3].replacen('{', "{ ", 1);
        },
        "line 4: not a record in canonical form",
    );
    // Dropped: a record in the middle (the seqs renumbered and rechained), or the one before the period.
    tamper(
        "dropped",
        &|recs, _| {
            recs.remove(5);
        },
        "FAILED: seq",
    );
    tamper(
        "dropped-and-renumbered",
        &|recs, proofs| {
            recs.remove(5);
            for (i, line) in recs.iter_mut().enumerate() {
                let mut r: Value = serde_json::from_str(line).unwrap();
                r["seq"] = serde_json::json!(10 + i);
                *line = canonical(&r);
            }
            // proofs.txt proves the first and the last record: the last is seq 20 now.
            assert_eq!(proofs.len(), 2);
            let rest = proofs[1].split_once(' ').map_or("", |(_, r)| r).to_owned();
            proofs[1] = format!("{} {rest}", 10 + recs.len() - 1);
            rechain(recs);
        },
        "not in the checkpoint's tree",
    );
    tamper(
        "dropped-boundary",
        &|recs, _| {
            recs.remove(0);
        },
        "the record before the period is missing",
    );
    // Reordered: two records swapped, and swapped with the chain recomputed.
    tamper(
        "reordered",
        &|recs, _| {
            recs.swap(4, 5);
        },
        "FAILED: seq",
    );
    tamper(
        "reordered-and-rechained",
        &|recs, _| {
            let (a, b) = (recs[4].clone(), recs[5].clone());
            let mut ra: Value = serde_json::from_str(&a).unwrap();
            let mut rb: Value = serde_json::from_str(&b).unwrap();
            let (sa, sb) = (ra["seq"].clone(), rb["seq"].clone());
            ra["seq"] = sb;
            rb["seq"] = sa;
            recs[4] = canonical(&rb);
            recs[5] = canonical(&ra);
            rechain(recs);
        },
        "not in the checkpoint's tree",
    );
}

/// An `approval` member as the sink writes it on a sync record (src/record/evidence.rs), naming the
/// snapshot `digest`.
fn approval_member(digest: &str, revision: &str) -> Value {
    serde_json::json!({
        "verdict": "approved", "finding": null, "reason": "PR #7 approved by bob, dee",
        "required": 2, "rules": {"required": 2}, "policy": {"required": 2}, "sources": ["change"],
        "host": "github", "repository": "acme/deploy", "branch": "main", "base": null,
        "revision": revision, "reviewed": revision, "pulls": [], "rulesInForce": {},
        "directPushes": [], "fetchedAt": "2026-11-20T10:00:00.000Z", "snapshotDigest": digest,
        "decided": "after-the-fact", "decision": null, "claimedApprovers": ["bob"],
    })
}

/// Rewrites `sums` in `dir` as a careful forger would after changing files.
fn recompute_sums(dir: &Path) {
    let out = Command::new("bash")
        .arg("-c")
        .arg("find . -type f ! -name SHA256SUMS -printf '%P\\n' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn approval_snapshots_are_verified_archived_and_exported_with_the_records_that_name_them() {
    use sha2::{Digest, Sha256};
    let tmp = tempfile::tempdir().unwrap();
    // Eight records written by a sink; two of them then given the approval evidence the sink writes
    // when an approvals rule covers the app (the emulated Git host is tests/it/approvals.rs's
    // business), and the log chained again, as a new log.
    let first = tmp.path().join("first");
    let mut sink = Sink::start_with(&first, None, &[], None);
    for i in 0..8 {
        post(&sink, i);
    }
    // And the verification hook's verdict on CHG-101 (issue 22's record), after its syncs: the
    // export's outcome of the change stays its last sync.
    let report = serde_json::json!({"app": "shop1", "namespace": "shop", "changeId": "CHG-101",
        "revision": "rev5", "final": true, "verification": {"verdict": "Successful",
        "reason": "every check passed", "onFailure": "record", "within": "5m",
        "startedAt": "2026-11-20T10:05:00Z", "finishedAt": "2026-11-20T10:06:00Z",
        "checks": [{"name": "error-rate", "kind": "prometheus", "query": "rate(x[1m])",
            "phase": "Successful", "measurements": [{"value": "0.01", "phase": "Successful",
            "startedAt": "2026-11-20T10:05:30Z", "finishedAt": "2026-11-20T10:05:31Z"}]}]}});
    let r = sink.http(
        "POST",
        "/v1/verifications",
        &[],
        report.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(terminate(&mut sink).success());
    let mut records: Vec<Value> = read_log_lines(&first)
        .iter()
        .map(|l| {
            let mut r: Value = serde_json::from_str(l).unwrap();
            r.as_object_mut().unwrap().remove("hash");
            r
        })
        .collect();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("snapshots")).unwrap();
    let mut digests = Vec::new();
    for (seq, answers) in [(3, "[1]"), (7, "[2]")] {
        let bytes = format!("{{\"answers\":{answers},\"host\":\"github\"}}\n");
        let digest = format!("{:x}", Sha256::digest(bytes.as_bytes()));
        std::fs::write(data.join(format!("snapshots/{digest}.json")), bytes).unwrap();
        let r = &mut records[seq - 1];
        r["approval"] = approval_member(&digest, r["revision"].as_str().unwrap());
        digests.push(digest);
    }
    chain(&data, &records);
    split_into_segments(&data, &[1, 5]);
    keygen(tmp.path(), "audit", "ci.example/sluice", "k");
    let public = tmp.path().join("k.pub");
    let key_file = tmp.path().join("k.key");
    let mut sink = Sink::start_with(
        &data,
        None,
        &["--checkpoint-key-file", path(&key_file)],
        None,
    );
    assert!(terminate(&mut sink).success(), "{}", sink.stderr());
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--public-key", path(&public)];
        args.extend_from_slice(extra);
        sluice(&args)
    };
    let out = ok(verify(&["--data-dir", path(&data)]));
    assert!(
        out.contains("; 2 snapshots the records name, each with its digest"),
        "{out}"
    );
    // Archived before the segments, and verified there: the sealed segment (seq 1-4) names the first.
    let archive = tmp.path().join("archive");
    ok(sluice(&[
        "audit",
        "archive",
        "--data-dir",
        path(&data),
        "--archive",
        path(&archive),
    ]));
    for d in &digests {
        assert!(archive.join(format!("snapshots/{d}.json")).is_file(), "{d}");
    }
    let out = ok(verify(&["--archive", path(&archive)]));
    assert!(out.contains("; 1 snapshots the records name"), "{out}");
    // Export: the bundle carries both snapshots, and its recipe checks them.
    let bundle = tmp.path().join("bundle");
    let export = |out: &Path| {
        sluice(&[
            "audit",
            "export",
            "--data-dir",
            path(&data),
            "--public-key",
            path(&public),
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2100-01-01T00:00:00Z",
            "--out",
            path(out),
        ])
    };
    ok(export(&bundle));
    let key = std::fs::read_to_string(&public).unwrap().trim().to_owned();
    let script = recipe(&bundle);
    let good = run_recipe(&script, &bundle, &key);
    assert!(good.status.success(), "{}", text(&good));
    let csv = std::fs::read_to_string(bundle.join("changes.csv")).unwrap();
    assert!(
        csv.lines()
            .any(|l| l.starts_with("\"CHG-101\"")
                && l.contains(",\"sync-succeeded\",\"\",\"2 6 9\"")),
        "{csv}"
    );
    let snap = |dir: &Path, i: usize| dir.join(format!("snapshots/{}.json", digests[i]));
    assert_eq!(
        std::fs::read(snap(&bundle, 1)).unwrap(),
        std::fs::read(snap(&data, 1)).unwrap()
    );
    // A snapshot changed in the bundle, SHA256SUMS recomputed: the recipe names it.
    let original = std::fs::read(snap(&bundle, 0)).unwrap();
    std::fs::write(snap(&bundle, 0), b"{\"answers\":[],\"host\":\"github\"}\n").unwrap();
    recompute_sums(&bundle);
    let out = run_recipe(&script, &bundle, &key);
    assert!(
        text(&out).contains(&format!(
            "snapshots/{}.json is not the snapshot seq 3 names",
            digests[0]
        )),
        "{}",
        text(&out)
    );
    // Removed from the bundle: the recipe names the record.
    std::fs::remove_file(snap(&bundle, 0)).unwrap();
    recompute_sums(&bundle);
    let out = run_recipe(&script, &bundle, &key);
    assert!(
        text(&out).contains(&format!(
            "seq 3 names the snapshot {}, which is not in snapshots/",
            digests[0]
        )),
        "{}",
        text(&out)
    );
    std::fs::write(snap(&bundle, 0), &original).unwrap();
    recompute_sums(&bundle);
    assert!(run_recipe(&script, &bundle, &key).status.success());
    // The archive's copy changed, or deleted: `verify --archive` names it.
    let archived = snap(&archive, 0);
    let kept = std::fs::read(&archived).unwrap();
    std::fs::write(&archived, b"{}\n").unwrap();
    let out = verify(&["--archive", path(&archive)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "snapshots/{}.json: the content's SHA-256 is",
            digests[0]
        )) && text(&out).contains("the snapshot was changed"),
        "{}",
        text(&out)
    );
    std::fs::remove_file(&archived).unwrap();
    let out = verify(&["--archive", path(&archive)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "record 3 of the archived segments names the snapshot {}",
            digests[0]
        )) && text(&out).contains("is not in the archive"),
        "{}",
        text(&out)
    );
    std::fs::write(&archived, &kept).unwrap();
    assert!(verify(&["--archive", path(&archive)]).status.success());
    // The data directory's copy changed, or deleted: verify and export fail naming the record.
    let local = snap(&data, 1);
    let kept = std::fs::read(&local).unwrap();
    std::fs::write(&local, b"{}\n").unwrap();
    let out = verify(&["--data-dir", path(&data)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("record 7 names the snapshot {}", digests[1]))
            && text(&out).contains("the snapshot was changed"),
        "{}",
        text(&out)
    );
    std::fs::remove_file(&local).unwrap();
    let out = verify(&["--data-dir", path(&data)]);
    assert!(
        text(&out).contains(&format!("record 7 names the snapshot {}", digests[1])),
        "{}",
        text(&out)
    );
    let refused = tmp.path().join("refused");
    let out = export(&refused);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!refused.exists(), "nothing partial under --out");
    std::fs::write(&local, &kept).unwrap();
    ok(verify(&["--data-dir", path(&data)]));
}

/// An export holds a few bytes a record, never the period: a year of 70,000 records of 3.3 KB (230 MB,
/// in two sealed segments and the active one) exports with a peak RSS under 64 MiB, under a third of
/// the records' bytes alone (the old export held them all, parsed, and every file of the bundle
/// besides: about ten times the log). The bundle spreads over months and over two files of records, and
/// its recipe verifies it whole and its sample alone.
#[test]
fn an_export_of_a_year_stays_in_bounded_memory_and_verifies() {
    const BOUND: u64 = 64 << 20;
    let _heavy = crate::support::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let n = 70_000;
    let pad = "x".repeat(3000);
    let records: Vec<Value> = (0..n)
        .map(|i| {
            // One every 450 s from 2026-01-01: through the twelve months of 2026.
            let at = chrono::DateTime::from_timestamp(1_767_225_600 + i64::from(i) * 450, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            serde_json::json!({
                "app": {"name": format!("shop{}", i % 7)},
                "approvedBy": ["bob"],
                "changeId": format!("CHG-{}", i / 4),
                "event": if i % 4 == 0 { "guard-decision" } else { "sync-succeeded" },
                "allowed": true,
                "key": format!("k{i}"),
                "message": pad,
                "receivedAt": at,
                "revision": format!("rev{}", i / 4),
            })
        })
        .collect();
    let data = tmp.path().join("data");
    chain(&data, &records);
    split_into_segments(&data, &[1, 25_001, 50_001]);
    keygen(tmp.path(), "audit", "ci.example/sluice", "k");
    let public = tmp.path().join("k.pub");
    let mut sink = Sink::start_within(
        &data,
        None,
        &["--checkpoint-key-file", path(&tmp.path().join("k.key"))],
        None,
        None,
        Duration::from_mins(5),
    );
    let note = data.join(format!("checkpoints/{n:020}.note"));
    let deadline = Instant::now() + Duration::from_mins(5);
    while !note.exists() {
        assert!(
            Instant::now() < deadline,
            "no checkpoint: {}",
            sink.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(terminate(&mut sink).success());
    let log_bytes: u64 = walk(&data)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(log_bytes > 3 * BOUND, "{log_bytes} bytes");
    let bundle = tmp.path().join("year");
    let (kib, out) = peak_rss_kib(
        &[],
        &[
            "audit",
            "export",
            "--data-dir",
            path(&data),
            "--public-key",
            path(&public),
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2027-01-01T00:00:00Z",
            "--out",
            path(&bundle),
            "--sample",
            "5",
            "--seed",
            "2026",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        kib * 1024 < BOUND,
        "peak RSS {kib} KiB exporting {log_bytes} bytes of records"
    );
    let records_files = walk(&bundle.join("records"));
    assert_eq!(
        records_files,
        [
            bundle.join(format!("records/{:020}.jsonl", 1)),
            bundle.join(format!("records/{:020}.jsonl", 65_537)),
        ]
    );
    let months = walk(&bundle.join("evidence"));
    assert_eq!(months.len(), 2 * 12, "{months:?}");
    assert!(months.iter().all(|m| m
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("2026-")));
    let key = std::fs::read_to_string(&public).unwrap().trim().to_owned();
    let script = recipe(&bundle);
    let whole = run_recipe(&script, &bundle, &key);
    assert!(whole.status.success(), "{}", text(&whole));
    assert!(
        text(&whole).contains(&format!(
            "ok: records 1 to {n} are in the tree of {n} records"
        )) && text(&whole).contains(&format!("; {} changes", n / 4)),
        "{}",
        text(&whole)
    );
    // A record far into the log (the recipe hashes records 10,000 at a time) altered, its hash and
    // every other record as they were, SHA256SUMS recomputed: its own hash gives it away.
    let first_file = bundle.join(format!("records/{:020}.jsonl", 1));
    let original = std::fs::read_to_string(&first_file).unwrap();
    let mut lines: Vec<&str> = original.lines().collect();
    let altered = lines[60_000].replace("\"bob\"", "\"eve\"");
    assert_ne!(altered, lines[60_000]);
    lines[60_000] = &altered;
    std::fs::write(&first_file, lines.join("\n") + "\n").unwrap();
    recompute_sums(&bundle);
    let caught = run_recipe(&script, &bundle, &key);
    assert!(
        !caught.status.success()
            && text(&caught).contains("FAILED: seq 60001: hash does not match the record"),
        "{}",
        text(&caught)
    );
    // The sample alone: without records/ and evidence/ (gone), its own proofs suffice; a record of
    // it changed (and SHA256SUMS with it) is not in the tree.
    std::fs::remove_dir_all(bundle.join("records")).unwrap();
    std::fs::remove_dir_all(bundle.join("evidence")).unwrap();
    let alone = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .args(["verify.sh", &key, "--sample-only"])
        .current_dir(&bundle)
        .output()
        .unwrap();
    assert!(alone.status.success(), "{}", text(&alone));
    assert!(
        text(&alone).contains("ok: the 5 sampled changes' 20 records are in the tree"),
        "{}",
        text(&alone)
    );
    let sampled = bundle.join("sample/changes.jsonl");
    let original = std::fs::read_to_string(&sampled).unwrap();
    std::fs::write(&sampled, original.replacen("\"bob\"", "\"eve\"", 1)).unwrap();
    recompute_sums(&bundle);
    let forged = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .args(["verify.sh", &key, "--sample-only"])
        .current_dir(&bundle)
        .output()
        .unwrap();
    assert!(
        !forged.status.success() && text(&forged).contains("not in the checkpoint's tree"),
        "{}",
        text(&forged)
    );
}
