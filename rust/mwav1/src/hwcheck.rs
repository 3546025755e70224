//! `mwav1 hwcheck`: the one command a hardware owner runs. It probes every backend, records
//! the conformance cases (`movie_writer_av1_tools::conformance`) with every hardware backend
//! whose probe passes (and the software ones with `--software`), judges each file by its
//! bitstream and a libaom decode of every frame (`conformance::bitstream`, on every machine) and
//! by its pixels through FFmpeg's tools where they are installed, runs the Vulkan checks under
//! the Khronos validation layer where it is installed, and writes everything to a report file
//! to attach to an issue.
//!
//! Exit status: 0 when every case that ran passed, 1 otherwise. A case whose pixels could not
//! be judged (no `ffmpeg` CLI) is counted apart, so the summary never calls it fully passed. A
//! machine with no hardware encoder passes with nothing run, and the summary says that nothing
//! was judged; the report says why for each backend.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use movie_writer_av1_core::backend::{self, BackendKind, Probe};
use movie_writer_av1_core::ffmpeg_log;
use movie_writer_av1_tools::conformance::{self, bitstream, oracle, Case};

use crate::machine;

#[derive(clap::Args)]
pub struct Args {
    /// Where the recordings and the report go.
    #[arg(long, value_name = "DIR", default_value = "out/hwcheck")]
    out: PathBuf,
    /// The software backends too (SVT-AV1, libaom), not only the hardware ones.
    #[arg(long)]
    software: bool,
    /// Only this backend.
    #[arg(long, value_name = "BACKEND", value_parser = backend_ids())]
    only: Option<BackendKind>,
    /// Leaves out the validation-layer runs (which run hwcheck itself, with this flag).
    #[arg(long = "no-validation", action = clap::ArgAction::SetFalse)]
    validation: bool,
}

/// The backend table's ids, which clap lists when another is given.
fn backend_ids() -> impl TypedValueParser<Value = BackendKind> {
    PossibleValuesParser::new(BackendKind::ALL.iter().map(|k| k.id()))
        .map(|id| BackendKind::from_id(&id).expect("the ids come from BackendKind::ALL"))
}

/// How one case came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    /// Every bitstream check passed and libaom decoded every frame, but nothing judged its
    /// pixels: no FFmpeg command-line tools here.
    PassPixelsNotJudged,
    Fail,
}

/// FFmpeg's lines quoted under a failed case: the newest, where the failure is.
const FFMPEG_LINES_QUOTED: usize = 20;

/// The outcome of one case, as one report line; a failed case quotes what FFmpeg said while it
/// ran (the encoder's own words, from any thread). `pixels`: whether FFmpeg's tools are here to
/// judge the decoded pictures.
fn run_case(case: &Case, dir: &Path, pixels: bool) -> (Outcome, String) {
    ffmpeg_log::take_journal();
    let (outcome, mut line) = judge_case(case, dir, pixels);
    if outcome == Outcome::Fail {
        let said = ffmpeg_log::take_journal();
        let newest = &said[said.len().saturating_sub(FFMPEG_LINES_QUOTED)..];
        for l in newest {
            let _ = write!(line, "\n       ffmpeg: {l}");
        }
    }
    (outcome, line)
}

fn judge_case(case: &Case, dir: &Path, pixels: bool) -> (Outcome, String) {
    let path = dir.join(case.file_name());
    let what = case.to_string();
    let recorded = match conformance::record(case, &path) {
        Ok(r) => r,
        Err(e) => return (Outcome::Fail, format!("FAIL {what}: recording failed: {e}")),
    };
    let s = &recorded.stats;
    let size = format!(
        "{} bytes ({:.0} kbit/s), encode {:.1} fps, wall {:.1} s, file {}",
        s.bytes,
        s.average_bitrate_kbps,
        s.encode_fps,
        recorded.wall_s,
        path.display()
    );
    if s.backend != Some(case.backend) {
        return (
            Outcome::Fail,
            format!(
                "FAIL {what}: recorded by {:?}, not the backend asked for; {size}",
                s.backend
            ),
        );
    }
    let (mut problems, mut figures) = match bitstream::judge(&path, (case.width, case.height)) {
        Ok(b) => (b.problems(case.frames), b.to_string()),
        Err(e) => (
            vec![format!("the bitstream judge could not read it: {e}")],
            String::new(),
        ),
    };
    if pixels {
        match oracle::judge(&path, case.width, case.height, case.fps, case.frames) {
            Err(e) => problems.push(format!("FFmpeg could not judge the pixels: {e}")),
            Ok(j) => {
                problems.extend(conformance::problems(case, &j));
                let _ = write!(figures, "; {j}");
            }
        }
    } else {
        figures += "; pixels not judged (no ffmpeg CLI)";
    }
    let outcome = match (problems.is_empty(), pixels) {
        (false, _) => Outcome::Fail,
        (true, true) => Outcome::Pass,
        (true, false) => Outcome::PassPixelsNotJudged,
    };
    let verdict = match outcome {
        Outcome::Pass => "pass",
        Outcome::PassPixelsNotJudged => "pass (bitstream only)",
        Outcome::Fail => "FAIL",
    };
    let mut line = format!("{verdict} {what}: {figures}; {size}");
    for p in &problems {
        let _ = write!(line, "\n       - {p}");
    }
    (outcome, line)
}

/// The result line: what passed, what failed, and what was judged only in part; never "N
/// passed" when nothing was judged.
fn summary(passed: usize, bitstream_only: usize, failed: usize) -> String {
    if passed + bitstream_only + failed == 0 {
        return "nothing was judged: no case ran (see why above)".into();
    }
    let mut line = format!("{passed} passed, {failed} failed");
    if bitstream_only > 0 {
        let _ = write!(
            line,
            ", {bitstream_only} passed the bitstream checks and the libaom decode but their pixels were not judged (install FFmpeg's command-line tools)"
        );
    }
    line
}

/// Runs `mwav1 <args>` (this very binary) with the Khronos validation layer enabled through
/// the loader's environment (settings in `dir`); returns its output and how many validation
/// errors it printed, or why the run does not count (it failed, or the layer never started).
fn under_validation(args: &[&str], dir: &Path) -> Result<(String, usize), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let env = backend::vulkan_validation_env(dir).map_err(|e| format!("cannot write the layer settings: {e}"))?;
    let out = Command::new(exe)
        .args(args)
        .envs(env)
        .output()
        .map_err(|e| format!("cannot run mwav1 {}: {e}", args.join(" ")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("it failed ({}):\n{text}", out.status));
    }
    if !text.contains(backend::VULKAN_VALIDATION_ACTIVE) {
        return Err(format!("the validation layer never reported itself active:\n{text}"));
    }
    Ok((text.clone(), text.matches("Validation Error").count()))
}

pub fn run(o: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&o.out).map_err(|e| format!("cannot create {}: {e}", o.out.display()))?;
    let mut report = String::new();
    let mut say = |line: String| {
        println!("{line}");
        report.push_str(&line);
        report.push('\n');
    };
    ffmpeg_log::keep_journal();
    say(format!("MovieWriterAV1 hwcheck (mwav1 {})", env!("CARGO_PKG_VERSION")));
    say("\n== machine".into());
    machine::describe().into_iter().for_each(&mut say);
    let ffmpeg =
        oracle::tool_version("ffmpeg").and_then(|v| oracle::tool_version("ffprobe").map(|p| format!("{v}; {p}")));
    say(format!(
        "judge: bitstream checks and libaom decode (built in); pixels: {}",
        ffmpeg
            .as_ref()
            .map_or_else(|e| format!("ABSENT, pixels are not judged: {e}"), Clone::clone)
    ));

    say("\n== probes".into());
    let probes: Vec<Probe> = backend::probe_all();
    for p in &probes {
        let state = if p.available {
            "available".to_string()
        } else {
            format!("unavailable: {}", p.reason)
        };
        say(format!(
            "{:<28} {state}\n{:<28} version {}",
            p.kind.to_string(),
            "",
            p.version
        ));
    }

    let chosen: Vec<&Probe> = probes
        .iter()
        .filter(|p| o.only.map_or(p.kind.is_hardware() || o.software, |k| k == p.kind))
        .collect();
    let (mut passed, mut bitstream_only, mut failed) = (0, 0, 0);
    for p in &chosen {
        say(format!("\n== {} ({})", p.kind, p.kind.id()));
        if !p.available {
            say(format!("not run: {}", p.reason));
            continue;
        }
        let dir = o.out.join(p.kind.id());
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for case in conformance::cases(p) {
            let (outcome, line) = run_case(&case, &dir, ffmpeg.is_ok());
            match outcome {
                Outcome::Pass => passed += 1,
                Outcome::PassPixelsNotJudged => bitstream_only += 1,
                Outcome::Fail => failed += 1,
            }
            say(line);
        }
    }

    say("\n== Vulkan under the Khronos validation layer".into());
    if !o.validation {
        say("not run: --no-validation".into());
    } else if !backend::vulkan_validation_layer_available() {
        say(format!(
            "not run: the loader has no {} (Debian/Ubuntu: apt install vulkan-validationlayers)",
            backend::VULKAN_VALIDATION_LAYER
        ));
    } else if o.only.is_none_or(|k| k == BackendKind::Vulkan) {
        let mut checks = vec![vec!["vulkan-check".to_string()]];
        let vulkan_available = probes.iter().any(|p| p.kind == BackendKind::Vulkan && p.available);
        if vulkan_available {
            let dir = o.out.join("vulkan-validated");
            checks.push(vec![
                "hwcheck".into(),
                "--only".into(),
                "vulkan".into(),
                "--no-validation".into(),
                "--out".into(),
                dir.display().to_string(),
            ]);
        }
        for check in checks {
            let args: Vec<&str> = check.iter().map(String::as_str).collect();
            match under_validation(&args, &o.out.join("validation-settings")) {
                Err(e) => {
                    failed += 1;
                    say(format!("FAIL mwav1 {}: {e}", args.join(" ")));
                }
                Ok((text, errors)) => {
                    let log = o.out.join(format!("validation-{}.txt", args[0]));
                    let _ = std::fs::write(&log, &text);
                    let verdict = if errors == 0 { "pass" } else { "FAIL" };
                    if errors == 0 {
                        passed += 1;
                    } else {
                        failed += 1;
                    }
                    say(format!(
                        "{verdict} mwav1 {}: {errors} validation errors (output: {})",
                        args.join(" "),
                        log.display()
                    ));
                }
            }
        }
    }

    say(format!("\n== result\n{}", summary(passed, bitstream_only, failed)));
    let path = o.out.join("hwcheck-report.txt");
    std::fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("report written to {}", path.display());
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} check(s) failed; see {}", path.display()))
    }
}
