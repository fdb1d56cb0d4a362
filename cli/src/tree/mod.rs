//! `kubeseal reencrypt [--dry-run] [--no-progress] PATH...`: re-encrypt every
//! SealedSecret of many files or whole directory trees in place, through the
//! controller's `/v1/rotate` (the newest key; templates, scopes and values already on
//! the newest key kept as they are), or offline with keys given on the command line
//! (`offline.rs`).
//!
//! One line per file with SealedSecrets on stdout (`updated`, `would update`,
//! `unchanged`, `failed`; `skipped` for a file that mentions SealedSecret but does not
//! parse), then a summary line. A file is replaced (atomically) only when all its
//! SealedSecrets were re-encrypted; a failed file does not stop the others, and makes
//! the exit code 1. The progress bar goes to stderr, and only to a terminal.

mod document;
mod offline;
mod retry;
mod walk;

pub use offline::{Offline, OfflineFlags};

use crate::io::{Access, write_atomically};
use crate::online::{Connection, Controller, OFFLINE_RE_ENCRYPT, Verdict};
use anyhow::{Result, bail};
use document::{Change, Layout, Parsed};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sealed_common::SealedSecret;
use sealed_common::codec::{one_line, read_limited};
use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use walk::Entry;

/// Who seals the files again.
pub enum Resealer {
    /// The controller's `/v1/rotate`, connected on the first file with SealedSecrets.
    Online(Box<Connection>),
    /// Keys and certificates from the command line.
    Offline(Offline),
}

/// Re-encrypts the files of `paths`; `dry_run` writes nothing, `progress` allows the
/// progress bar (still only on a terminal).
pub fn run(paths: &[PathBuf], dry_run: bool, progress: bool, resealer: Resealer) -> Result<()> {
    let entries = walk::entries(paths);
    let progress = Progress::new(entries.len() as u64, progress);
    let mut session = Session {
        resealer,
        controller: None,
        dry_run,
        progress: &progress,
    };
    let mut tally = Tally::default();
    for entry in &entries {
        let outcome = match entry {
            Entry::File { shown, real } => {
                progress.file(shown);
                match session.file(real) {
                    Ok(outcome) => outcome,
                    Err(fatal) => {
                        progress.clear();
                        return Err(fatal);
                    }
                }
            }
            Entry::Unusable { reason, .. } => Outcome::Failed(reason.clone()),
        };
        let shown = match entry {
            Entry::File { shown, .. } | Entry::Unusable { shown, .. } => shown,
        };
        if let Some(line) = tally.add(&outcome, shown, dry_run) {
            progress.println(&line);
        }
        progress.inc();
    }
    progress.clear();
    say(&tally.summary(dry_run));
    if tally.failed > 0 {
        bail!(
            "{} of {} files failed; see the failed lines",
            tally.failed,
            tally.failed + tally.updated + tally.unchanged
        );
    }
    Ok(())
}

/// What happened to one file.
#[derive(Debug)]
enum Outcome {
    /// No SealedSecret in it; with a reason when it mentions one but does not parse.
    Skipped(Option<String>),
    Unchanged,
    Updated {
        changed: usize,
        total: usize,
        layout: Layout,
    },
    Failed(String),
}

#[derive(Debug, Default)]
struct Tally {
    updated: usize,
    unchanged: usize,
    failed: usize,
    skipped: usize,
}

impl Tally {
    /// Counts the outcome; the report line for it, if it has one.
    fn add(&mut self, outcome: &Outcome, path: &Path, dry_run: bool) -> Option<String> {
        let path = path.display();
        let line = match outcome {
            Outcome::Skipped(reason) => {
                self.skipped += 1;
                return reason.as_ref().map(|r| format!("skipped {path}: {r}"));
            }
            Outcome::Unchanged => {
                self.unchanged += 1;
                format!("unchanged {path}")
            }
            Outcome::Updated {
                changed,
                total,
                layout,
            } => {
                self.updated += 1;
                let verb = if dry_run { "would update" } else { "updated" };
                let how = match layout {
                    Layout::Kept => String::new(),
                    Layout::Documents(1) => {
                        "; 1 document printed anew, its comments and layout not kept".to_owned()
                    }
                    Layout::Documents(n) => {
                        format!("; {n} documents printed anew, their comments and layout not kept")
                    }
                    Layout::File => {
                        "; file printed anew, its comments and layout not kept".to_owned()
                    }
                };
                format!("{verb} {path} ({changed} of {total} SealedSecrets re-encrypted{how})")
            }
            Outcome::Failed(reason) => {
                self.failed += 1;
                format!("failed {path}: {reason}")
            }
        };
        Some(one_line(&line))
    }

    fn summary(&self, dry_run: bool) -> String {
        let Tally {
            updated,
            unchanged,
            failed,
            skipped,
        } = self;
        if dry_run {
            format!(
                "dry run: {updated} would be updated, {unchanged} unchanged, {failed} failed, {skipped} skipped; nothing written"
            )
        } else {
            format!(
                "done: {updated} updated, {unchanged} unchanged, {failed} failed, {skipped} skipped"
            )
        }
    }
}

struct Session<'a> {
    resealer: Resealer,
    /// Connected on the first file with SealedSecrets.
    controller: Option<Controller>,
    dry_run: bool,
    progress: &'a Progress,
}

impl Session<'_> {
    /// One file. `Err` only when nothing more can work (no connection to the
    /// controller).
    fn file(&mut self, path: &Path) -> Result<Outcome> {
        let bytes = match std::fs::File::open(path).and_then(read_limited) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(Outcome::Failed(format!("cannot read: {e}"))),
        };
        let parsed = match document::parse(&bytes) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(Outcome::Skipped(None)),
            Err(reason) => {
                let mentions = bytes.windows(KIND_BYTES.len()).any(|w| w == KIND_BYTES);
                let reason = mentions.then(|| format!("not valid YAML or JSON: {reason}"));
                return Ok(Outcome::Skipped(reason));
            }
        };
        let changes = match self.rotate_all(&parsed)? {
            Ok(changes) => changes,
            Err(reason) => return Ok(Outcome::Failed(reason)),
        };
        if changes.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let (text, layout) = match document::rewrite(&parsed, &changes) {
            Ok(done) => done,
            Err(reason) => return Ok(Outcome::Failed(reason)),
        };
        if !self.dry_run {
            // Someone may have edited the file meanwhile: never overwrite that.
            match std::fs::File::open(path).and_then(read_limited) {
                Ok(now) if now == bytes => {}
                Ok(_) => {
                    return Ok(Outcome::Failed(
                        "the file changed while it was being re-encrypted; run again".to_owned(),
                    ));
                }
                Err(e) => return Ok(Outcome::Failed(format!("cannot read: {e}"))),
            }
            if let Err(e) = write_atomically(path, text.as_bytes(), Access::Shared) {
                return Ok(Outcome::Failed(format!("cannot write: {e}")));
            }
        }
        Ok(Outcome::Updated {
            changed: changes.len(),
            total: parsed.found.len(),
            layout,
        })
    }

    /// Has the controller seal every SealedSecret of the file again; the ones that
    /// changed, or why the file cannot be re-encrypted (the first SealedSecret that
    /// fails ends the file: it will not be written anyway).
    fn rotate_all(&mut self, parsed: &Parsed) -> Result<Result<Vec<Change>, String>> {
        let mut changes = Vec::new();
        for found in &parsed.found {
            let name = &found.name;
            let original = match &found.sealed {
                Ok(sealed) => sealed,
                Err(reason) => return Ok(Err(format!("{name}: {reason}"))),
            };
            let rotated = match self.rotate(original)? {
                Ok(rotated) => rotated,
                Err(reason) => return Ok(Err(reason)),
            };
            if document::changed(original, &rotated) {
                changes.push(Change {
                    at: found.at,
                    original: original.clone(),
                    rotated,
                });
            }
        }
        Ok(Ok(changes))
    }

    /// One SealedSecret sealed again, offline or by the controller.
    fn rotate(&mut self, original: &SealedSecret) -> Result<Result<SealedSecret, String>> {
        match &self.resealer {
            Resealer::Offline(offline) => Ok(offline.rotate(original)),
            Resealer::Online(_) => self.rotate_online(original),
        }
    }

    /// `POST /v1/rotate` for one SealedSecret, waiting out the rate limit.
    fn rotate_online(&mut self, original: &SealedSecret) -> Result<Result<SealedSecret, String>> {
        let name = original.display_name();
        let body = match serde_json::to_vec(original) {
            Ok(body) => body,
            Err(e) => return Ok(Err(format!("cannot re-encrypt secret {name}: {e}"))),
        };
        if self.controller.is_none()
            && let Resealer::Online(connection) = &self.resealer
        {
            self.controller = Some(Controller::connect(connection, OFFLINE_RE_ENCRYPT)?);
        }
        let Some(controller) = self.controller.as_ref() else {
            bail!("no connection to the controller");
        };
        let mut retry = 0;
        let verdict = loop {
            match controller.rotate(body.clone()) {
                Ok(verdict) => break verdict,
                Err(e) => {
                    retry += 1;
                    match retry::wait_before(&e, retry) {
                        Some(wait) => self.progress.wait(wait, &name),
                        None => {
                            return Ok(Err(format!(
                                "cannot re-encrypt secret {name}: {}",
                                one_line(&format!("{e:#}"))
                            )));
                        }
                    }
                }
            }
        };
        Ok(match verdict {
            Verdict::Opens(answer) => serde_json::from_slice::<SealedSecret>(&answer).map_err(|e| {
                format!(
                    "cannot re-encrypt secret {name}: the controller's answer is not a SealedSecret ({e})"
                )
            }),
            Verdict::DoesNotOpen(reason) => Err(format!(
                "unable to rotate secret: {name}{}",
                reason.map(|r| format!(" ({r})")).unwrap_or_default()
            )),
        })
    }
}

const KIND_BYTES: &[u8] = b"SealedSecret";

/// One line on stdout; a closed stdout (`| head`) is not worth a panic.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// The progress bar on stderr, when it is a terminal; report lines are printed above
/// it, so the two never mix.
struct Progress {
    bar: ProgressBar,
    /// The file being worked on, shown next to the bar.
    current: RefCell<String>,
}

impl Progress {
    fn new(len: u64, wanted: bool) -> Progress {
        let bar = if wanted && std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} files {elapsed} {wide_msg}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            current: RefCell::new(String::new()),
        }
    }

    fn file(&self, path: &Path) {
        let shown = path.display().to_string();
        self.bar.set_message(shown.clone());
        *self.current.borrow_mut() = shown;
    }

    fn wait(&self, wait: std::time::Duration, name: &str) {
        self.bar.set_message(format!(
            "rate limited; retrying {name} in {:.1} s",
            wait.as_secs_f64()
        ));
        // Keep the spinner moving while asleep.
        self.bar
            .enable_steady_tick(std::time::Duration::from_millis(200));
        std::thread::sleep(wait);
        self.bar.disable_steady_tick();
        self.bar.set_message(self.current.borrow().clone());
    }

    /// A line on stdout, above the bar.
    fn println(&self, line: &str) {
        self.bar.suspend(|| say(line));
    }

    fn inc(&self) {
        self.bar.inc(1);
    }

    fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_and_summary() {
        let mut tally = Tally::default();
        let p = Path::new("apps/db.yaml");
        let updated = Outcome::Updated {
            changed: 1,
            total: 2,
            layout: Layout::Kept,
        };
        assert_eq!(
            tally.add(&updated, p, false).unwrap(),
            "updated apps/db.yaml (1 of 2 SealedSecrets re-encrypted)"
        );
        assert_eq!(
            tally.add(&updated, p, true).unwrap(),
            "would update apps/db.yaml (1 of 2 SealedSecrets re-encrypted)"
        );
        let file = Outcome::Updated {
            changed: 1,
            total: 1,
            layout: Layout::File,
        };
        assert!(
            tally
                .add(&file, p, false)
                .unwrap()
                .ends_with("re-encrypted; file printed anew, its comments and layout not kept)")
        );
        assert_eq!(tally.add(&Outcome::Skipped(None), p, false), None);
        assert_eq!(
            tally.add(&Outcome::Unchanged, p, false).unwrap(),
            "unchanged apps/db.yaml"
        );
        assert_eq!(
            tally
                .add(&Outcome::Failed("a\nb".into()), p, false)
                .unwrap(),
            "failed apps/db.yaml: a b"
        );
        assert_eq!(
            tally.summary(false),
            "done: 3 updated, 1 unchanged, 1 failed, 1 skipped"
        );
    }
}
