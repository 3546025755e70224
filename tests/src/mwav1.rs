//! Runs the `mwav1` CLI (crate `rust/mwav1`) as a subprocess, as a user would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::memory;
use crate::record::SceneSpec;
use crate::tool::{self, Error, Result};

/// What builds the binary these tests need: the workspace, as `./dev test` does first.
const BUILD: &str = "./dev build (or: cargo-zigbuild zigbuild --release --target \
                     x86_64-unknown-linux-gnu.2.28 --workspace --all-targets)";

/// `target/<profile>/mwav1`, next to the `deps/` folder the running test binary lives in,
/// checked to be built from the sources as they are now.
///
/// Checked, not built here: Cargo gives `CARGO_BIN_EXE_mwav1` only to the `mwav1` package's
/// own tests (rust/mwav1/tests/), and a build started from a test could not repeat the outer
/// one: the zig link against glibc 2.28 that `portable.rs` checks, and the workspace's feature
/// unification that puts the core's fault switch into the binary (`fault.rs`). So a test
/// refuses a missing or stale binary, naming the command that builds it, rather than testing
/// an older `mwav1` than the code beside it.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test binary");
    let profile_dir = exe
        .parent()
        .filter(|d| d.ends_with("deps"))
        .and_then(Path::parent)
        .or_else(|| exe.parent())
        .expect("the test binary lies in a folder");
    let bin = profile_dir.join(format!("mwav1{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} does not exist: run {BUILD}", bin.display());
    let newer = newer_inputs(&bin, &bin.with_extension("d")).unwrap_or_else(|e| panic!("{e}: run {BUILD}"));
    assert!(
        newer.is_empty(),
        "{} is older than {} of its sources ({}): run {BUILD}",
        bin.display(),
        newer.len(),
        newer
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    bin
}

/// The inputs listed in Cargo's dep-info file `dep_info` (`mwav1.d`, written with the binary:
/// every source file of the workspace it was compiled from, the core's included) that changed
/// after `bin` was built or are gone. Cargo rebuilds on the same condition, so an up-to-date
/// build always passes.
fn newer_inputs(bin: &Path, dep_info: &Path) -> std::result::Result<Vec<PathBuf>, String> {
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let text = std::fs::read_to_string(dep_info).map_err(|e| format!("{}: {e}", dep_info.display()))?;
    Ok(dep_info_inputs(&text)
        .into_iter()
        .filter(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .map_or(true, |m| m > built)
        })
        .collect())
}

/// The prerequisites of a Makefile-style dep-info file ("target: input input…", a space in a
/// path escaped as "\ ").
fn dep_info_inputs(text: &str) -> Vec<PathBuf> {
    let mut inputs = Vec::new();
    for line in text.lines() {
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = deps.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.extend(chars.next()),
                ' ' => inputs.extend((!current.is_empty()).then(|| PathBuf::from(std::mem::take(&mut current)))),
                c => current.push(c),
            }
        }
        inputs.extend((!current.is_empty()).then(|| PathBuf::from(current)));
    }
    inputs
}

/// What `mwav1 record` printed about itself, and its memory as measured from outside.
#[derive(Debug, Clone, PartialEq)]
pub struct CliRecording {
    /// Everything it printed but its progress lines.
    pub stdout: String,
    pub wall: Duration,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub rss_peak_kib: u64,
    /// Its anonymous resident memory (`memory::rss_kib`) at each progress line, once a second
    /// of video: (frames queued, KiB).
    pub rss_samples: Vec<(u64, u64)>,
}

/// Records `spec` to `path` with `mwav1 record` and any `extra` options.
pub fn record(path: &Path, spec: &SceneSpec, extra: &[&str], limit: Duration) -> Result<CliRecording> {
    let mut cmd = Command::new(binary());
    cmd.arg("record")
        .arg("--out")
        .arg(path)
        .args(["--size", &format!("{}x{}", spec.width, spec.height)])
        .args(["--fps", &spec.fps.to_string()])
        .args(["--frames", &spec.frames.to_string()])
        .args(["--seed", &spec.seed.to_string()])
        .args(extra);
    let started = Instant::now();
    let done = tool::run_with_io(
        &mut cmd,
        limit,
        |_| Ok(()),
        |pid, out| {
            let (mut printed, mut rss_samples) = (String::new(), Vec::new());
            for line in BufReader::new(out).lines() {
                let line = line?;
                match parse_progress(&line) {
                    Some(frames) => rss_samples.extend(memory::rss_kib(pid).map(|kib| (frames, kib))),
                    None => {
                        printed.push_str(&line);
                        printed.push('\n');
                    }
                }
            }
            Ok((printed, rss_samples))
        },
    )?;
    let wall = started.elapsed();
    if !done.status.success() {
        return Err(Error(format!("{}{}", Error::failed(&cmd, &done), done.stdout.0)));
    }
    let (stdout, rss_samples) = done.stdout;
    let (rss_start_kib, rss_end_kib, rss_peak_kib) = parse_memory(&stdout)
        .ok_or_else(|| Error(format!("no \"memory: RSS ...\" line in mwav1's output:\n{stdout}")))?;
    Ok(CliRecording {
        stdout,
        wall,
        rss_start_kib,
        rss_end_kib,
        rss_peak_kib,
        rss_samples,
    })
}

/// Reads "progress: N frames queued".
fn parse_progress(line: &str) -> Option<u64> {
    line.strip_prefix("progress: ")?
        .strip_suffix(" frames queued")?
        .parse()
        .ok()
}

/// Reads "memory: RSS at start A KiB, at end B KiB, peak C KiB".
fn parse_memory(stdout: &str) -> Option<(u64, u64, u64)> {
    let line = stdout.lines().find_map(|l| l.strip_prefix("memory: RSS at start "))?;
    let mut numbers = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().ok());
    Some((numbers.next()??, numbers.next()??, numbers.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_memory_line() {
        let out = "done: 90 frames\nmemory: RSS at start 18232 KiB, at end 80768 KiB, peak 122796 KiB\n";
        assert_eq!(parse_memory(out), Some((18232, 80768, 122796)));
        assert_eq!(parse_memory("done\n"), None);
    }

    #[test]
    fn reads_the_inputs_of_a_dep_info_file() {
        let text = "/t/release/mwav1: /w/rust/core/src/lib.rs /w/my\\ dir/main.rs\n";
        assert_eq!(
            dep_info_inputs(text),
            [
                PathBuf::from("/w/rust/core/src/lib.rs"),
                PathBuf::from("/w/my dir/main.rs")
            ]
        );
    }

    /// An input changed after the build, or removed since, makes the binary stale.
    #[test]
    fn a_source_newer_than_the_binary_is_named() {
        let dir = std::env::temp_dir().join(format!("mwav1-fresh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (bin, src, gone, dep_info) = (
            dir.join("mwav1"),
            dir.join("a.rs"),
            dir.join("gone.rs"),
            dir.join("mwav1.d"),
        );
        std::fs::write(&src, "").unwrap();
        std::fs::write(&bin, "").unwrap();
        std::fs::write(&dep_info, format!("{}: {}\n", bin.display(), src.display())).unwrap();
        assert_eq!(newer_inputs(&bin, &dep_info), Ok(vec![]), "the binary is newer");
        let later = std::fs::metadata(&bin).unwrap().modified().unwrap() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(newer_inputs(&bin, &dep_info), Ok(vec![src.clone()]));
        std::fs::write(&dep_info, format!("{}: {}\n", bin.display(), gone.display())).unwrap();
        assert_eq!(newer_inputs(&bin, &dep_info), Ok(vec![gone]));
        assert!(newer_inputs(&bin, &dir.join("none.d")).is_err(), "no dep-info file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_the_progress_line() {
        assert_eq!(parse_progress("progress: 120 frames queued"), Some(120));
        assert_eq!(parse_progress("done: 120 frames"), None);
    }
}
