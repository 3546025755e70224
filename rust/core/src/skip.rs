//! Skips that are counted, never silent (the core's own unit tests and, re-exported as
//! `movie_writer_av1_tests::skip`, the test suite).
//!
//! A test that cannot run here (no engine binary, no hardware encoder, no Slurm, no Windows
//! build) calls [`skip`] and returns. Cargo still counts it as passed, so each skip is also
//! written to `$MWAV1_SKIP_LOG` (set by `scripts/run-tests.sh`), which takes it out of the passed
//! count and lists it with its reason at the end of `./dev test`.
//!
//! `MWAV1_REQUIRE=engine,nvenc,...` names what must be there: a skip in a required category
//! fails the test instead. CI requires `engine`, `windows` and `wine` (`scripts/run-tests.sh`).

use std::io::Write;

/// What a skipped test was missing, as named in `MWAV1_REQUIRE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A Godot binary at `$GODOT4_BIN`, or the release `./dev` fetches (`.tools/bin/godot`).
    Engine,
    /// A hardware or experimental encoder backend, by its id (`nvenc`, `vaapi`, …).
    Backend(&'static str),
    /// A tool that is not installed (its name).
    Tool(&'static str),
    /// A build that only a separate command makes (`windows`: `./dev build-windows`; `macos`:
    /// `./dev build-macos`).
    Build(&'static str),
}

impl Need {
    fn name(self) -> &'static str {
        match self {
            Self::Engine => "engine",
            Self::Backend(id) | Self::Tool(id) | Self::Build(id) => id,
        }
    }
}

/// Whether the comma-separated `list` (the value of `MWAV1_REQUIRE`) names `need`, or `all`.
fn required_by(list: &str, need: Need) -> bool {
    list.split(',').map(str::trim).any(|n| n == need.name() || n == "all")
}

/// Whether `MWAV1_REQUIRE` names `need`.
pub fn required(need: Need) -> bool {
    std::env::var("MWAV1_REQUIRE").is_ok_and(|list| required_by(&list, need))
}

/// Records that `test` is skipped for `reason`; panics instead when `need` is required.
pub fn skip(test: &str, need: Need, reason: &str) {
    refuse_if_required(&std::env::var("MWAV1_REQUIRE").unwrap_or_default(), test, need, reason);
    println!("SKIPPED {test}: {reason}");
    if let Some(path) = std::env::var_os("MWAV1_SKIP_LOG") {
        let line = format!("{test}\t{reason}\n").replace('\n', " ");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .expect("open $MWAV1_SKIP_LOG");
        file.write_all(format!("{}\n", line.trim_end()).as_bytes())
            .expect("write $MWAV1_SKIP_LOG");
    }
}

fn refuse_if_required(list: &str, test: &str, need: Need, reason: &str) {
    assert!(
        !required_by(list, need),
        "{test}: MWAV1_REQUIRE names {:?} but it is not available: {reason}",
        need.name()
    );
}

/// The name of the running test, for [`skip`]: the thread name cargo's harness gives it.
pub fn current_test() -> String {
    std::thread::current().name().unwrap_or("unnamed test").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_skip_fails() {
        assert!(required_by("nvenc, engine", Need::Engine));
        assert!(required_by("nvenc, engine", Need::Backend("nvenc")));
        assert!(!required_by("nvenc, engine", Need::Backend("vaapi")));
        assert!(required_by("all", Need::Tool("slurmctld")));
        assert!(!required_by("", Need::Engine));
        let refused = std::panic::catch_unwind(|| refuse_if_required("engine", "t", Need::Engine, "none"));
        assert!(refused.is_err(), "a required skip must fail");
        refuse_if_required("nvenc", "t", Need::Engine, "none");
    }
}
