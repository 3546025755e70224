//! Engine-in-the-loop tests: the real Godot binary records `demo_project` through Movie Maker
//! with the built extension, under Xvfb with Mesa. They run when `GODOT4_BIN` or
//! /opt/godot/godot exists and otherwise print one SKIPPED line.
//!
//! Each run imports the project first (so the extension list exists), runs under a hard time
//! limit, and its log is searched for extension-loading errors, errors of ours, and leak
//! reports beyond those of the same run without the addon.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use movie_writer_av1_tests::tool::{describe, run};
use movie_writer_av1_tests::{audio, probe};
use movie_writer_av1_tests::{check_recording, with_time_limit, Expected};

const FRAMES: u64 = 120;
const FPS: u32 = 60;
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// The demo starts its 440 Hz tone on frame 30.
const DEMO_TONE_START_S: f64 = 0.5;

/// Engine runs are heavy (software rendering plus encoding on 2 cores): one at a time.
static ENGINE: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn godot() -> Option<PathBuf> {
    let path = std::env::var_os("GODOT4_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/opt/godot/godot".into());
    if path.is_file() {
        Some(path)
    } else {
        println!(
            "SKIPPED engine tests: no Godot binary at {} (set GODOT4_BIN to run them)",
            path.display()
        );
        None
    }
}

/// A fresh copy of demo_project (addon included, symlink resolved), optionally without the
/// addon, imported and ready to run.
fn project(godot: &Path, name: &str, with_addon: bool) -> PathBuf {
    let lib = repo().join("addons/movie_writer_av1/bin/libmovie_writer_av1.linux.x86_64.so");
    assert!(lib.is_file(), "{} is missing: run `./dev build` first", lib.display());
    let dir = std::env::temp_dir().join(format!("mwav1-engine-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let status = Command::new("cp")
        .arg("-rL")
        .arg(repo().join("demo_project"))
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(status.success());
    let _ = fs::remove_dir_all(dir.join(".godot"));
    if !with_addon {
        fs::remove_dir_all(dir.join("addons")).unwrap();
        let settings = fs::read_to_string(dir.join("project.godot")).unwrap();
        let without_plugin = settings.split("[editor_plugins]").next().unwrap().to_string();
        fs::write(dir.join("project.godot"), without_plugin).unwrap();
    }
    let log = godot_run(godot, &dir, &["--headless", "--import"], false);
    assert_no_loader_errors(&log);
    dir
}

/// Runs Godot in `project` and returns everything it printed.
fn godot_run(godot: &Path, project: &Path, args: &[&str], display: bool) -> String {
    let mut cmd = if display {
        let mut c = Command::new("xvfb-run");
        c.args(["-a", "-s", "-screen 0 1280x720x24"]).arg(godot);
        c
    } else {
        Command::new(godot)
    };
    cmd.arg("--path").arg(project).args(args);
    let done = run(&mut cmd, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    let log = format!("{}{}", String::from_utf8_lossy(&done.stdout), done.stderr);
    println!("--- {}\n{log}", describe(&cmd));
    log
}

fn record_args<'a>(out: &'a str, renderer: &'a [&'a str], frames: &'a str) -> Vec<&'a str> {
    let mut args = renderer.to_vec();
    args.extend(["--write-movie", out, "--fixed-fps", "60", "--quit-after", frames]);
    args
}

fn assert_no_loader_errors(log: &str) {
    for bad in [
        "Can't open dynamic library",
        "Failed to load GDExtension",
        "GDExtension dynamic library not found",
        "No GDExtension library found",
        "Can't find movie writer",
        "panicked",
    ] {
        assert!(!log.contains(bad), "the log has '{bad}'");
    }
}

fn leak_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("leaked at exit") || l.contains("still in use at exit") || l.contains("Leaked instance"))
        .map(str::to_string)
        .collect()
}

/// Lines that report an error (Godot prints them as "ERROR: …" / "SCRIPT ERROR: …").
fn error_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("ERROR:")).collect()
}

/// Error lines of ours: the writer's messages and anything naming the extension.
fn our_errors(log: &str) -> Vec<&str> {
    error_lines(log)
        .into_iter()
        .filter(|l| l.contains("MovieWriterAV1") || l.contains("movie_writer_av1") || l.contains("godot-rust"))
        .collect()
}

fn record_demo(renderer: &'static [&'static str], label: &'static str) {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(1200), move || {
        let frames = FRAMES.to_string();
        // The baseline: the same project and run without the addon, recording with Godot's
        // own MJPEG writer, for the leak report this engine prints anyway.
        let base = project(&godot, &format!("{label}-base"), false);
        let base_out = base.join("base.avi");
        let base_log = godot_run(
            &godot,
            &base,
            &record_args(base_out.to_str().unwrap(), renderer, &frames),
            true,
        );

        let dir = project(&godot, label, true);
        let out = dir.join("movie.webm");
        let log = godot_run(
            &godot,
            &dir,
            &record_args(out.to_str().unwrap(), renderer, &frames),
            true,
        );
        assert_no_loader_errors(&log);
        assert!(
            log.contains("MovieWriterAV1: recording 1280x720 at 60 fps"),
            "the writer did not start"
        );
        assert!(
            log.contains("MovieWriterAV1: wrote"),
            "the writer did not finish the file"
        );
        assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
        // This engine snapshot prints some errors of its own; none may be new with the addon.
        let base_errors = error_lines(&base_log);
        let new: Vec<_> = error_lines(&log)
            .into_iter()
            .filter(|l| !base_errors.contains(l))
            .collect();
        assert!(
            new.is_empty(),
            "error lines the run without the addon does not print: {new:#?}"
        );
        let (leaks, base_leaks) = (leak_lines(&log), leak_lines(&base_log));
        println!("leak lines: with addon {leaks:?}, without {base_leaks:?}");
        assert!(
            leaks.len() <= base_leaks.len(),
            "the addon adds leak reports: {leaks:#?} vs {base_leaks:#?}"
        );

        let mut expected = Expected::unknown_source(1280, 720, FPS, Some(FRAMES));
        expected.browser = true;
        let report = check_recording(&out, &expected).unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        report.assert_ok();
        let tone = report.tone.as_ref().expect("the demo's tone is in the file");
        assert!(
            (tone.frequency_hz - 440.0).abs() < 3.0,
            "tone at {} Hz",
            tone.frequency_hz
        );
        // Movie Maker mixes audio per frame, so the tone can only start on a frame boundary.
        let frame = 1.0 / f64::from(FPS);
        assert!(
            (tone.start_s - DEMO_TONE_START_S).abs() <= frame + 0.005,
            "tone starts at {:.4} s, expected {DEMO_TONE_START_S} s ± one frame",
            tone.start_s
        );
    });
}

#[test]
fn records_demo_with_compatibility_renderer() {
    record_demo(
        &[
            "--rendering-method",
            "gl_compatibility",
            "--rendering-driver",
            "opengl3",
        ],
        "opengl3",
    );
}

#[test]
fn records_demo_with_mobile_renderer_on_lavapipe() {
    record_demo(
        &["--rendering-method", "mobile", "--rendering-driver", "vulkan"],
        "mobile",
    );
}

#[test]
fn records_demo_with_vulkan_renderer_on_lavapipe() {
    record_demo(
        &["--rendering-method", "forward_plus", "--rendering-driver", "vulkan"],
        "vulkan",
    );
}

/// Sum of the video packets' sizes, as ffprobe reads them.
fn video_bytes(path: &Path) -> u64 {
    let packets = probe::video_packets(path).unwrap_or_else(|e| panic!("{e}"));
    packets.iter().map(|p| p.size).sum()
}

const QUERY_SCRIPT: &str = r#"extends SceneTree
# Calls every MovieWriterAV1 query and checks keys and types.
func _init() -> void:
	var problems := PackedStringArray()
	var hw = ClassDB.class_call_static("MovieWriterAV1", "is_hardware_encoding_supported")
	if typeof(hw) != TYPE_BOOL: problems.append("is_hardware_encoding_supported is not a bool")
	for method in ["get_encoding_capabilities", "refresh_encoding_capabilities"]:
		var caps = ClassDB.class_call_static("MovieWriterAV1", method)
		if typeof(caps) != TYPE_DICTIONARY: problems.append(method + " is not a Dictionary"); continue
		if typeof(caps.get("auto_backend")) != TYPE_STRING: problems.append(method + ": auto_backend is not a String")
		var backends = caps.get("backends")
		if typeof(backends) != TYPE_DICTIONARY or backends.is_empty(): problems.append(method + ": no backends"); continue
		if not backends.has(caps["auto_backend"]): problems.append(method + ": auto_backend is not a listed backend")
		var types := {"name": TYPE_STRING, "hardware": TYPE_BOOL, "available": TYPE_BOOL, "reason": TYPE_STRING,
			"version": TYPE_STRING, "max_width": TYPE_INT, "max_height": TYPE_INT,
			"rate_controls": TYPE_PACKED_STRING_ARRAY, "ten_bit": TYPE_BOOL}
		for id in backends:
			for key in types:
				if typeof(backends[id].get(key)) != types[key]: problems.append("%s: %s.%s has the wrong type" % [method, id, key])
			if not backends[id]["available"] and backends[id]["reason"].is_empty(): problems.append(id + " is unavailable without a reason")
		print("CAPABILITIES ", caps)
	var stats = ClassDB.class_call_static("MovieWriterAV1", "get_last_recording_stats")
	if typeof(stats) != TYPE_DICTIONARY or not stats.is_empty(): problems.append("stats before any recording are not an empty Dictionary")
	print("QUERY_RESULT ", "PASS" if problems.is_empty() else "FAIL " + ", ".join(problems))
	quit()
"#;

#[test]
fn gdscript_queries_return_the_documented_keys_and_types() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(600), move || {
        let dir = project(&godot, "queries", true);
        fs::write(dir.join("query_test.gd"), QUERY_SCRIPT).unwrap();
        let log = godot_run(&godot, &dir, &["--headless", "--script", "res://query_test.gd"], false);
        assert_no_loader_errors(&log);
        assert!(our_errors(&log).is_empty());
        assert!(log.contains("QUERY_RESULT PASS"), "queries failed: see the log above");
        assert!(log.contains("\"svt_av1\""), "the software backend is listed");
    });
}

#[test]
fn out_of_range_settings_refuse_to_record_with_the_setting_named() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let dir = project(&godot, "settings", true);
        let out = dir.join("refused.webm");
        let mut checked = 0;
        for s in movie_writer_av1_core::settings::all() {
            use movie_writer_av1_core::settings::Kind;
            let (value, shown) = match &s.kind {
                Kind::Int { max, .. } => (format!("{}", max + 1), format!("{}", max + 1)),
                Kind::Float { max, .. } => (format!("{:.1}", max + 1.0), format!("{}", max + 1.0)),
                Kind::Choice { .. } => ("\"warp_drive\"".into(), "\"warp_drive\"".into()),
            };
            let (section, key) = s.name.split_once('/').unwrap();
            fs::write(dir.join("override.cfg"), format!("[{section}]\n{key}={value}\n")).unwrap();
            let log = godot_run(
                &godot,
                &dir,
                &[
                    "--headless",
                    "--write-movie",
                    out.to_str().unwrap(),
                    "--fixed-fps",
                    "60",
                    "--quit-after",
                    "3",
                ],
                false,
            );
            let expected = format!("{} = {shown} is not allowed", s.name);
            assert!(log.contains(&expected), "no '{expected}' in the log");
            assert!(!out.exists(), "a refused recording left a file");
            assert!(!log.contains("panicked"));
            checked += 1;
        }
        println!("{checked} settings refused out-of-range values with their names");
    });
}

#[test]
fn rate_control_modes_behave_as_set() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let dir = project(&godot, "ratecontrol", true);
        let renderer = [
            "--rendering-method",
            "gl_compatibility",
            "--rendering-driver",
            "opengl3",
        ];
        let mut bitrates = Vec::new();
        for (mode, extra) in [
            ("cbr", "movie_writer/av1/bitrate_kbps=400\n"),
            ("cqp", "movie_writer/video_quality=1.0\n"),
        ] {
            fs::write(
                dir.join("override.cfg"),
                format!("[editor]\nmovie_writer/av1/rate_control=\"{mode}\"\n{extra}"),
            )
            .unwrap();
            let out = dir.join(format!("{mode}.webm"));
            let log = godot_run(
                &godot,
                &dir,
                &record_args(out.to_str().unwrap(), &renderer, "300"),
                true,
            );
            assert!(
                our_errors(&log).is_empty(),
                "errors recording {mode}: {:#?}",
                our_errors(&log)
            );
            let report = check_recording(&out, &Expected::unknown_source(1280, 720, FPS, Some(300))).unwrap();
            report.assert_ok();
            let kbps = video_bytes(&out) as f64 * 8.0 / 1000.0 / report.video_duration_s();
            println!("{mode}: video {kbps:.0} kbit/s");
            bitrates.push(kbps);
        }
        let (cbr, cqp) = (bitrates[0], bitrates[1]);
        // SVT-AV1 1.4.1's CBR (low-delay, marked experimental upstream) overshoots while the
        // first keyframe is paid off, so a short clip lands within ±60 % of the target.
        assert!((200.0..=640.0).contains(&cbr), "CBR at 400 kbit/s gave {cbr:.0} kbit/s");
        assert!(
            cqp > 3.0 * cbr,
            "top-quality CQP ({cqp:.0} kbit/s) should far exceed 400 kbit/s CBR"
        );
    });
}

#[test]
fn editor_starts_without_the_4_6_supported_extensions_error() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(600), move || {
        let dir = project(&godot, "editor", true);
        let log = godot_run(&godot, &dir, &["--editor", "--headless", "--quit-after", "60"], false);
        assert_no_loader_errors(&log);
        assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
        assert!(
            !log.contains("Required virtual method"),
            "4.6's _get_supported_extensions error is back"
        );
    });
}

/// Records the demo with `prefix` (a shell snippet run before exec, e.g. a file-size limit or an
/// environment switch), returning the log and whether the engine exited successfully.
fn record_demo_with(godot: &Path, dir: &Path, out: &Path, prefix: &str) -> (String, bool) {
    let script = format!(
        "{prefix} exec xvfb-run -a -s '-screen 0 1280x720x24' '{}' --path '{}' --rendering-method gl_compatibility \
         --rendering-driver opengl3 --write-movie '{}' --fixed-fps 60 --quit-after 240",
        godot.display(),
        dir.display(),
        out.display()
    );
    let done = run(Command::new("bash").args(["-c", &script]), RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    let log = format!("{}{}", String::from_utf8_lossy(&done.stdout), done.stderr);
    println!("{log}");
    (log, done.status.success())
}

/// The playable part of a failed recording: decodes cleanly and has frames.
fn assert_partial_file_plays(out: &Path) {
    let mut expected = Expected::unknown_source(1280, 720, FPS, None);
    expected.browser = true;
    let report = check_recording(out, &expected).unwrap_or_else(|e| panic!("{e}"));
    println!("{report}");
    let decoded = report.decoded.as_ref().expect("video decoded");
    assert!(decoded.clean() && decoded.frames > 0, "{report}");
    let played = report.playback.as_ref().expect("played in Chromium");
    assert!(played.ended && !played.error_event, "{played:?}");
}

#[test]
fn full_disk_in_the_engine_fails_once_and_the_game_quits_normally() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let dir = project(&godot, "fulldisk", true);
        let out = dir.join("full.webm");
        // A 1 MiB file-size limit stands in for a full disk; SIGXFSZ is ignored so writes fail
        // with EFBIG instead of killing the engine.
        let (log, ok) = record_demo_with(&godot, &dir, &out, "trap '' XFSZ; ulimit -f 1024;");
        assert!(ok, "the engine did not quit normally");
        let ours = our_errors(&log);
        assert_eq!(ours.len(), 1, "one error line: {ours:#?}");
        assert!(
            ours[0].contains(&out.display().to_string()) && ours[0].contains("File too large"),
            "{}",
            ours[0]
        );
        assert!(
            log.contains("Done recording movie"),
            "the engine finished its recording loop"
        );
        assert_partial_file_plays(&out);
    });
}

#[test]
fn encoder_failure_in_the_engine_is_logged_with_the_backend_message() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let dir = project(&godot, "fault", true);
        let out = dir.join("fault.webm");
        let (log, ok) = record_demo_with(&godot, &dir, &out, "export MOVIE_WRITER_AV1_FAIL_AFTER_FRAMES=90;");
        assert!(ok, "the engine did not quit normally");
        let ours = our_errors(&log);
        assert_eq!(ours.len(), 1, "one error line: {ours:#?}");
        assert!(
            ours[0].contains("the SVT-AV1 (software) encoder failed: injected fault after 90 frames"),
            "{}",
            ours[0]
        );
        assert_partial_file_plays(&out);
    });
}

// ---------------------------------------------------------------------------------------------
// Live capture: the AV1Recorder node, while the game runs unthrottled.

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
    let mut cmd = Command::new("xvfb-run");
    cmd.args(["-a", "-s", "-screen 0 1280x720x24"])
        .arg(godot)
        .arg("--path")
        .arg(dir)
        .args(renderer)
        .args([
            "--resolution",
            "640x360",
            "--audio-driver",
            "Dummy",
            "--script",
            "res://live_test.gd",
        ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let done = run(&mut cmd, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    let log = format!("{}{}", String::from_utf8_lossy(&done.stdout), done.stderr);
    println!("--- {}\n{log}", describe(&cmd));
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
/// once.
#[test]
fn live_recording_on_compatibility_uses_the_cpu_path() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(600), move || {
        let dir = project(&godot, "live-opengl3", true);
        let out = dir.join("live.mkv");
        let log = run_live(
            &godot,
            &dir,
            &[
                "--rendering-method",
                "gl_compatibility",
                "--rendering-driver",
                "opengl3",
            ],
            &[
                ("LIVE_SECONDS", "8".into()),
                ("LIVE_REPLAY_AT", "0".into()),
                ("LIVE_OUT", out.display().to_string()),
            ],
        );
        let notes = log.matches("frames are read back and converted on the CPU").count();
        assert_eq!(notes, 1, "the CPU fallback is logged exactly once");
        assert!(log.contains("colour conversion on the CPU"));
        for line in log
            .lines()
            .filter(|l| l.starts_with("LIVE_STATS") || l.starts_with("AV1Recorder: stopped"))
        {
            println!("FIGURES {line}");
        }
        let report = check_recording(
            &out,
            &Expected {
                browser: false,
                ..live_expected()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        report.assert_ok();
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
    use movie_writer_av1_core::scene::Rng;
    use movie_writer_av1_core::{PixelFormat, RgbImage};

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
        let mut cmd = Command::new("xvfb-run");
        cmd.args(["-a", "-s", "-screen 0 1280x720x24"])
            .arg(&godot)
            .arg("--path")
            .arg(&dir)
            .args(["--rendering-driver", "vulkan", "--script", "res://convert_test.gd"])
            .env("CONVERT_DIR", &dir)
            .env("CONVERT_SIZES", names.join(","));
        let done = run(&mut cmd, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
        let log = format!("{}{}", String::from_utf8_lossy(&done.stdout), done.stderr);
        println!("--- {}\n{log}", describe(&cmd));
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
