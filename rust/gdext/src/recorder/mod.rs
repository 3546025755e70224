//! `AV1Recorder`: real-time recording while the game runs at full speed, with a replay buffer.
//!
//! Each drawn frame (RenderingServer's `frame_post_draw`), the main viewport's texture is
//! converted to I420 by a compute shader on the engine's RenderingDevice and read back
//! asynchronously; the read-back's callback, a frame or two later, hands the planes to the
//! core's `LiveRecorder` with the frame's capture time. The game never waits on the GPU or the
//! encoder: a frame whose read-back slots are all busy, or that finds the encoder's queue full,
//! is dropped and counted. The Compatibility renderer has no RenderingDevice, so there each
//! frame is read back on the CPU (`Texture2D.get_image`, which waits for the GPU).
//!
//! This file is the node: the class's exported properties, signals and methods, and the
//! errors and replays it reports. One recording's state is `session.rs`, the per-frame grab
//! `capture.rs`, the Master bus `audio_capture.rs` and the GPU conversion `gpu_convert.rs`.

mod audio_capture;
mod capture;
mod gpu_convert;
mod session;

use std::path::PathBuf;
use std::time::Instant;

use godot::classes::image::Format;
use godot::classes::{INode, Image, Node, RenderingServer, Viewport};
use godot::global::Error as GdError;
use godot::prelude::*;
use movie_writer_av1_core::{Error, RecordingStats};

use crate::errors::{self, Class};
use crate::guard::guarded;
use crate::writer;
use gpu_convert::GpuConverter;
use session::{Ended, Request, Session};

/// Records the game while it runs, as AV1 + Opus in WebM (`.webm`) or Matroska (`.mkv`), and
/// keeps a replay buffer of the last seconds that [method save_replay] writes at any moment.
/// Encoder settings come from Project Settings (Editor > Movie Writer > AV1).
#[derive(GodotClass)]
#[class(base=Node, init)]
pub struct AV1Recorder {
    base: Base<Node>,
    /// Scale of the recorded picture relative to the viewport (0.1 to 1).
    #[export(range = (0.1, 1.0, 0.05))]
    #[init(val = 1.0)]
    resolution_scale: f64,
    /// Most frames recorded per second (frames above it are skipped); 0 records every frame.
    /// Also the rate the encoder budgets for and that sets its keyframe interval.
    #[export(range = (0.0, 240.0, 1.0))]
    #[init(val = 60)]
    fps_cap: i32,
    /// Encoder backend: empty uses the project setting `editor/movie_writer/av1/encoder`;
    /// otherwise one of auto, hardware, software or a backend id (see
    /// [method MovieWriterAV1.get_encoding_capabilities]).
    #[export]
    backend: GString,
    /// Seconds the replay buffer keeps (0 turns it off).
    #[export(range = (0.0, 3600.0, 1.0))]
    #[init(val = 30.0)]
    replay_seconds: f64,
    /// Upper bound of the replay buffer's memory, in MiB.
    #[export(range = (1.0, 65536.0, 1.0))]
    #[init(val = 512)]
    replay_max_mb: i32,
    /// Record the Master bus.
    #[export]
    #[init(val = true)]
    capture_audio: bool,
    session: Option<Session>,
}

#[godot_api]
impl INode for AV1Recorder {
    fn exit_tree(&mut self) {
        if self.session.is_some() {
            self.stop();
        }
    }
}

#[godot_api]
impl AV1Recorder {
    #[signal]
    fn started(path: GString);
    #[signal]
    fn stopped(path: GString, stats: VarDictionary);
    #[signal]
    fn replay_saved(path: GString, seconds: f64);
    #[signal]
    fn error(message: GString);

    /// Starts recording the viewport this node is in to `path` (.webm, .mkv or .mp4; res:// and
    /// user:// work). An empty path keeps only the replay buffer. Returns OK or an error code;
    /// the reason is logged and sent with the `error` signal.
    #[func]
    fn start(&mut self, path: GString) -> GdError {
        if self.session.is_some() {
            return self.report(&Error::Usage("already recording; call stop() first".into()));
        }
        match guarded("AV1Recorder.start", || self.begin(&path.to_string())) {
            Ok(session) => {
                let shown = session
                    .path()
                    .map_or("(replay buffer only)".into(), |p| p.display().to_string());
                self.session = Some(session);
                self.base_mut().emit_signal("started", &[shown.to_variant()]);
                GdError::OK
            }
            Err(e) => self.report(&e),
        }
    }

    /// Stops recording, finishes the file and returns its figures (see [method get_stats]).
    /// A replay still being written is finished first.
    #[func]
    fn stop(&mut self) -> VarDictionary {
        let Some((mut stats, path, result)) = self.end_session() else {
            return VarDictionary::new();
        };
        match result {
            Ok(s) => {
                stats.set("frames", s.frames as i64);
                stats.set("duration_s", s.duration_s);
                stats.set("bytes", s.bytes as i64);
                stats.set("average_bitrate_kbps", s.average_bitrate_kbps);
                stats.set("encode_fps", s.encode_fps);
                stats.set("frames_dropped", s.frames_dropped as i64);
                stats.set("audio_silence_inserted", s.audio_silence_inserted as i64);
                stats.set("audio_blocks_dropped", s.audio_blocks_dropped as i64);
                let path = path.map(|p| p.display().to_string()).unwrap_or_default();
                godot_print!(
                    "AV1Recorder: stopped{}: {} frames in {:.2} s, {} dropped; main thread {:.3} ms per frame on average ({:.3} ms at most)",
                    if path.is_empty() { String::new() } else { format!(", wrote {path}") },
                    s.frames,
                    s.duration_s,
                    s.frames_dropped,
                    stats.get("main_thread_ms_mean").map_or(0.0, |v| v.to::<f64>()),
                    stats.get("main_thread_ms_max").map_or(0.0, |v| v.to::<f64>()),
                );
                self.base_mut()
                    .emit_signal("stopped", &[path.to_variant(), stats.to_variant()]);
            }
            Err(e) => {
                self.report(&e);
            }
        }
        stats
    }

    /// Writes the last `seconds` of the replay buffer to `path` (.webm, .mkv or .mp4) without
    /// interrupting the recording. The file starts at a keyframe, so it can be up to one
    /// keyframe interval longer; `replay_saved` is emitted when it is written.
    #[func]
    fn save_replay(&mut self, path: GString, seconds: f64) -> GdError {
        let Some(session) = &self.session else {
            return self.report(&Error::Usage(
                "save_replay needs a recording: call start() first".into(),
            ));
        };
        let target = writer::resolve_path(&path.to_string());
        match guarded("AV1Recorder.save_replay", || session.save_replay(target, seconds)) {
            Ok(()) => GdError::OK,
            Err(e) => self.report(&e),
        }
    }

    #[func]
    fn is_recording(&self) -> bool {
        self.session.is_some()
    }

    /// While recording: `frames_seen`, `frames_queued`, `frames_dropped`,
    /// `audio_blocks_dropped` (the encode thread was seconds behind: silence in their place),
    /// `in_flight`, `gpu_conversion`, `backend`, `main_thread_ms_mean`, `main_thread_ms_max`.
    #[func]
    fn get_stats(&self) -> VarDictionary {
        self.session.as_ref().map(Session::stats).unwrap_or_default()
    }

    /// Converts an RGBA8 image to I420 (Y, then U, then V; rows padded to a multiple of 8
    /// luma bytes) with the recorder's GPU shader on a local RenderingDevice, and waits for
    /// it. For checking the GPU conversion against the CPU's; empty without a RenderingDevice.
    #[func]
    fn convert_on_gpu(image: Gd<Image>) -> PackedByteArray {
        let Some(rd) = RenderingServer::singleton().create_local_rendering_device() else {
            godot_error!("AV1Recorder: no RenderingDevice (the Compatibility renderer has none)");
            return PackedByteArray::new();
        };
        let mut image = image.duplicate_resource();
        image.convert(Format::RGBA8);
        let (w, h) = (image.get_width() as u32, image.get_height() as u32);
        let converted = GpuConverter::convert_image_now(rd.clone(), w, h, &image.get_data());
        // A local RenderingDevice is a plain Object: freed by hand, after the converter's RIDs.
        rd.free();
        converted.unwrap_or_else(|e| {
            godot_error!("AV1Recorder: {e}");
            PackedByteArray::new()
        })
    }

    /// Called after every drawn frame (RenderingServer's `frame_post_draw`).
    #[func]
    fn on_frame_post_draw(&mut self) {
        let began = Instant::now();
        let polled = guarded("AV1Recorder.poll", || self.poll());
        if let Err(e) = polled.and_then(|()| guarded("AV1Recorder.capture", || self.capture(began))) {
            self.fail(e);
            return;
        }
        if let Some(s) = &mut self.session {
            s.count_frame(began.elapsed());
        }
    }
}

impl AV1Recorder {
    fn begin(&mut self, path: &str) -> Result<Session, Error> {
        let viewport: Gd<Viewport> = self.base().get_viewport().ok_or_else(|| {
            Error::Usage("AV1Recorder must be inside the scene tree to record (add it as a child first)".into())
        })?;
        let on_frame = Callable::from_object_method(&self.to_gd(), "on_frame_post_draw");
        let request = Request {
            path,
            resolution_scale: self.resolution_scale,
            fps_cap: self.fps_cap,
            backend: &self.backend,
            replay_seconds: self.replay_seconds,
            replay_max_mb: self.replay_max_mb,
            capture_audio: self.capture_audio,
        };
        Session::start(&request, &viewport, on_frame)
    }

    /// Hands this frame (and the audio mixed since the last one) to the recorder.
    fn capture(&mut self, now: Instant) -> Result<(), Error> {
        let viewport = self.base().get_viewport();
        match self.session.as_mut() {
            Some(session) => session.capture(viewport, now),
            None => Ok(()),
        }
    }

    /// Emits what the encode side finished since the last frame: saved replays, warnings and
    /// errors from the read-back callbacks.
    fn poll(&mut self) -> Result<(), Error> {
        let Some(session) = &self.session else { return Ok(()) };
        let replays = session.poll()?;
        self.emit_replays(replays);
        Ok(())
    }

    fn emit_replays(&mut self, replays: Vec<movie_writer_av1_core::ReplaySaved>) {
        for r in replays {
            let path = r.path.display().to_string();
            match r.result {
                Ok(seconds) => {
                    godot_print!("AV1Recorder: saved a replay of {seconds:.2} s to {path}");
                    self.base_mut()
                        .emit_signal("replay_saved", &[path.to_variant(), seconds.to_variant()]);
                }
                Err(why) => {
                    let message = format!("AV1Recorder: the replay {path} was not saved: {why}");
                    godot_error!("{message}");
                    self.base_mut().emit_signal("error", &[message.to_variant()]);
                }
            }
        }
    }

    /// A recording error: logged and signalled once; what was written is finalized.
    fn fail(&mut self, e: Error) {
        // The recorder's own copy of the error, from finishing, is not reported again.
        let _ = self.end_session();
        self.report(&e);
    }

    /// Ends the session: unhooks it from the frame loop, finalizes the file and emits the
    /// replays that finished. Returns the session's figures, the file and the recorder's
    /// outcome; `None` when not recording.
    fn end_session(&mut self) -> Option<(VarDictionary, Option<PathBuf>, Result<RecordingStats, Error>)> {
        let session = self.session.take()?;
        let path = session.path().map(PathBuf::from);
        let Ended {
            stats,
            path,
            result,
            replays,
        } = match guarded("AV1Recorder.stop", || Ok(session.finish())) {
            Ok(ended) => ended,
            Err(e) => Ended {
                stats: VarDictionary::new(),
                path,
                result: Err(e),
                replays: Vec::new(),
            },
        };
        self.emit_replays(replays);
        Some((stats, path, result))
    }

    fn report(&mut self, e: &Error) -> GdError {
        let (code, message) = errors::to_godot(e, Class::Recorder);
        godot_error!("{message}");
        self.base_mut().emit_signal("error", &[message.to_variant()]);
        code
    }
}
