//! Runs the core's `mwav1` CLI as a subprocess, as a user would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::memory;
use crate::record::SceneSpec;
use crate::tool::{self, Error, Result};

/// `target/<profile>/mwav1`, next to the `deps/` folder the running test binary lives in.
///
/// Cargo builds a binary of another package only when asked, hence the panic with the command
/// that builds it.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test binary");
    let profile_dir = exe
        .parent()
        .filter(|d| d.ends_with("deps"))
        .and_then(Path::parent)
        .or_else(|| exe.parent())
        .expect("the test binary lies in a folder");
    let bin = profile_dir.join(format!("mwav1{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} does not exist: run `cargo build --workspace --all-targets` first",
        bin.display()
    );
    bin
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
    fn reads_the_progress_line() {
        assert_eq!(parse_progress("progress: 120 frames queued"), Some(120));
        assert_eq!(parse_progress("done: 120 frames"), None);
    }
}
