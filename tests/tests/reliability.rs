//! Reliability: whatever happens to the process, the disk or the input, what was recorded up to
//! then stays playable and the user gets one clear message. Real processes, real signals, a real
//! file-size limit; every file is judged by ffprobe, libdav1d and (for WebM) Chromium.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use movie_writer_av1_core::skip::{current_test, skip, Need};
use movie_writer_av1_core::{backend, BackendPreference, HeldPixels, PixelFormat, Recorder, RecordingConfig, RgbImage};
use movie_writer_av1_tests::tool::run;
use movie_writer_av1_tests::{
    browser, check_recording, decode, fault, memory, mwav1, probe, with_time_limit, Expected, SceneSpec,
};
use movie_writer_av1_tools::scene::TestScene;

const FPS: u32 = 30;

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Decodes every frame with libdav1d (no error allowed) and, for WebM and MP4, plays the file
/// to its end in Chromium. Returns the number of frames decoded.
fn assert_playable(path: &Path) -> u64 {
    let p = probe::ffprobe(path).unwrap_or_else(|e| panic!("{e}"));
    let v = p
        .video
        .first()
        .unwrap_or_else(|| panic!("{}: no video stream", path.display()));
    let decoded = decode::decode_video(path, v.width, v.height, Duration::from_secs(300)).unwrap();
    assert!(
        decoded.clean(),
        "{}: libdav1d reported: {}",
        path.display(),
        decoded.errors
    );
    if path.extension().is_some_and(|e| e == "webm" || e == "mp4") {
        let played = browser::play(path, Duration::from_secs(90)).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            played.ended && !played.error_event,
            "{}: Chromium playback {played:?}",
            path.display()
        );
    }
    decoded.frames
}

/// Starts a long CLI recording, waits until `after` frames are queued, then sends `signal`.
fn interrupted_recording(name: &str, signal: i32, after: u64) -> (PathBuf, u64) {
    let path = out_dir().join(name);
    let _ = fs::remove_file(&path);
    let mut child = Command::new(mwav1::binary())
        .args([
            "record",
            "--size",
            "320x180",
            "--fps",
            &FPS.to_string(),
            "--frames",
            "100000",
            "--out",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let marker = format!("progress: {after} frames queued");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let reached = lines.map_while(Result::ok).any(|l| l == marker);
    assert!(reached, "mwav1 ended before queuing {after} frames");
    // SAFETY: plain kill(2) on the child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let status = child.wait().unwrap();
    assert!(!status.success(), "the signal ended the recording");
    (path, after)
}

fn interrupted_stays_playable(ext: &'static str, signal: i32, label: &'static str) {
    with_time_limit(Duration::from_secs(400), move || {
        let (path, queued) = interrupted_recording(&format!("{label}.{ext}"), signal, 6 * u64::from(FPS));
        let frames = assert_playable(&path);
        println!("{label}.{ext}: {queued} frames queued at the signal, {frames} decodable");
        // Lost: the current cluster (≤ 0.5 s) or MP4 fragment (≤ 0.5 s), the queue and the
        // encoder's look-ahead (≤ 0.5 s).
        assert!(
            frames + 2 * u64::from(FPS) >= queued,
            "only {frames} of {queued} frames survived"
        );
    });
}

#[test]
fn sigkill_mid_recording_leaves_a_playable_webm() {
    interrupted_stays_playable("webm", libc::SIGKILL, "sigkill");
}

#[test]
fn sigkill_mid_recording_leaves_a_playable_mkv() {
    interrupted_stays_playable("mkv", libc::SIGKILL, "sigkill");
}

#[test]
fn ctrl_c_mid_recording_leaves_a_playable_webm() {
    interrupted_stays_playable("webm", libc::SIGINT, "sigint");
}

#[test]
fn ctrl_c_mid_recording_leaves_a_playable_mkv() {
    interrupted_stays_playable("mkv", libc::SIGINT, "sigint");
}

/// An MP4 is written in fragments of at most half a second while recording, so a kill loses at most
/// the fragment being built (plus the queue), like OBS's hybrid MP4.
#[test]
fn sigkill_mid_recording_leaves_a_playable_mp4() {
    interrupted_stays_playable("mp4", libc::SIGKILL, "sigkill");
}

#[test]
fn ctrl_c_mid_recording_leaves_a_playable_mp4() {
    interrupted_stays_playable("mp4", libc::SIGINT, "sigint");
}

#[test]
fn full_disk_fails_once_with_path_and_cause_and_keeps_the_file_playable() {
    full_disk("webm");
}

/// An MP4 is cut back to its last whole fragment, as a Matroska file is to its last cluster.
#[test]
fn full_disk_keeps_an_mp4_playable_up_to_its_last_fragment() {
    full_disk("mp4");
}

fn full_disk(ext: &'static str) {
    with_time_limit(Duration::from_secs(400), move || {
        let path = out_dir().join(format!("full_disk.{ext}"));
        let _ = fs::remove_file(&path);
        // A 1 MiB file-size limit stands in for a full disk (same write failure, no mount needed).
        // SIGXFSZ is ignored so the write fails with EFBIG instead of killing the process.
        let script = format!(
            "trap '' XFSZ; ulimit -f 1024; exec '{}' record --size 320x180 --fps 30 --frames 1800 --out '{}'",
            mwav1::binary().display(),
            path.display()
        );
        let done = run(Command::new("bash").args(["-c", &script]), Duration::from_secs(300)).unwrap();
        assert!(!done.status.success());
        let errors: Vec<&str> = done.stderr.lines().filter(|l| l.starts_with("mwav1:")).collect();
        println!("{}", done.stderr);
        assert_eq!(errors.len(), 1, "one error line");
        assert!(
            errors[0].contains(&path.display().to_string()),
            "names the path: {}",
            errors[0]
        );
        assert!(errors[0].contains("File too large"), "names the cause: {}", errors[0]);
        assert!(fs::metadata(&path).unwrap().len() <= 1024 * 1024);
        let frames = assert_playable(&path);
        println!("full disk ({ext}): {frames} frames kept");
        assert!(frames > 0);
    });
}

fn start_error(path: &Path) -> String {
    let config = RecordingConfig::new(path, 64, 64, 30);
    match Recorder::start(config) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_paths_fail_at_start_with_a_clear_error_and_leave_no_file() {
    with_time_limit(Duration::from_secs(120), || {
        let dir = out_dir().join("bad_paths");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("a_folder.webm")).unwrap();

        let e = start_error(&dir.join("a_folder.webm"));
        assert!(e.contains("is a folder"), "{e}");
        let e = start_error(Path::new("/proc/mwav1-no-such-place/out.webm"));
        assert!(e.contains("cannot write '/proc/mwav1-no-such-place'"), "{e}");
        let e = start_error(&dir.join("movie.avi"));
        assert!(e.contains("must end in .webm, .mkv or .mp4"), "{e}");
        assert!(!dir.join("movie.avi").exists());

        // A missing folder is created, as Godot's own writers do.
        let nested = dir.join("new/sub/folder/out.webm");
        let mut rec = Recorder::start(RecordingConfig::new(&nested, 64, 64, 30)).unwrap();
        let scene = TestScene::new(64, 64, 30, 3);
        let (mut px, mut pcm) = (Vec::new(), Vec::new());
        for i in 0..15 {
            scene.render(i, &mut px);
            scene.audio_block(i, &mut pcm);
            rec.push_frame(&RgbImage::packed(64, 64, PixelFormat::Rgba8, &px).unwrap(), &pcm)
                .unwrap();
        }
        rec.finish().unwrap();
        assert_eq!(assert_playable(&nested), 15);
    });
}

/// The encoder opens on the encode thread, so `Recorder::start` returns before it has: a backend
/// that cannot open fails the recording there. `wait_opened`, every later push and `finish` say
/// why, naming the backend, and the file that `start` created is gone.
#[test]
fn an_encoder_that_cannot_open_fails_the_recording_and_leaves_no_file() {
    let Some(missing) = backend::probes()
        .iter()
        .find(|p| p.kind.is_hardware() && !p.available)
        .cloned()
    else {
        skip(
            &current_test(),
            Need::Backend("any"),
            "every hardware backend probes as available here, so none fails to open",
        );
        return;
    };
    with_time_limit(Duration::from_secs(120), move || {
        let path = out_dir().join("encoder_cannot_open.webm");
        let mut config = RecordingConfig::new(&path, 64, 64, 30);
        config.backend = BackendPreference::Only(missing.kind);
        let mut rec = Recorder::start(config).unwrap();
        let e = rec.wait_opened().unwrap_err().to_string();
        println!("{}: {e}", missing.kind);
        assert!(
            e.contains(missing.kind.id()) || e.contains(&missing.kind.to_string()),
            "names the backend: {e}"
        );
        assert!(
            e.contains(&missing.reason),
            "says why (the probe's reason {:?}): {e}",
            missing.reason
        );
        assert!(!path.exists(), "the file is removed");
        let px = vec![0u8; 64 * 64 * 4];
        let again = rec
            .push_frame(&RgbImage::packed(64, 64, PixelFormat::Rgba8, &px).unwrap(), &[])
            .unwrap_err();
        assert_eq!(again.to_string(), e, "a later push reports the same error");
        assert_eq!(rec.finish().unwrap_err().to_string(), e, "so does finish");
        assert!(!path.exists());
    });
}

/// A take already at the path survives a recording that fails before its first media is on
/// disk: the new file is written beside it (`take1.webm.starting`) and only then moved onto it.
/// Here the encoder cannot open (a hardware backend absent from this machine).
#[test]
fn an_encoder_that_cannot_open_leaves_an_earlier_take_untouched() {
    let Some(missing) = backend::probes()
        .iter()
        .find(|p| p.kind.is_hardware() && !p.available)
        .cloned()
    else {
        skip(
            &current_test(),
            Need::Backend("any"),
            "every hardware backend probes as available here, so none fails to open",
        );
        return;
    };
    with_time_limit(Duration::from_secs(120), move || {
        let dir = out_dir().join("earlier_take_encoder");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("take1.webm");
        let earlier: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(&path, &earlier).unwrap();
        let mut config = RecordingConfig::new(&path, 64, 64, 30);
        config.backend = BackendPreference::Only(missing.kind);
        let mut rec = Recorder::start(config).unwrap();
        let e = rec.wait_opened().unwrap_err().to_string();
        assert!(rec.finish().is_err());
        assert!(
            fs::read(&path).unwrap() == earlier,
            "{e}: the earlier take at {} lost its bytes",
            path.display()
        );
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["take1.webm"], "nothing else is left in the folder");
    });
}

/// The same when the disk is full before the first cluster: the header fits under a 4 KiB
/// file-size limit, the first cluster does not. The CLI reports the full disk, and the earlier
/// take (larger than the limit: only new writes are limited) keeps its bytes.
#[test]
fn a_full_disk_before_the_first_cluster_leaves_an_earlier_take_untouched() {
    with_time_limit(Duration::from_secs(120), || {
        for ext in ["webm", "mp4"] {
            let dir = out_dir().join(format!("earlier_take_full_{ext}"));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("take1.{ext}"));
            let earlier: Vec<u8> = (0..100_000u32).map(|i| (i * 13 % 241) as u8).collect();
            fs::write(&path, &earlier).unwrap();
            let script = format!(
                "trap '' XFSZ; ulimit -f 4; exec '{}' record --size 640x360 --fps 30 --frames 60 --out '{}'",
                mwav1::binary().display(),
                path.display()
            );
            let done = run(Command::new("bash").args(["-c", &script]), Duration::from_secs(60)).unwrap();
            assert!(!done.status.success(), "{ext}: the recording failed");
            assert!(done.stderr.contains("File too large"), "{ext}: {}", done.stderr);
            assert!(
                fs::read(&path).unwrap() == earlier,
                "{ext}: the earlier take at {} lost its bytes",
                path.display()
            );
            let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(names.len(), 1, "{ext}: nothing else is left in the folder: {names:?}");
        }
    });
}

/// A finished recording replaces an earlier take at its path and leaves no staging file.
#[test]
fn a_finished_recording_replaces_an_earlier_take_and_leaves_nothing_beside_it() {
    with_time_limit(Duration::from_secs(120), || {
        let dir = out_dir().join("earlier_take_replaced");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("take1.webm");
        fs::write(&path, b"an earlier take").unwrap();
        let mut rec = Recorder::start(RecordingConfig::new(&path, 64, 64, 30)).unwrap();
        let scene = TestScene::new(64, 64, 30, 3);
        let (mut px, mut pcm) = (Vec::new(), Vec::new());
        for i in 0..15 {
            scene.render(i, &mut px);
            scene.audio_block(i, &mut pcm);
            rec.push_frame(&RgbImage::packed(64, 64, PixelFormat::Rgba8, &px).unwrap(), &pcm)
                .unwrap();
        }
        rec.finish().unwrap();
        assert_eq!(assert_playable(&path), 15);
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["take1.webm"]);
    });
}

/// After "done", a power cut cannot leave an empty or missing file: the finished file and its
/// folder are synced once it has its final name (an MP4's rewrite is synced before it replaces
/// the fragmented file). Read from the system calls the CLI makes (strace).
#[cfg(target_os = "linux")]
#[test]
fn a_finished_recording_is_synced_to_disk_with_its_folder_entry() {
    if !Path::new("/usr/bin/strace").exists() {
        skip(&current_test(), Need::Tool("strace"), "strace is not installed");
        return;
    }
    with_time_limit(Duration::from_secs(240), || {
        for ext in ["webm", "mp4"] {
            let dir = out_dir().join(format!("synced_{ext}"));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("take.{ext}"));
            let log = dir.join("strace.log");
            let done = run(
                Command::new("strace")
                    .args([
                        "-f",
                        "-y",
                        "-s",
                        "4096",
                        "-e",
                        "trace=rename,renameat,renameat2,fsync,fdatasync",
                        "-o",
                    ])
                    .arg(&log)
                    .arg(mwav1::binary())
                    .args(["record", "--size", "160x90", "--fps", "30", "--frames", "30", "--out"])
                    .arg(&path),
                Duration::from_secs(200),
            )
            .unwrap();
            assert!(done.status.success(), "{}", done.stderr);
            let calls = fs::read_to_string(&log).unwrap();
            // With -y, strace shows the path of each descriptor: `fsync(7</dir/take.webm>)`.
            let synced_after = |p: &Path, after: usize| {
                let fd_path = format!("<{}>)", p.display());
                calls
                    .lines()
                    .skip(after)
                    .any(|l| (l.contains("fsync(") || l.contains("fdatasync(")) && l.contains(&fd_path))
            };
            let last_rename = calls
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains("rename") && l.contains(&format!(", \"{}\"", path.display())))
                .map(|(i, _)| i)
                .last()
                .unwrap_or(0);
            if ext == "mp4" {
                // The rewrite with one moov replaces the fragmented file only once on disk.
                let finishing = dir.join("take.mp4.finishing");
                let moved = calls
                    .lines()
                    .position(|l| l.contains("rename") && l.contains(&format!("\"{}\", ", finishing.display())))
                    .expect("the MP4 is rewritten beside itself");
                let fd_path = format!("<{}>)", finishing.display());
                assert!(
                    calls
                        .lines()
                        .take(moved)
                        .any(|l| l.contains("fsync(") && l.contains(&fd_path)),
                    "{} is not synced before it replaces the fragmented file",
                    finishing.display()
                );
            }
            assert!(
                synced_after(&path, last_rename),
                "{ext}: {} is not synced after its last rename",
                path.display()
            );
            assert!(
                synced_after(&dir, last_rename),
                "{ext}: the folder {} is not synced after the rename",
                dir.display()
            );
        }
    });
}

/// The encode thread lowers its own priority before it opens the encoder, so the encoder's
/// threads (which inherit it) yield the CPU to the engine's; the caller's thread keeps its own.
#[cfg(target_os = "linux")]
#[test]
fn the_encoder_threads_run_below_the_engine_and_the_caller_keeps_its_priority() {
    /// (thread id, name, nice) of every thread of this process, from /proc.
    fn threads() -> Vec<(String, String, i64)> {
        fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| {
                let t = t.ok()?.path();
                let stat = fs::read_to_string(t.join("stat")).ok()?;
                let (head, tail) = stat.rsplit_once(") ")?;
                let name = head.split_once(" (")?.1.to_string();
                // Field 19 of stat(5); `tail` starts at field 3.
                let nice = tail.split_whitespace().nth(16)?.parse().ok()?;
                Some((t.file_name()?.to_string_lossy().into_owned(), name, nice))
            })
            .collect()
    }
    with_time_limit(Duration::from_secs(120), || {
        let before: Vec<String> = threads().into_iter().map(|t| t.0).collect();
        let path = out_dir().join("encoder_priority.webm");
        let mut rec = Recorder::start(RecordingConfig::new(&path, 320, 180, 30)).unwrap();
        rec.wait_opened().unwrap();
        let new: Vec<_> = threads().into_iter().filter(|t| !before.contains(&t.0)).collect();
        println!("threads started by the recording (id, name, nice): {new:?}");
        let encode: Vec<_> = new.iter().filter(|t| t.1 == "movie_writer_av").collect();
        assert!(!encode.is_empty(), "the encode thread is among them: {new:?}");
        assert!(
            encode.iter().all(|t| t.2 == 10),
            "the encode thread and the encoder threads it started (named after it) run at nice 10: {new:?}"
        );
        assert!(
            encode.len() >= 2,
            "SVT-AV1 started threads of its own, inheriting the priority: {new:?}"
        );
        let me = threads()
            .into_iter()
            .find(|t| t.0 == format!("{}", this_thread_id()))
            .unwrap();
        assert_eq!(me.2, 0, "the caller's thread keeps its priority: {me:?}");
        rec.finish().unwrap();
    });
}

/// This thread's id, as /proc/self/task names it.
#[cfg(target_os = "linux")]
fn this_thread_id() -> i64 {
    fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .expect("/proc/thread-self names this thread")
}

/// Movie Maker hands over the engine's own frame buffer (`push_held_frame`): the encode thread
/// reads it, but the engine lets only its main thread release it, so every held frame must come
/// back and be released on the pushing thread, exactly once, and the file hold every frame.
#[test]
fn held_frames_are_encoded_and_released_on_the_pushing_thread() {
    struct Tracked {
        bytes: Vec<u8>,
        released_on: Arc<Mutex<Vec<ThreadId>>>,
    }
    impl HeldPixels for Tracked {
        fn bytes(&self) -> &[u8] {
            &self.bytes
        }
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.released_on.lock().unwrap().push(thread::current().id());
        }
    }
    with_time_limit(Duration::from_secs(300), || {
        let path = out_dir().join("held.webm");
        let (w, h, frames) = (320, 180, 40);
        let released_on = Arc::new(Mutex::new(Vec::new()));
        let mut rec = Recorder::start(RecordingConfig::new(&path, w, h, FPS)).unwrap();
        let scene = TestScene::new(w, h, FPS, 5);
        let mut pcm = Vec::new();
        for i in 0..frames {
            let mut bytes = Vec::new();
            scene.render(i, &mut bytes);
            scene.audio_block(i, &mut pcm);
            let held = Box::new(Tracked {
                bytes,
                released_on: released_on.clone(),
            });
            rec.push_held_frame((w, h), PixelFormat::Rgba8, held, &pcm).unwrap();
        }
        assert_eq!(rec.finish().unwrap().frames, frames);
        let released_on = released_on.lock().unwrap();
        assert_eq!(released_on.len(), frames as usize, "each held frame released once");
        assert!(
            released_on.iter().all(|t| *t == thread::current().id()),
            "released off the pushing thread"
        );
        let mut expected = Expected::unknown_source(w, h, FPS, Some(frames));
        expected.browser = true;
        check_recording(&path, &expected).unwrap().assert_ok();
    });
}

#[test]
fn a_window_resized_mid_recording_is_letterboxed_into_the_first_size() {
    with_time_limit(Duration::from_secs(300), || {
        let path = out_dir().join("resized.webm");
        let mut rec = Recorder::start(RecordingConfig::new(&path, 320, 180, FPS)).unwrap();
        let (mut px, mut pcm) = (Vec::new(), Vec::new());
        let sizes = [(320, 180), (400, 300), (1280, 720), (320, 180)];
        let mut warnings = Vec::new();
        for (i, &(w, h)) in sizes.iter().cycle().take(40).enumerate() {
            let scene = TestScene::new(w, h, FPS, 5);
            scene.render(i as u64, &mut px);
            scene.audio_block(i as u64, &mut pcm);
            rec.push_frame(&RgbImage::packed(w, h, PixelFormat::Rgba8, &px).unwrap(), &pcm)
                .unwrap();
            warnings.extend(rec.take_warnings());
        }
        warnings.extend(rec.take_warnings());
        let stats = rec.finish().unwrap();
        assert_eq!(stats.frames_rescaled, 20);
        assert_eq!(warnings.len(), 1, "warned once: {warnings:?}");
        println!("{}", warnings[0]);
        let mut expected = Expected::unknown_source(320, 180, FPS, Some(40));
        expected.browser = true;
        check_recording(&path, &expected).unwrap().assert_ok();
    });
}

#[test]
fn encoder_failure_mid_stream_reports_the_backend_message_and_keeps_the_file() {
    with_time_limit(Duration::from_secs(300), || {
        let path = out_dir().join("encoder_fault.webm");
        fault::assert_built_in(&mwav1::binary());
        let mut cmd = Command::new(mwav1::binary());
        cmd.env(fault::FAULT_ENV, "90")
            // Preset 10: what is lost below is its pipeline (`auto` picks a slower preset for so
            // small a frame, whose look-ahead is longer).
            .args([
                "record", "--size", "320x180", "--fps", "30", "--frames", "300", "--preset", "10", "--out",
            ])
            .arg(&path);
        let done = run(&mut cmd, Duration::from_secs(200)).unwrap();
        assert!(!done.status.success());
        println!("{}", done.stderr);
        assert!(done
            .stderr
            .contains("the SVT-AV1 (software) encoder failed: injected fault after 90 frames"));
        // What is lost: the encoder's look-ahead (15 frames at 30 fps), the open cluster (at
        // most 0.5 s, 15 frames), and the one frame SVT-AV1 2.3 keeps in its pipeline beyond
        // the look-ahead.
        let frames = assert_playable(&path);
        assert!(
            (59..=90).contains(&frames),
            "{frames} frames kept of the 90 before the fault"
        );
    });
}

/// A soak: half an hour of video, where a slow leak would show. Its RSS after the warm-up
/// stays within the bound of `memory::allowed_growth_kib`, the audio is exactly as long as the
/// video, and every frame decodes.
#[test]
#[ignore = "soak, 30 min of video: run it with `cargo test --test reliability -- --ignored thirty_minutes`"]
fn thirty_minutes_at_60_fps_keep_memory_flat_and_audio_exact() {
    with_time_limit(Duration::from_secs(1500), || {
        let path = out_dir().join("thirty_minutes.webm");
        let spec = SceneSpec {
            width: 96,
            height: 64,
            fps: 60,
            frames: 30 * 60 * 60,
            seed: 1,
        };
        let run = mwav1::record(&path, &spec, &["--preset", "12"], Duration::from_secs(1400))
            .unwrap_or_else(|e| panic!("mwav1 record {}: {e}", path.display()));
        println!("{}", run.stdout);
        assert!(run.stdout.contains(&format!("done: {} frames", spec.frames)));
        assert!(
            run.stdout
                .contains(&format!("audio samples {}", spec.frames * 48_000 / 60)),
            "audio samples == duration × 48 kHz"
        );
        memory::assert_flat(&run.rss_samples, &spec);
        let report = check_recording(&path, &Expected::unknown_source(96, 64, 60, Some(spec.frames))).unwrap();
        println!("{report}");
        report.assert_ok();
    });
}

#[test]
fn the_smallest_and_largest_frame_sizes_record_and_decode() {
    with_time_limit(Duration::from_secs(600), || {
        for (w, h) in [(1u32, 1u32), (8192, 4320)] {
            let path = out_dir().join(format!("size_{w}x{h}.webm"));
            let mut cmd = Command::new(mwav1::binary());
            cmd.args([
                "record",
                "--size",
                &format!("{w}x{h}"),
                "--fps",
                "30",
                "--frames",
                "3",
                "--out",
            ])
            .arg(&path);
            let done = run(&mut cmd, Duration::from_secs(500)).unwrap();
            let stdout = String::from_utf8_lossy(&done.stdout);
            assert!(done.status.success(), "{w}x{h}: {stdout}{}", done.stderr);
            println!(
                "{w}x{h}: {}",
                stdout
                    .lines()
                    .filter(|l| l.starts_with("done") || l.starts_with("memory"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            let p = probe::ffprobe(&path).unwrap();
            assert_eq!(
                p.video.first().map(|v| (v.width, v.height)),
                Some((w, h)),
                "coded at exactly {w}x{h}"
            );
            assert_eq!(assert_playable(&path), 3);
        }
    });
}

/// Two SVT-AV1 recordings at once in one process at other presets and sizes (two
/// `AV1Recorder`s, or one beside Movie Maker). SVT-AV1 keeps one block-geometry table per
/// process and each encoder rebuilds it when it opens: before the encoders took turns
/// (`backend/svt_geometry.rs`), an open under a running encoder could leave that one looping
/// in its entropy coder. Both recordings must end, and each file passes every check.
#[test]
fn svt_recordings_of_other_presets_at_once_both_end() {
    with_time_limit(Duration::from_secs(180), || {
        let record = |name: &str, size: (u32, u32), preset: u8, frames: u64| {
            let path = out_dir().join(name);
            let mut config = RecordingConfig::new(&path, size.0, size.1, 30);
            config.video.speed_preset = movie_writer_av1_core::config::SpeedPreset::Fixed(preset);
            config.backend = BackendPreference::Only(movie_writer_av1_core::BackendKind::SvtAv1);
            let scene = TestScene::new(size.0, size.1, 30, 3);
            let mut recorder = Recorder::start(config).unwrap();
            let mut pixels = Vec::new();
            let audio = vec![0i32; 1600 * 2];
            for i in 0..frames {
                scene.render(i, &mut pixels);
                let image = RgbImage::packed(size.0, size.1, PixelFormat::Rgba8, &pixels).unwrap();
                recorder.push_frame(&image, &audio).unwrap();
            }
            recorder.finish().unwrap();
            path
        };
        let long = thread::spawn(move || record("geometry_720p_p12.webm", (1280, 720), 12, 150));
        let short: Vec<PathBuf> = (0..4)
            .map(|i| record(&format!("geometry_180p_p7_{i}.webm"), (320, 180), 7, 20))
            .collect();
        let long = long.join().unwrap();
        check_recording(&long, &Expected::unknown_source(1280, 720, 30, Some(150)))
            .unwrap()
            .assert_ok();
        for path in short {
            check_recording(&path, &Expected::unknown_source(320, 180, 30, Some(20)))
                .unwrap()
                .assert_ok();
        }
    });
}
