//! Engine-in-the-loop tests of live capture: the `AV1Recorder` node records demo_project while
//! it runs unthrottled, under Xvfb with Mesa (Vulkan through lavapipe, or OpenGL). They run
//! when `GODOT4_BIN` or the release `./dev` fetches exists; otherwise each is skipped and counted (`skip`).
//! Lines starting with FIGURES are the measured numbers the README quotes.

use std::fs;
use std::path::Path;
use std::time::Duration;

use movie_writer_av1_tests::engine::{
    assert_no_loader_errors, godot, godot_run_with_env, our_errors, project, set_window_size, COMPATIBILITY, ENGINE,
};
use movie_writer_av1_tests::{audio, check_recording, probe, with_time_limit, Expected};

const LIVE_SCRIPT: &str = r#"extends SceneTree
# Runs demo_project unthrottled and records it with AV1Recorder; saves a replay on the way.
var rec: Node
var t0 := 0
var replay_done := false
var stopping := false
var seconds := float(OS.get_environment("LIVE_SECONDS"))
var replay_at := float(OS.get_environment("LIVE_REPLAY_AT"))

func _initialize() -> void:
	Engine.max_fps = 0
	DisplayServer.window_set_vsync_mode(DisplayServer.VSYNC_DISABLED)
	root.add_child(load("res://main.tscn").instantiate())
	rec = ClassDB.instantiate("AV1Recorder")
	rec.fps_cap = 30
	rec.replay_seconds = 20.0
	root.add_child(rec)
	rec.replay_saved.connect(func(p, s): print("LIVE_REPLAY_SAVED %s %.3f" % [p, s]))
	rec.error.connect(func(m): print("LIVE_ERROR ", m))
	rec.stopped.connect(func(_p, st): print("LIVE_STOPPED ", JSON.stringify(st)))

func _process(_delta: float) -> bool:
	if t0 == 0:
		# The root enters the tree after _initialize: start on the first frame.
		print("LIVE_START ", rec.start(OS.get_environment("LIVE_OUT")))
		t0 = Time.get_ticks_msec()
	var t := (Time.get_ticks_msec() - t0) / 1000.0
	if replay_at > 0.0 and not replay_done and t >= replay_at:
		replay_done = true
		print("LIVE_SAVE_REPLAY ", rec.save_replay(OS.get_environment("LIVE_REPLAY"), 10.0), " at %.3f s" % t)
	if t >= seconds and not stopping:
		stopping = true
		print("LIVE_STATS ", JSON.stringify(rec.get_stats()), " engine fps ", Engine.get_frames_per_second())
		rec.stop()
		return true
	return false
"#;

/// Runs LIVE_SCRIPT in a fresh copy of demo_project at 640×360; returns the log.
fn run_live(godot: &Path, dir: &Path, renderer: &[&str], env: &[(&str, String)]) -> String {
    fs::write(dir.join("live_test.gd"), LIVE_SCRIPT).unwrap();
    set_window_size(dir, 640, 360);
    let mut args = renderer.to_vec();
    args.extend(["--audio-driver", "Dummy", "--script", "res://live_test.gd"]);
    let log = godot_run_with_env(godot, dir, &args, true, env);
    assert_no_loader_errors(&log);
    assert!(log.contains("LIVE_START 0"), "AV1Recorder.start failed");
    assert!(!log.contains("LIVE_ERROR"), "AV1Recorder reported an error");
    assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
    log
}

fn live_expected() -> Expected {
    Expected {
        live: true,
        browser: true,
        ..Expected::unknown_source(640, 360, 30, None)
    }
}

/// 60 s under Forward+ (Vulkan on lavapipe) while the game runs unthrottled: the file passes the
/// Movie Maker checks, a 10 s replay saved at 40 s starts with a keyframe and lasts 10 s plus
/// at most one keyframe interval, and the main recording has no gap where the replay was saved.
#[test]
fn live_recording_on_vulkan_with_a_replay_saved_mid_way() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let dir = project(&godot, "live-vulkan", true);
        let (out, replay) = (dir.join("live.webm"), dir.join("replay_10s.webm"));
        let log = run_live(
            &godot,
            &dir,
            &["--rendering-method", "forward_plus", "--rendering-driver", "vulkan"],
            &[
                ("LIVE_SECONDS", "60".into()),
                ("LIVE_REPLAY_AT", "40".into()),
                ("LIVE_OUT", out.display().to_string()),
                ("LIVE_REPLAY", replay.display().to_string()),
            ],
        );
        assert!(
            log.contains("colour conversion on the GPU"),
            "the GPU path was not used"
        );
        for line in log
            .lines()
            .filter(|l| l.starts_with("LIVE_") || l.starts_with("AV1Recorder:"))
        {
            println!("FIGURES {line}");
        }
        assert!(log.contains("LIVE_REPLAY_SAVED"), "no replay_saved signal");

        let report = check_recording(&out, &Expected { ..live_expected() }).unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        report.assert_ok();
        assert!(
            report.video_duration_s() > 55.0,
            "60 s recorded as {} s",
            report.video_duration_s()
        );
        // Godot's Dummy audio driver (no sound card here) mixes slower than real time, so the
        // recorder pads the gaps with silence to keep sync; the tone is measured in 0.25 s
        // windows, most of which hold no gap.
        let pcm = audio::decode_audio(&out, Duration::from_secs(120)).unwrap();
        let left = pcm.left();
        let window = audio::SAMPLE_RATE as usize / 4;
        let mut freqs: Vec<f64> = (2..55)
            .filter_map(|s| audio::measure_tone(&left[s * 48_000..s * 48_000 + window], audio::SAMPLE_RATE))
            .map(|t| t.frequency_hz)
            .collect();
        freqs.sort_by(f64::total_cmp);
        let median = freqs.get(freqs.len() / 2).copied().unwrap_or(0.0);
        println!(
            "FIGURES tone: median {median:.2} Hz over {} windows of 0.25 s",
            freqs.len()
        );
        assert!((median - 440.0).abs() < 3.0, "tone at {median} Hz");
        let packets = probe::video_packets(&out).unwrap();
        let gaps: Vec<i64> = packets.windows(2).map(|w| w[1].pts - w[0].pts).collect();
        let worst = gaps.iter().copied().max().unwrap_or(0);
        let keys: Vec<i64> = packets.iter().filter(|p| p.keyframe).map(|p| p.pts).collect();
        let key_gap = keys.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0) as f64 / 1000.0;
        println!(
            "FIGURES main file: {} frames, {:.1} fps average, largest gap {worst} ms, keyframes every {key_gap:.2} s at most",
            packets.len(),
            packets.len() as f64 / report.video_duration_s()
        );
        assert!(worst < 1000, "the main recording has a gap of {worst} ms");

        let rp = probe::video_packets(&replay).unwrap();
        assert!(
            rp[0].keyframe && rp[0].pts == 0,
            "the replay starts with a keyframe: {:?}",
            rp[0]
        );
        let report = check_recording(&replay, &live_expected()).unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        report.assert_ok();
        let secs = report.video_duration_s();
        println!("FIGURES replay of 10 s: {secs:.3} s (keyframe interval {key_gap:.2} s)");
        assert!(
            (9.9..=10.0 + key_gap + 0.1).contains(&secs),
            "a 10 s replay lasts {secs:.3} s with keyframes {key_gap:.2} s apart"
        );
    });
}

/// Under Compatibility (no RenderingDevice) the node records through the CPU path and says so
/// once. It records into `.mp4` (AAC) at `output_size` 320x180 (half the viewport, scaled as
/// frames are read back), and saves a replay from it as `.mkv`.
#[test]
fn live_recording_on_compatibility_uses_the_cpu_path() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(600), move || {
        let dir = project(&godot, "live-opengl3", true);
        fs::write(
            dir.join("override.cfg"),
            "[editor]\nmovie_writer/av1/output_size=\"320x180\"\n",
        )
        .unwrap();
        let (out, replay) = (dir.join("live.mp4"), dir.join("replay.mkv"));
        let log = run_live(
            &godot,
            &dir,
            &COMPATIBILITY,
            &[
                ("LIVE_SECONDS", "8".into()),
                ("LIVE_REPLAY_AT", "6".into()),
                ("LIVE_OUT", out.display().to_string()),
                ("LIVE_REPLAY", replay.display().to_string()),
            ],
        );
        assert!(log.contains("LIVE_REPLAY_SAVED"), "the replay was not saved");
        let notes = log.matches("frames are read back and converted on the CPU").count();
        assert_eq!(notes, 1, "the CPU fallback is logged exactly once");
        assert!(log.contains("colour conversion on the CPU"));
        assert!(
            log.contains("AV1Recorder: recording 320x180"),
            "output_size was not used"
        );
        for line in log
            .lines()
            .filter(|l| l.starts_with("LIVE_STATS") || l.starts_with("AV1Recorder: stopped"))
        {
            println!("FIGURES {line}");
        }
        // Chromium plays the MP4; Matroska is not a browser format.
        for (path, browser) in [(&out, true), (&replay, false)] {
            // The replay holds the recording's packets: AAC in Matroska too.
            let expected = Expected {
                browser,
                width: 320,
                height: 180,
                audio_codec: Some("aac"),
                ..live_expected()
            };
            let report = check_recording(path, &expected).unwrap_or_else(|e| panic!("{e}"));
            println!("{report}");
            report.assert_ok();
        }
    });
}

const CONVERT_SCRIPT: &str = r#"extends SceneTree
# Converts the seeded images the test wrote with AV1Recorder's GPU shader.
func _initialize() -> void:
	var dir := OS.get_environment("CONVERT_DIR")
	for size in OS.get_environment("CONVERT_SIZES").split(","):
		var wh := size.split("x")
		var data := FileAccess.get_file_as_bytes(dir + "/" + size + ".rgba")
		var img := Image.create_from_data(int(wh[0]), int(wh[1]), false, Image.FORMAT_RGBA8, data)
		var yuv: PackedByteArray = ClassDB.class_call_static("AV1Recorder", "convert_on_gpu", img)
		var f := FileAccess.open(dir + "/" + size + ".i420", FileAccess.WRITE)
		f.store_buffer(yuv)
		f.close()
		print("CONVERTED ", size, " ", yuv.size())
	quit()
"#;

/// The GPU conversion (compute shader on a Vulkan RenderingDevice, lavapipe here) against the
/// core's CPU conversion on seeded images: every sample within ±1.
#[test]
fn gpu_colour_conversion_matches_the_cpu_within_one() {
    use movie_writer_av1_core::color::{rgb_to_i420, I420Buffer};
    use movie_writer_av1_core::{PixelFormat, RgbImage};
    use movie_writer_av1_tools::scene::Rng;

    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(600), move || {
        let dir = project(&godot, "gpu-convert", true);
        let sizes = [(640u32, 360u32), (98, 66), (1280, 720)];
        let mut rng = Rng::new(20261121);
        let images: Vec<Vec<u8>> = sizes
            .iter()
            .map(|&(w, h)| (0..w * h * 4).map(|_| rng.below(256) as u8).collect())
            .collect();
        for (&(w, h), rgba) in sizes.iter().zip(&images) {
            fs::write(dir.join(format!("{w}x{h}.rgba")), rgba).unwrap();
        }
        let names: Vec<String> = sizes.iter().map(|(w, h)| format!("{w}x{h}")).collect();
        fs::write(dir.join("convert_test.gd"), CONVERT_SCRIPT).unwrap();
        let log = godot_run_with_env(
            &godot,
            &dir,
            &["--rendering-driver", "vulkan", "--script", "res://convert_test.gd"],
            true,
            &[
                ("CONVERT_DIR", dir.display().to_string()),
                ("CONVERT_SIZES", names.join(",")),
            ],
        );
        assert_no_loader_errors(&log);
        assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
        for (&(w, h), rgba) in sizes.iter().zip(&images) {
            let gpu = fs::read(dir.join(format!("{w}x{h}.i420"))).unwrap();
            let mut cpu = I420Buffer::new(w, h);
            rgb_to_i420(
                &RgbImage::packed(w, h, PixelFormat::Rgba8, rgba).unwrap(),
                &mut cpu.planes(),
                false,
            );
            let ys = (w as usize).next_multiple_of(8);
            let (cw, ch, cs) = (w as usize / 2, h as usize / 2, ys / 2);
            assert_eq!(gpu.len(), ys * h as usize + 2 * cs * ch, "{w}x{h}: GPU output size");
            let mut worst = 0i32;
            let mut compare = |gpu_plane: &[u8], stride: usize, cpu_plane: &[u8], pw: usize, ph: usize| {
                for y in 0..ph {
                    for x in 0..pw {
                        worst =
                            worst.max((i32::from(gpu_plane[y * stride + x]) - i32::from(cpu_plane[y * pw + x])).abs());
                    }
                }
            };
            let (gy, rest) = gpu.split_at(ys * h as usize);
            let (gu, gv) = rest.split_at(cs * ch);
            compare(gy, ys, &cpu.y, w as usize, h as usize);
            compare(gu, cs, &cpu.u, cw, ch);
            compare(gv, cs, &cpu.v, cw, ch);
            println!("FIGURES GPU vs CPU conversion {w}x{h}: largest difference {worst} code value(s)");
            assert!(worst <= 1, "{w}x{h}: GPU and CPU differ by {worst}");
        }
    });
}
