//! One recording of the `AV1Recorder` node, from `start` to `stop`: the recording's settings
//! (the node's properties over the Project Settings), the core's `LiveRecorder` and the frame
//! hook that drives it, replay requests, what the encode side reports back, the figures of
//! `get_stats`, and the end. Apart from the node, which only turns calls into sessions and
//! outcomes into signals, and from the per-frame grab (`capture.rs`).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use godot::classes::{RenderingServer, Viewport};
use godot::prelude::*;
use movie_writer_av1_core::pipeline::MAX_REPLAY_MB;
use movie_writer_av1_core::{
    BackendPreference, ConfigError, Error, LiveConfig, LiveRecorder, RecordingConfig, RecordingStats, ReplaySaved,
};

use super::capture::{self, Capture, Shared};
use crate::{settings, writer};

/// Largest nominal rate: frames above the cap are skipped, not counted as dropped.
const MAX_FPS_CAP: i32 = 240;

/// What the node's properties ask of a recording.
pub(super) struct Request<'a> {
    /// Where to write; empty keeps only the replay buffer.
    pub path: &'a str,
    pub resolution_scale: f64,
    pub fps_cap: i32,
    pub backend: &'a GString,
    pub replay_seconds: f64,
    pub replay_max_mb: i32,
    pub capture_audio: bool,
}

/// How a session ended.
pub(super) struct Ended {
    /// The session's figures (see [`Session::stats`]).
    pub stats: VarDictionary,
    pub path: Option<PathBuf>,
    pub result: Result<RecordingStats, Error>,
    /// Replays that finished while the recording ended.
    pub replays: Vec<ReplaySaved>,
}

pub(super) struct Session {
    shared: Rc<RefCell<Shared>>,
    path: Option<PathBuf>,
    started: Instant,
    capture: Capture,
    main_thread: MainThreadTime,
    on_frame: Callable,
}

/// The main thread's cost of recording, frame by frame.
#[derive(Default)]
struct MainThreadTime {
    frames_seen: u64,
    total: Duration,
    max: Duration,
}

impl Session {
    /// Starts recording `viewport` as `request` asks, with `on_frame` hooked to every drawn
    /// frame.
    pub fn start(request: &Request<'_>, viewport: &Gd<Viewport>, on_frame: Callable) -> Result<Self, Error> {
        let size = viewport.get_texture().map(|t| t.get_size()).unwrap_or_default();
        let scale = resolution_scale(request.resolution_scale)?;
        let replay_max_bytes = replay_max_bytes(request.replay_max_mb)?;
        // 4:2:0 needs even sizes; the GPU converter works on them.
        let even = |v: f64| (v as u32 & !1).max(2);
        let (mut width, mut height) = (even(f64::from(size.x) * scale), even(f64::from(size.y) * scale));
        let fps_cap = request.fps_cap.clamp(0, MAX_FPS_CAP);
        let nominal = if fps_cap == 0 { 60 } else { fps_cap as u32 };
        let write_file = !request.path.is_empty();
        let file = if write_file {
            writer::resolve_path(request.path)
        } else {
            PathBuf::from("replay.webm")
        };
        let mut recording = RecordingConfig::new(&file, width, height, nominal);
        settings::apply_project_settings(&mut recording)?;
        // A render range is Movie Maker's: live capture records what happens, as it happens.
        recording.range = Default::default();
        // Live frames come at no fixed rate, so there are no groups to average: motion blur is
        // Movie Maker's only.
        recording.motion_blur = Default::default();
        // An output size replaces resolution_scale: the frames are scaled to it where they are
        // converted (bilinearly on the GPU, or by the engine on the CPU path), so they reach
        // the encoder at that size.
        if let Some((w, h)) = recording.output_size.take() {
            let (vw, vh) = (f64::from(size.x).max(1.0), f64::from(size.y).max(1.0));
            if ((f64::from(w) / f64::from(h)) / (vw / vh) - 1.0).abs() > 0.01 {
                return Err(ConfigError::new(
                    "editor/movie_writer/av1/output_size",
                    format!("{w}x{h}"),
                    format!(
                        "for AV1Recorder, a size of the viewport's aspect ratio ({}x{}), or \"\" (live capture scales, it does not letterbox)",
                        size.x, size.y
                    ),
                )
                .into());
            }
            (width, height) = (even(f64::from(w)), even(f64::from(h)));
            (recording.video.width, recording.video.height) = (width, height);
        }
        // Opus takes 48 kHz; the core resamples from whatever the audio device mixes at.
        recording.audio.sample_rate = 48_000;
        recording.audio.channels = 2;
        if !request.backend.is_empty() {
            recording.backend = BackendPreference::from_id(&request.backend.to_string()).ok_or_else(|| {
                ConfigError::new(
                    "AV1Recorder.backend",
                    request.backend,
                    "empty (project setting), auto, hardware, software, or a backend id",
                )
            })?;
        }
        let recorder = LiveRecorder::start(LiveConfig {
            recording,
            write_file,
            replay_seconds: request.replay_seconds,
            replay_max_bytes,
        })?;
        if let Some(note) = recorder.fallback_note() {
            godot_print!("AV1Recorder: {note}");
        }
        let converter = capture::gpu_converter(&recorder, width, height);
        godot_print!(
            "AV1Recorder: recording {width}x{height} (up to {} fps) with {}, colour conversion on the {}{}",
            if fps_cap == 0 {
                "unlimited".to_string()
            } else {
                fps_cap.to_string()
            },
            recorder.backend(),
            if converter.is_some() { "GPU" } else { "CPU" },
            if write_file {
                format!(", to {}", file.display())
            } else {
                ", replay buffer only".into()
            },
        );
        RenderingServer::singleton().connect("frame_post_draw", &on_frame);
        let period = if fps_cap == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(1.0 / f64::from(fps_cap))
        };
        Ok(Session {
            shared: Rc::new(RefCell::new(Shared {
                recorder: Some(recorder),
                in_flight: 0,
                callback_time: Duration::ZERO,
                error: None,
            })),
            path: write_file.then_some(file),
            started: Instant::now(),
            capture: Capture::new((width, height), period, converter, request.capture_audio),
            main_thread: MainThreadTime::default(),
            on_frame,
        })
    }

    /// The file being written; `None` for a replay buffer only.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Grabs the frame drawn at `now` (see [`Capture::frame`]).
    pub fn capture(&mut self, viewport: Option<Gd<Viewport>>, now: Instant) -> Result<(), Error> {
        let at = now.duration_since(self.started);
        self.capture.frame(&self.shared, viewport, now, at)
    }

    /// Counts one drawn frame that cost the main thread `spent`.
    pub fn count_frame(&mut self, spent: Duration) {
        let t = &mut self.main_thread;
        t.frames_seen += 1;
        t.total += spent;
        t.max = t.max.max(spent);
    }

    pub fn save_replay(&self, target: PathBuf, seconds: f64) -> Result<(), Error> {
        match self.shared.borrow_mut().recorder.as_mut() {
            Some(recorder) => recorder.save_replay(target, seconds),
            None => Err(Error::Usage("the recording has stopped after an error".into())),
        }
    }

    /// What the encode side finished since the last frame: an error from the read-back
    /// callbacks, else the saved replays (warnings are logged here).
    pub fn poll(&self) -> Result<Vec<ReplaySaved>, Error> {
        let mut shared = self.shared.borrow_mut();
        if let Some(e) = shared.error.take() {
            return Err(e);
        }
        let Some(recorder) = shared.recorder.as_mut() else {
            return Ok(Vec::new());
        };
        for warning in recorder.take_warnings() {
            godot_warn!("AV1Recorder: {warning}");
        }
        Ok(recorder.take_replays_saved())
    }

    /// Unhooks the session from the frame loop and finalizes the file.
    pub fn finish(self) -> Ended {
        RenderingServer::singleton().disconnect("frame_post_draw", &self.on_frame);
        let stats = self.stats();
        // Read-backs still in flight find no recorder and are dropped.
        let recorder = self.shared.borrow_mut().recorder.take();
        let (result, replays) = match recorder {
            Some(recorder) => recorder.finish(),
            None => (Err(Error::Usage("the recording had already ended".into())), Vec::new()),
        };
        Ended {
            stats,
            path: self.path,
            result,
            replays,
        }
    }

    /// `recording`, `backend`, `gpu_conversion`, `frames_seen`, `frames_queued`,
    /// `frames_dropped`, `audio_blocks_dropped`, `in_flight`, `main_thread_ms_mean`, `main_thread_ms_max`.
    pub fn stats(&self) -> VarDictionary {
        let shared = self.shared.borrow();
        let live = shared.recorder.as_ref().map(|r| r.stats()).unwrap_or_default();
        let t = &self.main_thread;
        let frames = t.frames_seen.max(1) as f64;
        let total = t.total + shared.callback_time;
        vdict! {
            "recording" => shared.recorder.is_some(),
            "backend" => shared.recorder.as_ref().map(|r| r.backend().id()).unwrap_or_default(),
            "gpu_conversion" => self.capture.on_gpu(),
            "frames_seen" => t.frames_seen as i64,
            "frames_queued" => live.frames_queued as i64,
            "frames_dropped" => live.frames_dropped as i64,
            "audio_blocks_dropped" => live.audio_blocks_dropped as i64,
            "in_flight" => shared.in_flight as i64,
            "main_thread_ms_mean" => total.as_secs_f64() * 1000.0 / frames,
            "main_thread_ms_max" => t.max.as_secs_f64() * 1000.0,
        }
    }
}

/// `AV1Recorder.resolution_scale`, refused outside its range (NaN included: it passes a clamp
/// and would record 2x2).
fn resolution_scale(scale: f64) -> Result<f64, ConfigError> {
    if (0.1..=1.0).contains(&scale) {
        Ok(scale)
    } else {
        Err(ConfigError::new("AV1Recorder.resolution_scale", scale, "0.1 to 1"))
    }
}

/// `AV1Recorder.replay_max_mb` in bytes, refused outside its range.
fn replay_max_bytes(mb: i32) -> Result<u64, ConfigError> {
    u64::try_from(mb)
        .ok()
        .filter(|mb| (1..=MAX_REPLAY_MB).contains(mb))
        .map(|mb| mb << 20)
        .ok_or_else(|| ConfigError::new("AV1Recorder.replay_max_mb", mb, format!("1 to {MAX_REPLAY_MB} (MiB)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolution_scale_outside_its_range_is_refused_nan_included() {
        assert_eq!(resolution_scale(0.5), Ok(0.5));
        for bad in [f64::NAN, f64::INFINITY, 0.0, 0.05, 1.5] {
            let e = resolution_scale(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("AV1Recorder.resolution_scale = ") && e.ends_with("0.1 to 1"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn replay_max_mb_is_bounded_in_both_directions() {
        assert_eq!(replay_max_bytes(512), Ok(512 << 20));
        assert_eq!(replay_max_bytes(65536), Ok(65536 << 20));
        for bad in [i32::MAX, 65537, 0, -1] {
            let e = replay_max_bytes(bad).unwrap_err().to_string();
            assert!(
                e.contains("replay_max_mb") && e.contains("1 to 65536 (MiB)"),
                "{bad}: {e}"
            );
        }
    }
}
