//! Motion blur and output size through the real engine (see `engine.rs` for how engine tests
//! run and when they are skipped): demo_project at `--fixed-fps 240` with
//! `motion_blur_samples = 4` makes a 60 fps file; with `output_size` the file has that size; an
//! engine fps the samples do not divide is refused at `write_begin`, naming what to pass.

use std::fs;
use std::path::Path;
use std::time::Duration;

use movie_writer_av1_tests::engine::{
    assert_no_loader_errors, godot, godot_run, godot_run_on_screen, movie_args, our_errors, project, window_override,
    ENGINE,
};
use movie_writer_av1_tests::{check_recording, with_time_limit, Expected};

fn record(godot: &Path, dir: &Path, file: &str, fps: u32, quit_after: u64) -> String {
    let args = movie_args(&dir.join(file), fps, quit_after);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    godot_run(godot, dir, &args, true)
}

#[test]
fn movie_maker_at_240_fps_with_4_samples_writes_a_60_fps_file() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(1200), move || {
        let dir = project(&godot, "film", true);

        fs::write(
            dir.join("override.cfg"),
            "[editor]\nmovie_writer/av1/motion_blur_samples=4\n",
        )
        .unwrap();
        let log = record(&godot, &dir, "blur.webm", 240, 480);
        assert_no_loader_errors(&log);
        assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
        assert!(
            log.contains("60 fps out with 4-sample motion blur"),
            "the start line names the blur"
        );
        assert!(log.contains("MovieWriterAV1: wrote"), "the writer did not finish");
        let report = check_recording(
            &dir.join("blur.webm"),
            &Expected {
                browser: true,
                ..Expected::unknown_source(1280, 720, 60, Some(120))
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        report.assert_ok();

        fs::write(
            dir.join("override.cfg"),
            "[editor]\nmovie_writer/av1/motion_blur_samples=2\nmovie_writer/av1/motion_blur_shutter=1.0\nmovie_writer/av1/output_size=\"640x360\"\n",
        )
        .unwrap();
        let log = record(&godot, &dir, "small.mp4", 60, 120);
        assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
        assert!(
            !log.contains("frame size changed"),
            "an intended output size is not a resize"
        );
        let report = check_recording(
            &dir.join("small.mp4"),
            &Expected::unknown_source(640, 360, 30, Some(60)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        report.assert_ok();

        fs::write(
            dir.join("override.cfg"),
            "[editor]\nmovie_writer/av1/motion_blur_samples=4\n",
        )
        .unwrap();
        let log = record(&godot, &dir, "refused.webm", 250, 10);
        let expected = "editor/movie_writer/av1/motion_blur_samples = 4 needs --fixed-fps to be a multiple of 4; 250 is not: pass --fixed-fps 248 (62 fps out) or 252 (63 fps out)";
        assert!(log.contains(expected), "no '{expected}' in the log");
        assert!(!dir.join("refused.webm").exists(), "a refused recording left a file");
    });
}

/// A 4K window (the window size override at 3840x2160, on a 3840x2160 Xvfb screen) into a 1080p
/// file, as the README tells users to render supersampled movies.
#[test]
fn a_4k_window_records_a_1080p_file() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let dir = project(&godot, "film-4k", true);
        fs::write(
            dir.join("override.cfg"),
            format!(
                "[editor]\nmovie_writer/av1/output_size=\"1920x1080\"\n{}",
                window_override(3840, 2160)
            ),
        )
        .unwrap();
        let out = dir.join("uhd_into_hd.webm");
        let args = movie_args(&out, 30, 45);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (log, _) = godot_run_on_screen(&godot, &dir, &args, Some("3840x2160x24"), &[]);
        assert_no_loader_errors(&log);
        assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
        assert!(
            log.contains("recording 3840x2160 at 30 fps, into 1920x1080"),
            "the window is 4K"
        );
        assert!(!log.contains("frame size changed"));
        let report = check_recording(&out, &Expected::unknown_source(1920, 1080, 30, Some(45)))
            .unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        report.assert_ok();
    });
}
