//! `mwav1 bench --quick` runs to its end and prints every figure. The figures themselves depend
//! on the machine and its load, so none is checked against a bound.

use std::process::Command;
use std::time::Duration;

use movie_writer_av1_tests::{mwav1, tool, with_time_limit};

/// How each figure's line starts (see `rust/mwav1/src/bench.rs`).
const FIGURES: [&str; 6] = [
    "machine:",
    "push_frame ",
    "colour ",
    "pipeline ",
    "file ",
    "allocations ",
];

#[test]
fn quick_bench_prints_every_figure() {
    with_time_limit(Duration::from_secs(300), || {
        let mut cmd = Command::new(mwav1::binary());
        cmd.args(["bench", "--quick"]);
        let done = tool::run(&mut cmd, Duration::from_secs(240)).unwrap_or_else(|e| panic!("{e}"));
        let stdout = String::from_utf8_lossy(&done.stdout);
        println!("{stdout}");
        assert!(done.status.success(), "{}: {}", done.status, done.stderr);
        for figure in FIGURES {
            assert!(
                stdout.lines().any(|l| l.starts_with(figure)),
                "no line starting with '{figure}' in:\n{stdout}"
            );
        }
    });
}
