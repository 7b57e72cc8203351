//! `sluice audit export [--data-dir DIR] --public-key K [--witness-key W... [--witness-threshold N]]
//! --from T --to T --out DIR [--sample N --seed S]`: the auditor's bundle (docs/audit-log.md, "Export
//! for auditors"). Verifies the log against its checkpoints first, picks the smallest checkpoint of
//! the tree that covers the period (cosigned by the threshold of the witnesses given, if any), takes the
//! records of the period with the one before and the one after it, and writes the bundle into a new
//! directory (built beside it and renamed into place, so nothing partial is ever left under `--out`).
//!
//! In bounded memory whatever the period (issue 28): one pass over the log (verified on all cores)
//! copies the records into `records/` as they go by and notes, for each, where it is and which change it
//! belongs to (a few bytes a record). The same pass holds the lines of the changes seen last, up to
//! [`HOLD`] bytes; the oldest change is let go when that is exceeded, and rendered and written (on a
//! thread of its own, with the evidence files' digests) in the order of their first record. When a
//! record comes for a change that was let go already (its records far apart in the log), what was
//! written of the evidence is removed and the changes are rendered after the pass, as before: each
//! change's records read back by position, a batch of changes on all cores while the one before is
//! written. Only the first and last record and the sampled changes' records are proven in the
//! checkpoint's tree: the hash chain links every other record to them.

use crate::cli::archive::failure;
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::evidence::checkpoint::{self, Checkpoint};
use crate::evidence::export::{self, Anchor, Change, Draw, Index, Month, Period};
use crate::evidence::note::{self, KeyKind, VerifierKey};
use crate::evidence::proof::{self, Check, Keys};
use crate::evidence::snapshot;
use crate::ledger::line;
use crate::ledger::segment::Listing;
use crate::ledger::tree::{self, Hash};
use clap::Args;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

mod pass;
use pass::{Groups, Held, Pending, Scan, Seen, OFFSET_BITS, OUTSIDE};

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct ExportArgs {
    /// The sink's data directory, holding audit.jsonl, segments/, tile/ and checkpoints/.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "/var/lib/sluice")]
    data_dir: PathBuf,
    /// The public key the checkpoints are signed with (from `sluice audit keygen`).
    #[arg(long)]
    public_key: PathBuf,
    /// A witness's public key (from `sluice witness keygen`; repeat for several): the bundle is
    /// anchored to a checkpoint cosigned by --witness-threshold of them.
    #[arg(long)]
    witness_key: Vec<PathBuf>,
    /// How many of the --witness-key witnesses must have cosigned the checkpoint.
    #[arg(long, default_value_t = 1, requires = "witness_key", value_parser = clap::value_parser!(u16).range(1..))]
    witness_threshold: u16,
    /// Start of the period (RFC 3339, inclusive), compared with each record's receivedAt.
    #[arg(long)]
    from: String,
    /// End of the period (RFC 3339, exclusive).
    #[arg(long)]
    to: String,
    /// The bundle's directory; it must not exist.
    #[arg(long)]
    out: PathBuf,
    /// Also draw a random sample of this many changes (sample.txt).
    #[arg(long, requires = "seed", value_parser = clap::value_parser!(u32).range(1..))]
    sample: Option<u32>,
    /// The sample's seed: the same seed always draws the same sample.
    #[arg(long, requires = "sample")]
    seed: Option<String>,
}

fn instant(flag: &str, text: &str) -> Result<String> {
    let t = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
        Error::Usage(format!(
            "{flag} {text:?}: {e}; give an RFC 3339 time such as 2026-01-01T00:00:00Z"
        ))
    })?;
    Ok(t.with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string())
}

fn read_key(path: &Path, kind: KeyKind) -> Result<VerifierKey> {
    let key = super::verify::read_public_key(path)?;
    key.kind()
        .expect(kind)
        .map_err(|e| failure(format!("{}: {e}", path.display())))?;
    Ok(key)
}

/// Writes the bundle and prints where.
///
/// # Errors
///
/// Bad arguments (usage), a log that does not verify against its checkpoints, no (witnessed)
/// checkpoint covering the period yet, `--out` existing, or a write failure.
pub(super) fn run(args: &ExportArgs) -> Result<Exit> {
    let from = instant("--from", &args.from)?;
    let to = instant("--to", &args.to)?;
    if from >= to {
        return Err(Error::Usage(format!(
            "--from {from} is not before --to {to}"
        )));
    }
    if args.out.exists() {
        return Err(failure(format!(
            "{}: exists already; export writes a new directory (choose another --out)",
            args.out.display()
        )));
    }
    super::source::require_log(&args.data_dir)?;
    let keys = Keys {
        log: vec![read_key(&args.public_key, KeyKind::Log)?],
        witnesses: args
            .witness_key
            .iter()
            .map(|p| read_key(p, KeyKind::Witness))
            .collect::<Result<_>>()?,
        threshold: usize::from(args.witness_threshold),
    };
    let period = Period {
        from,
        to,
        sample: args
            .sample
            .map(|n| (n as usize, args.seed.clone().unwrap_or_default())),
    };
    let name = args
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = args
        .out
        .with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let built =
        build(&args.data_dir, &tmp, &period, &keys, HOLD).and_then(|(files, size, anchor, _)| {
            std::fs::rename(&tmp, &args.out).map_err(|e| Error::io(&args.out, e))?;
            Ok((files, size, anchor))
        });
    let (files, size, anchor) = match built {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let mut how = format!("bash verify.sh \"{}\"", anchor.public_key);
    for w in &anchor.witness_keys {
        let _ = write!(how, " --witness \"{w}\"");
    }
    output::print_line(&format!(
        "ok: {files} files in {}, anchored to the checkpoint of {size} records; verify with: {how} (the \
         recipe in VERIFY.md; the index is index.md)",
        args.out.display(),
    ))?;
    Ok(Exit::Success)
}

/// How many changes are rendered between two writes after the pass (on all cores, then written in
/// order).
const BATCH: usize = 256;

/// The chunks the pass verifies and renders on all cores: a quarter of `audit verify`'s
/// ([`proof::CHUNK`]), since each chunk also holds its changes' pages (the peak RSS of an export of a
/// million records: 87 MB, against 94 MB with chunks of 1 MiB).
const CHUNK: u64 = proof::CHUNK / 4;

/// How many changes the pass gives at once to the thread that writes them (two such batches wait).
const PASS_BATCH: usize = 32;

/// How many bytes the pass holds for the changes it has not let go yet (their records' lines, and
/// their pages when rendered already): 2 MiB, about the last 700 records of the log. A change whose
/// records are further apart than that in the log makes the changes be rendered after the pass
/// (reading their records back).
const HOLD: usize = 2 << 20;

/// Writes the bundle into `dir` (a new directory); gives its number of files, the checkpoint's size
/// and the anchor, and whether the changes were rendered after the pass. The log is verified against
/// its checkpoints in the same pass that copies the records of the period into `records/` and renders
/// the changes (which stand only once the whole log verified). `hold`: [`HOLD`] (tests give others).
fn build(
    data_dir: &Path,
    dir: &Path,
    period: &Period,
    keys: &Keys,
    hold: usize,
) -> Result<(usize, u64, Anchor, bool)> {
    let mut out = Out::create(dir)?;
    // The changes rendered and written during the pass, on a thread of their own, into files of
    // their own (`changes.csv`, `evidence/`).
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Held>>(2);
    // Whether the changes are rendered in the pass still (the workers render none once it is not).
    let scan_renders = AtomicBool::new(true);
    let pass = std::thread::scope(|s| {
        let writer = s.spawn(move || {
            let mut evidence = Out::at(dir);
            let mut months = BTreeMap::new();
            let written = write_changes(&rx, &mut evidence, &mut months);
            (evidence, months, written)
        });
        let mut scan = Scan::new(Pending::new(tx, hold), &scan_renders);
        let in_period = (period.from.as_str(), period.to.as_str());
        let rendering = &scan_renders;
        let verified = proof::verify_dir_lines(
            data_dir,
            Check::new(keys.clone()),
            CHUNK,
            |lines, spans| Seen::of(lines, spans, in_period, rendering.load(Ordering::Relaxed)),
            |i, seen, offset, line| {
                scan.see(i, seen, offset, line, &mut out);
            },
        )
        .map_err(failure);
        // Ending the pass lets the writer end, and so does dropping it (on an error): it must be
        // either before the writer is joined.
        let scanned = match verified {
            Ok(done) => scan.finish(&mut out).map(|scan| (done, scan)),
            Err(e) => {
                drop(scan);
                Err(e)
            }
        };
        let written = writer
            .join()
            .map_err(|_| failure("the thread writing the changes panicked".to_owned()));
        (scanned, written)
    });
    let ((report, listing), scan) = pass.0?;
    let (evidence, rendered_months, written) = pass.1?;
    // Rendered in the pass: its files are the bundle's. Otherwise they are removed, and the changes
    // rendered below from the records read back.
    let rendered = if scan.fast {
        out.adopt(evidence)?;
        Some((rendered_months, written))
    } else {
        evidence.discard()?;
        None
    };
    let candidates = anchors(data_dir, keys)?;
    let target = scan.end.unwrap_or(report.head.seq);
    let Some((size, root, note)) = candidates.into_iter().find(|(s, _, _)| *s >= target) else {
        let what = if keys.witnesses.is_empty() {
            "checkpoint"
        } else {
            "checkpoint cosigned by the witnesses given"
        };
        return Err(failure(format!(
            "no {what} covers seq {target} yet: the sink signs one within --checkpoint-interval and at \
             shutdown (and has it cosigned when witnesses are configured); export again after that"
        )));
    };
    let reader = crate::ledger::tree(data_dir, &report.head).map_err(failure)?;
    let mut view = reader.view();
    let found = tree::proof::root(&mut view, size).map_err(failure)?;
    if found != root {
        return Err(failure(format!(
            "the tree of the first {size} records does not have the root the checkpoint signed: run \
             `sluice audit verify --public-key` on {}",
            data_dir.display()
        )));
    }
    let mut prove = |seq: u64| -> Result<String> {
        let proof = tree::proof::inclusion(&mut view, seq - 1, size).map_err(failure)?;
        Ok(export::proof_line(seq, &proof))
    };
    let count = scan.positions.len() as u64;
    let (first, last) = (scan.first_seq, scan.first_seq + count.saturating_sub(1));
    if count > 0 {
        let mut ends = prove(first)?;
        if last != first {
            ends.push_str(&prove(last)?);
        }
        out.write("proofs.txt", ends.as_bytes())?;
    }
    // The sample, drawn from the change ids.
    let picked = period.sample.as_ref().map(|(n, seed)| {
        let mut draw = Draw::new(*n, seed);
        for id in &scan.ids {
            draw.offer(id);
        }
        draw.picked()
    });
    if let Some(picked) = &picked {
        let text: String = picked.iter().flat_map(|id| [id.as_str(), "\n"]).collect();
        out.write("sample.txt", text.as_bytes())?;
        // A sample drawn from no changes is empty: its files are there all the same.
        out.append("sample/changes.jsonl", b"")?;
        out.append("sample/proofs.txt", b"")?;
    }
    let segments = Segments::open(&listing)?;
    let months = match rendered {
        Some((months, written)) => {
            written?;
            if let Some(picked) = &picked {
                write_sample(picked, &scan, &segments, &mut out, &mut prove)?;
            }
            months
        }
        None => read_back(&scan, &segments, picked.as_deref(), &mut out, &mut prove)?,
    };
    let index = export::index_page(&Index {
        period,
        size,
        seqs: (first, last),
        changes: scan.ids.len() as u64,
        months: &months,
    });
    out.write("index.md", index.as_bytes())?;
    for (digest, seq) in &scan.snapshots {
        let bytes = snapshot::read(data_dir, digest).map_err(|e| {
            failure(format!(
                "record {seq} names a snapshot that cannot be exported: {e}"
            ))
        })?;
        out.write(&format!("{}/{digest}.json", snapshot::DIR), &bytes)?;
    }
    let anchor = Anchor {
        checkpoint: note,
        public_key: keys.log[0].to_text(),
        witness_keys: keys.witnesses.iter().map(VerifierKey::to_text).collect(),
    };
    out.write("checkpoint.note", anchor.checkpoint.as_bytes())?;
    out.write("public.key", format!("{}\n", anchor.public_key).as_bytes())?;
    if !anchor.witness_keys.is_empty() {
        let text: String = anchor
            .witness_keys
            .iter()
            .flat_map(|k| [k.as_str(), "\n"])
            .collect();
        out.write("witness.keys", text.as_bytes())?;
    }
    out.write("VERIFY.md", export::recipe(period).as_bytes())?;
    let files = out.finish()?;
    Ok((files, size, anchor, !scan.fast))
}

/// The sampled changes' evidence lines (in the order of their first record) and their records'
/// inclusion proofs, from their records read back.
fn write_sample(
    picked: &[String],
    scan: &Scan,
    segments: &Segments,
    out: &mut Out,
    prove: &mut impl FnMut(u64) -> Result<String>,
) -> Result<()> {
    let wanted: HashSet<&str> = picked.iter().map(String::as_str).collect();
    let mut members: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (c, id) in scan.ids.iter().enumerate() {
        if wanted.contains(&**id) {
            members.insert(u32::try_from(c).unwrap_or(OUTSIDE), Vec::new());
        }
    }
    for (i, c) in scan.change_of.iter().enumerate() {
        if let Some(m) = members.get_mut(c) {
            m.push(u32::try_from(i).unwrap_or(u32::MAX));
        }
    }
    let mut buf = Vec::new();
    for (c, members) in members {
        let (page, seqs) = render_members(c as usize, &members, scan, segments, &mut buf)?;
        out.append("sample/changes.jsonl", &page.json)?;
        let mut proofs = String::new();
        for seq in seqs {
            proofs.push_str(&prove(seq)?);
        }
        out.append("sample/proofs.txt", proofs.as_bytes())?;
    }
    Ok(())
}

/// The changes rendered after the pass, in the order of their first record, from their records read
/// back: a batch rendered on all cores while the one before is written. Gives the months.
fn read_back(
    scan: &Scan,
    segments: &Segments,
    picked: Option<&[String]>,
    out: &mut Out,
    prove: &mut impl FnMut(u64) -> Result<String>,
) -> Result<BTreeMap<String, Month>> {
    let sampled: HashSet<&str> = picked
        .iter()
        .copied()
        .flatten()
        .map(String::as_str)
        .collect();
    out.append("changes.csv", export::csv_header().as_bytes())?;
    let mut months: BTreeMap<String, Month> = BTreeMap::new();
    let groups = scan.groups();
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let batches: Vec<std::ops::Range<usize>> = (0..scan.ids.len())
        .step_by(BATCH)
        .map(|b| b..(b + BATCH).min(scan.ids.len()))
        .collect();
    // Each batch is written while the next one is rendered (two batches held at once).
    let mut pending: Option<(std::ops::Range<usize>, Vec<Page>)> = None;
    for next in batches.into_iter().map(Some).chain([None]) {
        let (rendered, written) = std::thread::scope(|s| {
            let rendering = next.clone().map(|range| {
                let groups = &groups;
                s.spawn(move || render(range, threads, scan, groups, segments))
            });
            let written = match pending.take() {
                Some((range, pages)) => {
                    write_batch(range, pages, scan, &sampled, out, &mut months, prove)
                }
                None => Ok(()),
            };
            let rendered = rendering.map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(failure("a rendering thread panicked".to_owned())))
            });
            (rendered, written)
        });
        written?;
        if let (Some(range), Some(pages)) = (next, rendered) {
            pending = Some((range, pages?));
        }
    }
    Ok(months)
}

/// A change rendered, and the seqs of its records.
type Page = (export::Rendered, Vec<u64>);

/// Writes the rendered changes of `range` (in order): their rows, evidence lines and pages, and the
/// sampled ones' evidence with their records' inclusion proofs.
fn write_batch(
    range: std::ops::Range<usize>,
    pages: Vec<Page>,
    scan: &Scan,
    sampled: &HashSet<&str>,
    out: &mut Out,
    months: &mut BTreeMap<String, Month>,
    prove: &mut impl FnMut(u64) -> Result<String>,
) -> Result<()> {
    for (c, (page, seqs)) in range.zip(pages) {
        let id = &scan.ids[c];
        if sampled.contains(&**id) {
            out.append("sample/changes.jsonl", &page.json)?;
            let mut proofs = String::new();
            for &seq in &seqs {
                proofs.push_str(&prove(seq)?);
            }
            out.append("sample/proofs.txt", proofs.as_bytes())?;
        }
        write_page(id, page, seqs.len(), out, months)?;
    }
    Ok(())
}

/// Writes change `id`'s row, evidence line and page (of its `records` records), and counts it in its
/// month.
fn write_page(
    id: &str,
    page: export::Rendered,
    records: usize,
    out: &mut Out,
    months: &mut BTreeMap<String, Month>,
) -> Result<()> {
    out.append("changes.csv", page.csv.as_bytes())?;
    out.append(&export::evidence_file(&page.month, "jsonl"), &page.json)?;
    out.append(
        &export::evidence_file(&page.month, "md"),
        page.markdown.as_bytes(),
    )?;
    let m = months.entry(page.month).or_default();
    m.changes += 1;
    m.records += records as u64;
    if m.first.is_empty() {
        id.clone_into(&mut m.first);
    }
    id.clone_into(&mut m.last);
    Ok(())
}

/// The changes the pass let go, rendered and written as they come (on the thread the pass gives them
/// to): `changes.csv` and `evidence/`. Stops at the first change that cannot be rendered.
fn write_changes(
    changes: &std::sync::mpsc::Receiver<Vec<Held>>,
    out: &mut Out,
    months: &mut BTreeMap<String, Month>,
) -> Result<()> {
    out.append("changes.csv", export::csv_header().as_bytes())?;
    for batch in changes {
        for held in batch {
            let mut lines = Vec::with_capacity(held.ends.len());
            let mut start = 0;
            for &end in &held.ends {
                lines.push(&held.lines[start..end]);
                start = end;
            }
            let page = match held.ready {
                // Rendered from all its records already.
                Some(local) if local.records == lines.len() => local.page.map_err(failure)?,
                _ => {
                    let change = Change::parse(held.id.to_string(), lines).map_err(failure)?;
                    change.render().map_err(failure)?
                }
            };
            write_page(&held.id, page, held.ends.len(), out, months)?;
        }
    }
    Ok(())
}

/// Renders the changes of `range` on `threads` threads (each a contiguous part of it): each change's
/// page and its records' seqs, in order.
fn render(
    range: std::ops::Range<usize>,
    threads: usize,
    scan: &Scan,
    groups: &Groups,
    segments: &Segments,
) -> Result<Vec<(export::Rendered, Vec<u64>)>> {
    let part = range.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<Result<Vec<_>>> = std::thread::scope(|s| {
        let handles: Vec<_> = range
            .clone()
            .step_by(part)
            .map(|start| {
                let end = (start + part).min(range.end);
                s.spawn(move || {
                    let mut buf = Vec::new();
                    (start..end)
                        .map(|c| render_one(c, scan, groups, segments, &mut buf))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(failure("a rendering thread panicked".to_owned())))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(range.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Change `c`: its records read back from the log (into `buf`), parsed, and rendered.
fn render_one(
    c: usize,
    scan: &Scan,
    groups: &Groups,
    segments: &Segments,
    buf: &mut Vec<u8>,
) -> Result<(export::Rendered, Vec<u64>)> {
    let members = &groups.members[groups.start[c] as usize..groups.start[c + 1] as usize];
    render_members(c, members, scan, segments, buf)
}

/// Change `c` of the records `members` (indices into [`Scan::positions`]), read back into `buf`,
/// parsed and rendered.
fn render_members(
    c: usize,
    members: &[u32],
    scan: &Scan,
    segments: &Segments,
    buf: &mut Vec<u8>,
) -> Result<(export::Rendered, Vec<u64>)> {
    let mut ends = Vec::with_capacity(members.len());
    let mut line = Vec::new();
    buf.clear();
    for &i in members {
        buf.extend_from_slice(segments.line(scan.positions[i as usize], &mut line)?);
        ends.push(buf.len());
    }
    let mut lines = Vec::with_capacity(members.len());
    let mut start = 0;
    for end in ends {
        lines.push(&buf[start..end]);
        start = end;
    }
    let change = Change::parse(scan.ids[c].to_string(), lines).map_err(failure)?;
    let page = change.render().map_err(failure)?;
    Ok((page, change.seqs().collect()))
}

/// The segments' files, opened once, to read records back by position (from any thread).
struct Segments {
    paths: Vec<PathBuf>,
    files: Vec<Option<File>>,
}

impl Segments {
    fn open(listing: &Listing) -> Result<Self> {
        let mut files = Vec::with_capacity(listing.segments.len());
        for (i, seg) in listing.segments.iter().enumerate() {
            files.push(
                listing
                    .file(i)
                    .map_err(|e| Error::io(&seg.path, e))?
                    .map(|(f, _)| f),
            );
        }
        Ok(Segments {
            paths: listing.segments.iter().map(|s| s.path.clone()).collect(),
            files,
        })
    }

    /// The line at `position` (as [`Scan::positions`] holds it), read into `buf`.
    fn line<'b>(&self, position: u64, buf: &'b mut Vec<u8>) -> Result<&'b [u8]> {
        let i = usize::try_from(position >> OFFSET_BITS).unwrap_or(usize::MAX);
        let offset = position & ((1 << OFFSET_BITS) - 1);
        let path = || self.paths.get(i).cloned().unwrap_or_default();
        let Some(Some(file)) = self.files.get(i) else {
            return Err(Error::io(path(), io::Error::from(io::ErrorKind::NotFound)));
        };
        line::line_at(file, offset, buf).map_err(|e| Error::io(path(), e))
    }
}

/// The bundle's files as they are written: each one's SHA-256 as its bytes go by, for `SHA256SUMS`.
struct Out {
    root: PathBuf,
    open: HashMap<String, (BufWriter<File>, Sha256)>,
    done: Vec<(String, String)>,
}

impl Out {
    /// A new directory `root` (it must not exist).
    fn create(root: &Path) -> Result<Self> {
        std::fs::create_dir(root).map_err(|e| Error::io(root, e))?;
        Ok(Self::at(root))
    }

    /// Other files of the directory `root` (made by [`Out::create`]), written on another thread.
    fn at(root: &Path) -> Self {
        Out {
            root: root.to_path_buf(),
            open: HashMap::new(),
            done: Vec::new(),
        }
    }

    /// Takes in the files `other` wrote (ended), for `SHA256SUMS`.
    fn adopt(&mut self, mut other: Out) -> Result<()> {
        let open: Vec<String> = other.open.keys().cloned().collect();
        for path in open {
            other.close(&path)?;
        }
        self.done.append(&mut other.done);
        Ok(())
    }

    /// Removes the files this one wrote, and their directories when nothing else is left there.
    fn discard(self) -> Result<()> {
        let paths: Vec<&String> = self
            .open
            .keys()
            .chain(self.done.iter().map(|(p, _)| p))
            .collect();
        for path in &paths {
            let full = self.root.join(path);
            match std::fs::remove_file(&full) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::io(&full, e)),
                _ => {}
            }
        }
        for path in paths {
            if let Some(parent) = self.root.join(path).parent() {
                if parent != self.root {
                    let _ = std::fs::remove_dir(parent);
                }
            }
        }
        Ok(())
    }

    /// Appends `bytes` to the file `path` (created on the first append).
    fn append(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        if !self.open.contains_key(path) {
            let full = self.root.join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let file = File::create_new(&full).map_err(|e| Error::io(&full, e))?;
            self.open.insert(
                path.to_owned(),
                (BufWriter::with_capacity(1 << 16, file), Sha256::new()),
            );
        }
        if let Some((w, h)) = self.open.get_mut(path) {
            w.write_all(bytes)
                .map_err(|e| Error::io(self.root.join(path), e))?;
            h.update(bytes);
        }
        Ok(())
    }

    /// Ends the file `path`: written out, its digest kept.
    fn close(&mut self, path: &str) -> Result<()> {
        if let Some((mut w, h)) = self.open.remove(path) {
            w.flush().map_err(|e| Error::io(self.root.join(path), e))?;
            self.done.push((path.to_owned(), hex::encode(h.finalize())));
        }
        Ok(())
    }

    /// Writes the whole file `path`.
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.append(path, bytes)?;
        self.close(path)
    }

    /// Ends every file and writes `SHA256SUMS`; gives the number of files.
    fn finish(mut self) -> Result<usize> {
        let open: Vec<String> = self.open.keys().cloned().collect();
        for path in open {
            self.close(&path)?;
        }
        let sums = export::sums(&self.done);
        let path = self.root.join("SHA256SUMS");
        std::fs::write(&path, sums).map_err(|e| Error::io(&path, e))?;
        Ok(self.done.len() + 1)
    }
}

/// The checkpoints of the tree a bundle can be anchored to, smallest first: (size, root, note). With
/// witness keys, only those cosigned by the threshold of them (their `witnessed/` note); without, the
/// cosigned note when there is one, else the log's.
fn anchors(data_dir: &Path, keys: &Keys) -> Result<Vec<(u64, Hash, String)>> {
    let mut out: std::collections::BTreeMap<u64, (Hash, String, usize)> =
        std::collections::BTreeMap::new();
    for dir in [checkpoint::DIR, checkpoint::WITNESSED_DIR] {
        let listed =
            checkpoint::list(data_dir, dir).map_err(|e| Error::io(data_dir.join(dir), e))?;
        for (size, path) in listed {
            let text = checkpoint::read_note(&path).map_err(|e| Error::io(&path, e))?;
            let cp = Checkpoint::open(&text, &keys.log)
                .map_err(|e| failure(format!("{}: {e}", path.display())))?;
            let Some(root) = cp.tree_root() else {
                continue;
            };
            let (_, cosigned) = note::verify(&text, &keys.witnesses)
                .map_err(|e| failure(format!("{}: {e}", path.display())))?;
            let witnesses = cosigned
                .iter()
                .map(|s| s.key)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let better = out.get(&size).is_none_or(|(_, _, w)| witnesses > *w);
            if better {
                out.insert(size, (root, text, witnesses));
            }
        }
    }
    let need = if keys.witnesses.is_empty() {
        0
    } else {
        keys.threshold.max(1)
    };
    Ok(out
        .into_iter()
        .filter(|(_, (_, _, w))| *w >= need)
        .map(|(size, (root, text, _))| (size, root, text))
        .collect())
}

#[cfg(test)]
mod tests;
