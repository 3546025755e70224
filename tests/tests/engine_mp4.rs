//! Movie Maker into `.mp4` through the real engine (see `engine.rs` for how engine tests run and
//! when they are skipped): the demo records with AAC, the default for MP4, and with Opus, and a
//! recording killed mid-way (SIGKILL, or Ctrl+C's SIGINT) still plays.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use movie_writer_av1_tests::engine::{
    assert_no_loader_errors, godot, godot_run_on_screen, movie_args, movie_maker_child, our_errors, project,
    window_override, ENGINE,
};
use movie_writer_av1_tests::{browser, check_recording, decode, probe, with_time_limit, Expected};

const FPS: u32 = 60;
/// The demo starts its 440 Hz tone on its 30th frame, whatever the frame rate.
const DEMO_TONE_FRAME: f64 = 30.0;

/// One Movie Maker recording into MP4: a file name (the extension in any case), the audio
/// codec setting, the frame rate and the window size.
struct Case {
    file: &'static str,
    codec: &'static str,
    fps: u32,
    size: (u32, u32),
}

/// The demo into `.MP4` (upper case: the extension is matched in any case) with the default
/// audio (AAC) at 60 fps and 1280×720, into `.mp4` with `audio_codec = "opus"` at 144 fps and
/// an odd window size, and with AAC at 30 fps and 1920×1080; every file check, Chromium
/// included, and the tone in time.
#[test]
fn movie_maker_records_mp4_with_aac_and_with_opus() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(1500), move || {
        let dir = project(&godot, "mp4", true);
        let cases = [
            Case {
                file: "movie.MP4",
                codec: "aac",
                fps: 60,
                size: (1280, 720),
            },
            Case {
                file: "opus.mp4",
                codec: "opus",
                fps: 144,
                size: (1281, 721),
            },
            Case {
                file: "hd.mp4",
                codec: "aac",
                fps: 30,
                size: (1920, 1080),
            },
        ];
        for Case {
            file,
            codec,
            fps,
            size: (w, h),
        } in cases
        {
            let settings = if codec == "opus" {
                "[editor]\nmovie_writer/av1/audio_codec=\"opus\"\n"
            } else {
                ""
            };
            fs::write(dir.join("override.cfg"), format!("{settings}{}", window_override(w, h))).unwrap();
            let out = dir.join(file);
            let frames = 2 * u64::from(fps);
            let args = movie_args(&out, fps, frames);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (log, _) = godot_run_on_screen(&godot, &dir, &args, Some("1920x1080x24"), &[]);
            assert_no_loader_errors(&log);
            assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
            assert!(
                log.contains(&format!("MovieWriterAV1: recording {w}x{h} at {fps} fps")),
                "{file}: the engine did not record {w}x{h} at {fps} fps"
            );
            assert!(
                log.contains("MovieWriterAV1: wrote"),
                "the writer did not finish {file}"
            );
            let expected = Expected {
                browser: true,
                audio_codec: Some(codec),
                ..Expected::unknown_source(w, h, fps, Some(frames))
            };
            let report = check_recording(&out, &expected).unwrap_or_else(|e| panic!("{e}"));
            println!("{report}");
            report.assert_ok();
            let tone = report.tone.as_ref().expect("the demo's tone is in the file");
            assert!(
                (tone.frequency_hz - 440.0).abs() < 3.0,
                "{file}: tone at {} Hz",
                tone.frequency_hz
            );
            let frame = 1.0 / f64::from(fps);
            let start = DEMO_TONE_FRAME * frame;
            // Movie Maker mixes audio per frame, so the tone can only start on a frame boundary.
            assert!(
                (tone.start_s - start).abs() <= frame + 0.005,
                "{file}: tone starts at {:.4} s, expected {start:.4} s ± one frame",
                tone.start_s
            );
        }
    });
}

/// Records until the demo has drawn `at` frames, sends `signal` to the engine, and checks that
/// the file decodes cleanly up to within two seconds of that point and plays in Chromium.
fn killed_recording_plays(signal: &'static str, label: &'static str) {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let dir = project(&godot, label, true);
        let out = dir.join(format!("{label}.mp4"));
        let mut child = Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1280x720x24"])
            .arg(&godot)
            .arg("--path")
            .arg(&dir)
            .args(movie_args(&out, FPS, 100_000))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let at = 8 * u64::from(FPS);
        let marker = format!("demo: frame {at}");
        let reached = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .any(|l| l.trim() == marker);
        assert!(reached, "the engine ended before drawing {at} frames");
        // The engine itself, not xvfb-run: killing that would leave its Xvfb running, holding a
        // display other tests may be given.
        let engine = movie_maker_child(child.id()).expect("the engine under xvfb-run");
        let killed = Command::new("kill")
            .args([format!("-{signal}"), engine.to_string()])
            .status()
            .unwrap();
        assert!(killed.success(), "kill -{signal} {engine} failed");
        let _ = child.wait();

        let p = probe::ffprobe(&out).unwrap_or_else(|e| panic!("{e}"));
        let v = p.video.first().unwrap_or_else(|| panic!("{label}: no video stream"));
        let decoded = decode::decode_video(&out, v.width, v.height, Duration::from_secs(300)).unwrap();
        assert!(decoded.clean(), "{label}: libdav1d reported: {}", decoded.errors);
        println!(
            "{label}: {} frames decodable after the signal at frame {at}",
            decoded.frames
        );
        assert!(
            decoded.frames + 2 * u64::from(FPS) >= at,
            "{label}: only {} of {at} frames survived",
            decoded.frames
        );
        let played = browser::play(&out, Duration::from_secs(90)).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            played.ended && !played.error_event,
            "{label}: Chromium playback {played:?}"
        );
    });
}

#[test]
fn engine_killed_mid_recording_leaves_a_playable_mp4() {
    killed_recording_plays("KILL", "mp4-sigkill");
}

#[test]
fn engine_interrupted_by_ctrl_c_leaves_a_playable_mp4() {
    killed_recording_plays("INT", "mp4-sigint");
}
