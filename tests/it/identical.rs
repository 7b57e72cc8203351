//! Byte-identical rendering across builds: every fixture app (`generate`, `render -o yaml|json`,
//! `render --show-secrets`), every fixture file (as `generate --stdin` and `render --stdin` in a
//! minimal app), the go-yaml oracle's generated corpus (`src/manifest/oracle_corpus.rs`) and an app of
//! the `benches/generate.py` shape are run through the real binary; exit code, stdout and stderr of
//! each run are the case's result.
//!
//! Two checks use these cases:
//! - this module's test compares the digest of every result with `tests/fixtures/generate/identical.sha256`,
//!   written by the build before issue 28's rendering work (main at 79d5c42, `BLESS=1` with
//!   `SLUICE_IDENTICAL_BIN` naming that build), over the fixtures and the first
//!   [`CI_CORPUS`] streams of the corpus. The cases whose inputs main changed or added before the
//!   work was merged (issue 22's verify fixtures, the changed `argocd-cm-patch/` files, …) have
//!   their digests from main as it was then (92eb366, and 38bc484 for issue 26's ticket fixtures and
//!   changed kit files, ae938df for the alert rules issue 20 added, the merge of issue 23 for its
//!   argocd-cm-patch/ui/ files: the rendering code was not changed by those merges); the cases whose
//!   output issue 25 changed on purpose have its digests (the guard and verify hooks' projected token,
//!   the kit's `TokenReview` grant and alert rules, and exit 2 for every input that does not render,
//!   where it was 1); every other digest is 79d5c42's. `BLESS=1` alone rewrites the file from this build (refused
//!   when `CI` is set), for a change of output that is meant;
//! - `benches/render-identical.rs` (which includes this file) runs two builds side by side over all
//!   of it, the whole corpus of 10,000 streams included, and shows the first bytes that differ.
//!
//! Results are made independent of where the repository and the temporary directory are (both are
//! replaced by a placeholder), so that the digests hold on any machine. The kustomize fixture is left
//! out of the digests (its output is kubectl's, which changes with kubectl's version); the
//! side-by-side check runs it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "../../src/manifest/oracle_corpus.rs"]
#[allow(dead_code)]
mod oracle_corpus;

/// How many corpus streams the digests cover.
pub const CI_CORPUS: u64 = 300;

/// One run of the binary.
#[derive(Debug, Clone)]
pub struct Case {
    /// What it is, for the digest file and reports: `app tests/fixtures/...: generate`.
    pub name: String,
    /// The working directory.
    pub dir: PathBuf,
    pub args: Vec<String>,
    /// The environment (besides `PATH`).
    pub env: Vec<(String, String)>,
    pub stdin: Option<String>,
}

/// What a run gave, with the repository's and the temporary directory's paths replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The SHA-256 (hex) of the whole result.
    pub fn digest(&self) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(format!("exit {:?}\n", self.code));
        h.update(self.stdout.as_bytes());
        h.update(b"\n--- stderr\n");
        h.update(self.stderr.as_bytes());
        h.finalize().iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Argo CD's environment for fixture apps that come without an `env` file.
fn default_env() -> Vec<(String, String)> {
    [
        ("ARGOCD_APP_NAME", "identical"),
        ("ARGOCD_APP_NAMESPACE", "identical"),
        ("ARGOCD_APP_REVISION_SHORT", "4f3c2b1"),
        ("KUBE_VERSION", "1.31.4"),
        ("SLUICE_IMAGE", "registry.example.com/platform/sluice:0.1.0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect()
}

/// `KEY=VALUE` lines of a fixture's `env` file.
fn read_env(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, keep: &dyn Fn(&Path) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out, keep);
        } else if keep(&path) {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The four runs of an app: `generate` with Argo CD's environment, and `render` with it as `--env`.
fn app_cases(label: &str, dir: &Path, env: &[(String, String)], stdin: Option<&str>) -> Vec<Case> {
    let flags: Vec<String> = env
        .iter()
        .flat_map(|(k, v)| ["--env".to_string(), format!("{k}={v}")])
        .collect();
    let stdin_flag: Vec<String> = stdin.iter().map(|_| "--stdin".to_string()).collect();
    let mut runs: Vec<Vec<String>> = vec![["generate".to_string()]
        .into_iter()
        .chain(stdin_flag.clone())
        .collect()];
    for format in [&["-o", "yaml"][..], &["-o", "json"], &["--show-secrets"]] {
        if stdin.is_some() && format != ["-o", "yaml"] {
            continue;
        }
        runs.push(
            ["render", "."]
                .iter()
                .map(|s| (*s).to_string())
                .chain(stdin_flag.clone())
                .chain(format.iter().map(|s| (*s).to_string()))
                .chain(flags.clone())
                .collect(),
        );
    }
    runs.into_iter()
        .map(|args| {
            let shown: Vec<&str> = args
                .iter()
                .map(String::as_str)
                .take_while(|a| *a != "--env")
                .collect();
            Case {
                name: format!("{label}: {}", shown.join(" ")),
                dir: dir.to_path_buf(),
                args: args.clone(),
                env: env.to_vec(),
                stdin: stdin.map(String::from),
            }
        })
        .collect()
}

/// An app of `benches/generate.py`'s shape: `ConfigMaps`, Deployments that use them, Services and
/// `ServiceAccounts`, `objects` in all, in files of 200 documents.
fn write_bench_app(dir: &Path, objects: usize) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut docs = Vec::new();
    for i in 0..objects / 4 {
        docs.push(format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-{i}\n  labels: {{app: svc-{i}, tier: backend}}\ndata:\n  LOG_LEVEL: info\n  FEATURE_FLAG: \"on\"\n  MODE: '0644'\n  TIMEOUT: \"30\"\n"));
        docs.push(format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{i}\n  labels: {{app: svc-{i}}}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: svc-{i}}}\n  template:\n    metadata:\n      labels: {{app: svc-{i}}}\n    spec:\n      serviceAccountName: svc-{i}\n      containers:\n      - name: app\n        image: registry.example.com/svc:1.10.{}\n        ports: [{{containerPort: 8080}}]\n        envFrom: [{{configMapRef: {{name: cfg-{i}}}}}]\n        resources:\n          requests: {{cpu: 100m, memory: 128Mi}}\n      volumes:\n      - name: cfg\n        configMap: {{name: cfg-{i}, defaultMode: 0644}}\n", i % 10));
        docs.push(format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  selector: {{app: svc-{i}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"));
        docs.push(format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: svc-{i}\nautomountServiceAccountToken: no\n"));
    }
    for (f, chunk) in docs.chunks(200).enumerate() {
        std::fs::write(dir.join(format!("m{f:05}.yaml")), chunk.join("---\n")).expect("write");
    }
    std::fs::write(
        dir.join(".sluice.yaml"),
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\nrender: {tool: directory}\n",
    )
    .expect("write policy");
}

/// Every case: fixture apps, fixture files, the first `corpus` streams of the oracle corpus, and a
/// generated app of 2,000 objects. `work` is a temporary directory for the minimal and the
/// generated app; `with_kustomize` keeps the apps rendered by kubectl.
pub fn cases(work: &Path, corpus: u64, with_kustomize: bool) -> Vec<Case> {
    let mut out = Vec::new();
    let mut apps = Vec::new();
    for top in ["examples", "tests/fixtures"] {
        walk(&repo().join(top), &mut apps, &|p| {
            p.file_name().is_some_and(|n| n == ".sluice.yaml")
        });
    }
    for policy in apps {
        let dir = policy.parent().expect("a policy is in a directory");
        if !with_kustomize && dir.join("kustomization.yaml").exists() {
            continue;
        }
        let env_file = dir.parent().map(|p| p.join("env"));
        let env = match env_file.filter(|f| f.is_file()) {
            Some(f) => read_env(&f),
            None => default_env(),
        };
        out.extend(app_cases(
            &format!("app {}", relative(dir)),
            dir,
            &env,
            None,
        ));
    }
    let stdin_app = work.join("stdin-app");
    std::fs::create_dir_all(&stdin_app).expect("mkdir");
    std::fs::write(
        stdin_app.join(".sluice.yaml"),
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n",
    )
    .expect("write policy");
    let mut files = Vec::new();
    for top in ["examples", "tests/fixtures", "argocd-cm-patch", "docs"] {
        walk(&repo().join(top), &mut files, &|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e))
        });
    }
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read fixture");
        let label = format!("file {}", relative(&file));
        out.extend(app_cases(&label, &stdin_app, &default_env(), Some(&text)));
    }
    for (i, text) in oracle_corpus::streams(oracle_corpus::DEFAULT_SEED, corpus)
        .iter()
        .enumerate()
    {
        let label = format!("corpus {i}");
        out.extend(app_cases(&label, &stdin_app, &default_env(), Some(text)));
    }
    let bench = work.join("bench-2000");
    write_bench_app(&bench, 2000);
    out.extend(app_cases(
        "bench app of 2000 objects",
        &bench,
        &default_env(),
        None,
    ));
    out
}

/// Runs one case with `bin`.
pub fn run(bin: &Path, case: &Case, work: &Path) -> Outcome {
    let mut cmd = Command::new(bin);
    cmd.current_dir(&case.dir)
        .args(&case.args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in &case.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run sluice");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = case.stdin.clone().unwrap_or_default();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        // A run that fails before reading its input closes the pipe; that is its result, not ours.
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("sluice output");
    let _ = writer.join();
    let clean = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .replace(&work.display().to_string(), "<work>")
            .replace(&repo().display().to_string(), "<repo>")
    };
    Outcome {
        code: out.status.code(),
        stdout: clean(&out.stdout),
        stderr: clean(&out.stderr),
    }
}

/// [`run`] of every case, on as many threads as there are cores, in order.
pub fn run_all(bin: &Path, cases: &[Case], work: &Path) -> Vec<Outcome> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per = cases.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(per)
            .map(|slice| {
                s.spawn(move || slice.iter().map(|c| run(bin, c, work)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a runner thread"))
            .collect()
    })
}

/// The digest file: `<sha256>  <case>` per line.
fn digests(cases: &[Case], outcomes: &[Outcome]) -> String {
    cases
        .iter()
        .zip(outcomes)
        .fold(String::new(), |mut out, (c, o)| {
            let _ = writeln!(out, "{}  {}", o.digest(), c.name);
            out
        })
}

/// Every fixture and the first [`CI_CORPUS`] corpus streams render as the build before issue 28's
/// rendering work rendered them (the digests were written by that build).
#[test]
fn fixtures_and_corpus_render_as_the_build_before() {
    let golden = repo().join("tests/fixtures/generate/identical.sha256");
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases = cases(tmp.path(), CI_CORPUS, false);
    assert!(cases.len() > 700, "only {} cases", cases.len());
    let bless = crate::support::bless();
    let bin = match std::env::var_os("SLUICE_IDENTICAL_BIN") {
        Some(other) if bless => PathBuf::from(other),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_sluice")),
    };
    let outcomes = run_all(&bin, &cases, tmp.path());
    let ok = outcomes.iter().filter(|o| o.code == Some(0)).count();
    assert!(
        ok * 2 > outcomes.len(),
        "most cases render ({ok} of {})",
        outcomes.len()
    );
    let actual = digests(&cases, &outcomes);
    if bless {
        std::fs::write(&golden, &actual).expect("write digests");
        return;
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (BLESS=1 writes it)", golden.display()));
    assert!(!expected.trim().is_empty(), "{} is empty", golden.display());
    // Compared by case name, so that a case added or removed (a new fixture) is named as such.
    let parse = |text: &str| -> std::collections::BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(digest, name)| (name.to_string(), digest.to_string()))
            .collect()
    };
    let (expected, actual) = (parse(&expected), parse(&actual));
    let differ: Vec<String> = actual
        .iter()
        .filter(|(name, digest)| expected.get(*name).is_some_and(|e| e != *digest))
        .map(|(name, _)| name.clone())
        .collect();
    let missing: Vec<&String> = expected
        .keys()
        .filter(|n| !actual.contains_key(*n))
        .collect();
    let unknown: Vec<&String> = actual
        .keys()
        .filter(|n| !expected.contains_key(*n))
        .collect();
    assert!(
        differ.is_empty() && missing.is_empty() && unknown.is_empty(),
        "{} of {} results differ from the build before; the first: {:#?}\n\
         cases with no digest (new inputs): {:#?}\ndigests of no case (inputs gone): {:#?}\n\
         benches/render-identical.rs with SLUICE_BASELINE shows the bytes",
        differ.len(),
        cases.len(),
        &differ[..differ.len().min(10)],
        &unknown[..unknown.len().min(10)],
        &missing[..missing.len().min(10)]
    );
}
