//! The job's Open Job Description template (`job.openjd.yaml`, the format behind AWS Deadline
//! Cloud): `openjd check` accepts it, and `openjd run` runs its render step over every chunk and
//! then its merge step, locally, to a merged file equal to the chunks' frames, from a job folder
//! whose name holds `{{`, quotes, `%` and `$()`. The job's engine is
//! the stand-in of tests/src/farm.rs. The CLI comes from the pinned venv `./dev setup` creates
//! (`$MWAV1_OPENJD`); without it the test is counted as skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use movie_writer_av1_tests::farm::{assert_merged, planned, text, FPS, FRAMES, H, W};
use movie_writer_av1_tests::skip::{current_test, skip, Need};
use movie_writer_av1_tests::with_time_limit;

/// `$MWAV1_OPENJD`, else the venv `./dev setup` makes in the stack cache.
fn openjd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MWAV1_OPENJD") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("MWAV1_STACK_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/movie-writer-av1")))?;
    std::fs::read_dir(cache)
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin/openjd"))
        .find(|p| p.is_file() && p.to_string_lossy().contains("venv-openjd-cli"))
}

#[test]
fn openjd_checks_and_runs_the_template_to_the_merged_file() {
    let Some(openjd) = openjd() else {
        skip(
            &current_test(),
            Need::Tool("openjd"),
            "no openjd CLI (./dev setup installs it)",
        );
        return;
    };
    with_time_limit(Duration::from_secs(600), move || {
        // A folder name with what OpenJD's format strings, YAML and a shell would read as code
        // (issue 25, item 1): the template carries paths as parameter values, not expressions.
        let job = planned(
            &Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("farm_openjd")
                .join("job {{Param.X}} 'q' \"d\" 100%a $(touch pwned) ünï"),
        );
        let template = job.join("job.openjd.yaml");
        let check = Command::new(&openjd)
            .arg("check")
            .arg(&template)
            .output()
            .expect("openjd runs");
        assert!(check.status.success(), "openjd check: {}", text(&check));
        let run = Command::new(&openjd)
            .arg("run")
            .arg(&template)
            .output()
            .expect("openjd runs");
        let out = text(&run);
        println!("{out}");
        assert!(
            run.status.success() && out.contains("Session ended successfully"),
            "openjd run: {out}"
        );
        assert_merged(&job, (W, H), FPS, FRAMES);
    });
}
