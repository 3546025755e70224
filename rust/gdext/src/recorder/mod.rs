//! `AV1Recorder`: real-time recording while the game runs at full speed, with a replay buffer.
//!
//! Each drawn frame (RenderingServer's `frame_post_draw`), the main viewport's texture is
//! converted to I420 by a compute shader on the engine's RenderingDevice and read back
//! asynchronously; the read-back's callback, a frame or two later, hands the planes to the
//! core's `LiveRecorder` with the frame's capture time. The game never waits on the GPU or the
//! encoder: a frame whose read-back slots are all busy, or that finds the encoder's queue full,
//! is dropped and counted. The Compatibility renderer has no RenderingDevice, so there each
//! frame is read back on the CPU (`Texture2D.get_image`, which waits for the GPU).

mod audio_capture;
mod gpu_convert;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use godot::classes::image::{Format, Interpolation};
use godot::classes::{INode, Image, Node, RenderingServer, Viewport};
use godot::global::Error as GdError;
use godot::prelude::*;
use movie_writer_av1_core::{
    BackendPreference, Error, I420Image, LiveConfig, LiveRecorder, PixelFormat, RecordingConfig, RecordingStats,
    RgbImage, VideoFrame,
};

use crate::errors::{self, Class};
use crate::{settings, writer};
use audio_capture::AudioCapture;
use gpu_convert::GpuConverter;

/// Read-backs in flight at once: the engine keeps two frames queued, so three slots let every
/// frame be captured when the GPU keeps up.
const SLOTS: usize = 3;
/// Largest nominal rate: frames above the cap are skipped, not counted as dropped.
const MAX_FPS_CAP: i32 = 240;

/// Said once per run: the Compatibility renderer's CPU path.
static CPU_PATH_NOTED: AtomicBool = AtomicBool::new(false);

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

/// State shared with the read-back callbacks, which run after the frame that asked for them.
struct Shared {
    recorder: Option<LiveRecorder>,
    in_flight: usize,
    /// Main-thread time spent in callbacks (copying the planes into the queue).
    callback_time: Duration,
    error: Option<Error>,
}

struct Session {
    shared: Rc<RefCell<Shared>>,
    path: Option<PathBuf>,
    started: Instant,
    period: Duration,
    /// The recording's size.
    size: (u32, u32),
    /// When the next frame may be captured (the `fps_cap` deadline).
    next_due: Option<Instant>,
    converter: Option<GpuConverter>,
    next_slot: usize,
    audio: Option<AudioCapture>,
    frames_seen: u64,
    frame_time: Duration,
    frame_time_max: Duration,
    on_frame: Callable,
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
        match self.begin(&path.to_string()) {
            Ok(session) => {
                let shown = session
                    .path
                    .as_ref()
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
            return self.report(&Error::Thread(
                "save_replay needs a recording: call start() first".into(),
            ));
        };
        let shared = session.shared.clone();
        let target = writer::resolve_path(&path.to_string());
        let result = match shared.borrow_mut().recorder.as_mut() {
            Some(recorder) => recorder.save_replay(target, seconds),
            None => Err(Error::Usage("the recording has stopped after an error".into())),
        };
        match result {
            Ok(()) => GdError::OK,
            Err(e) => self.report(&e),
        }
    }

    #[func]
    fn is_recording(&self) -> bool {
        self.session.is_some()
    }

    /// While recording: `frames_seen`, `frames_queued`, `frames_dropped`, `in_flight`,
    /// `gpu_conversion`, `backend`, `main_thread_ms_mean`, `main_thread_ms_max`.
    #[func]
    fn get_stats(&self) -> VarDictionary {
        self.session.as_ref().map(session_stats).unwrap_or_default()
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
        let polled = self.poll();
        if let Err(e) = polled.and_then(|()| self.capture(began)) {
            self.fail(e);
            return;
        }
        if let Some(s) = &mut self.session {
            let spent = began.elapsed();
            s.frames_seen += 1;
            s.frame_time += spent;
            s.frame_time_max = s.frame_time_max.max(spent);
        }
    }
}

impl AV1Recorder {
    fn begin(&mut self, path: &str) -> Result<Session, Error> {
        let viewport: Gd<Viewport> = self.base().get_viewport().ok_or_else(|| {
            Error::Usage("AV1Recorder must be inside the scene tree to record (add it as a child first)".into())
        })?;
        let size = viewport.get_texture().map(|t| t.get_size()).unwrap_or_default();
        let scale = self.resolution_scale.clamp(0.1, 1.0);
        // 4:2:0 needs even sizes; the GPU converter works on them.
        let even = |v: f64| (v as u32 & !1).max(2);
        let (mut width, mut height) = (even(f64::from(size.x) * scale), even(f64::from(size.y) * scale));
        let fps_cap = self.fps_cap.clamp(0, MAX_FPS_CAP);
        let nominal = if fps_cap == 0 { 60 } else { fps_cap as u32 };
        let write_file = !path.is_empty();
        let file = if write_file {
            writer::resolve_path(path)
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
                return Err(movie_writer_av1_core::ConfigError::new(
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
        if !self.backend.is_empty() {
            recording.backend = BackendPreference::from_id(&self.backend.to_string()).ok_or_else(|| {
                movie_writer_av1_core::ConfigError::new(
                    "AV1Recorder.backend",
                    &self.backend,
                    "empty (project setting), auto, hardware, software, or a backend id",
                )
            })?;
        }
        let recorder = LiveRecorder::start(LiveConfig {
            recording,
            write_file,
            replay_seconds: self.replay_seconds,
            replay_max_bytes: (self.replay_max_mb.max(1) as u64) << 20,
        })?;
        if let Some(note) = recorder.fallback_note() {
            godot_print!("AV1Recorder: {note}");
        }
        let converter = self.gpu_converter(&recorder, width, height);
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
        let on_frame = Callable::from_object_method(&self.to_gd(), "on_frame_post_draw");
        RenderingServer::singleton().connect("frame_post_draw", &on_frame);
        Ok(Session {
            shared: Rc::new(RefCell::new(Shared {
                recorder: Some(recorder),
                in_flight: 0,
                callback_time: Duration::ZERO,
                error: None,
            })),
            path: write_file.then_some(file),
            started: Instant::now(),
            period: if fps_cap == 0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(1.0 / f64::from(fps_cap))
            },
            size: (width, height),
            next_due: None,
            converter,
            next_slot: 0,
            audio: self
                .capture_audio
                .then(AudioCapture::start)
                .and_then(|a| a.map_err(|why| godot_warn!("AV1Recorder: {why}")).ok()),
            frames_seen: 0,
            frame_time: Duration::ZERO,
            frame_time_max: Duration::ZERO,
            on_frame,
        })
    }

    /// The GPU path where it can work, else `None` with the reason said once.
    fn gpu_converter(&self, recorder: &LiveRecorder, width: u32, height: u32) -> Option<GpuConverter> {
        let reason = if recorder.prefers_rgb() {
            // NVENC converts colour itself: RGBA goes to it unconverted.
            return None;
        } else if !RenderingServer::singleton().is_on_render_thread() {
            "rendering runs on a thread of its own (read-back callbacks would come from that thread)".to_string()
        } else {
            match RenderingServer::singleton().get_rendering_device() {
                None => "the Compatibility renderer has no RenderingDevice".to_string(),
                Some(rd) => match GpuConverter::new(rd, width, height, SLOTS) {
                    Ok(converter) => return Some(converter),
                    Err(e) => e,
                },
            }
        };
        if !CPU_PATH_NOTED.swap(true, Ordering::Relaxed) {
            godot_print!(
                "AV1Recorder: {reason}: frames are read back and converted on the CPU instead (slower: the game waits for each read-back)"
            );
        }
        None
    }

    /// Hands this frame (and the audio mixed since the last one) to the recorder.
    fn capture(&mut self, now: Instant) -> Result<(), Error> {
        let viewport = self.base().get_viewport();
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let at = now.duration_since(session.started);
        // Every frame, with no samples when there is no audio, so the audio keeps up.
        let (samples, rate): (&[f32], u32) = match session.audio.as_mut() {
            Some(audio) => {
                let rate = audio.mix_rate;
                (audio.take(), rate)
            }
            None => (&[], 48_000),
        };
        if let Some(r) = session.shared.borrow_mut().recorder.as_mut() {
            r.push_audio(samples, rate, at)?;
        }
        // The cap keeps a deadline, so the rate holds on average whatever the display's rate.
        if session.next_due.is_some_and(|due| now < due) {
            return Ok(());
        }
        let next = session.next_due.unwrap_or(now) + session.period;
        session.next_due = Some(if next < now { now + session.period } else { next });
        let Some(texture) = viewport.and_then(|v| v.get_texture()) else {
            return Ok(());
        };
        let Some(converter) = session.converter.as_mut() else {
            // CPU path: the engine reads the frame back (and waits for it).
            let Some(mut image) = texture.get_image() else {
                return Ok(());
            };
            if image.get_format() != Format::RGBA8 {
                image.convert(Format::RGBA8);
            }
            // To the recording's size (the scale, and 4:2:0's even sizes), as the GPU path does.
            let (w, h) = (session.size.0 as i32, session.size.1 as i32);
            let (dw, dh) = (image.get_width() - w, image.get_height() - h);
            match (dw, dh) {
                (0, 0) => {}
                // An odd-sized viewport is one pixel larger than the (even) recording: cropped.
                (0..=1, 0..=1) => image.crop(w, h),
                _ => image.resize_ex(w, h).interpolation(Interpolation::BILINEAR).done(),
            }
            let data = image.get_data();
            let frame = RgbImage::packed(
                image.get_width() as u32,
                image.get_height() as u32,
                PixelFormat::Rgba8,
                data.as_slice(),
            )?;
            if let Some(r) = session.shared.borrow_mut().recorder.as_mut() {
                r.push_frame(&VideoFrame::Rgb(frame), at)?;
            }
            return Ok(());
        };
        let mut shared = session.shared.borrow_mut();
        if shared.in_flight >= SLOTS {
            if let Some(r) = shared.recorder.as_mut() {
                r.count_dropped();
            }
            return Ok(());
        }
        let rd_texture = RenderingServer::singleton().texture_get_rd_texture(texture.get_rid());
        let slot = session.next_slot;
        let buffer = converter.convert(rd_texture, slot).map_err(Error::Frame)?;
        session.next_slot = (slot + 1) % SLOTS;
        shared.in_flight += 1;
        drop(shared);
        let callback = readback_callback(session.shared.clone(), converter, at);
        if let Err(e) = converter.read_back(buffer, &callback) {
            session.shared.borrow_mut().in_flight -= 1;
            return Err(Error::Frame(e));
        }
        Ok(())
    }

    /// Emits what the encode side finished since the last frame: saved replays, warnings and
    /// errors from the read-back callbacks.
    fn poll(&mut self) -> Result<(), Error> {
        let Some(session) = &self.session else { return Ok(()) };
        let shared = session.shared.clone();
        let mut shared = shared.borrow_mut();
        if let Some(e) = shared.error.take() {
            return Err(e);
        }
        let Some(recorder) = shared.recorder.as_mut() else {
            return Ok(());
        };
        for warning in recorder.take_warnings() {
            godot_warn!("AV1Recorder: {warning}");
        }
        let replays = recorder.take_replays_saved();
        drop(shared);
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
        RenderingServer::singleton().disconnect("frame_post_draw", &session.on_frame);
        let stats = session_stats(&session);
        // Read-backs still in flight find no recorder and are dropped.
        let recorder = session.shared.borrow_mut().recorder.take();
        let (result, replays) = match recorder {
            Some(recorder) => recorder.finish(),
            None => (Err(Error::Usage("the recording had already ended".into())), Vec::new()),
        };
        self.emit_replays(replays);
        Some((stats, session.path, result))
    }

    fn report(&mut self, e: &Error) -> GdError {
        let (code, message) = errors::to_godot(e, Class::Recorder);
        godot_error!("{message}");
        self.base_mut().emit_signal("error", &[message.to_variant()]);
        code
    }
}

/// The read-back's completion: queue the planes with the frame's capture time.
fn readback_callback(shared: Rc<RefCell<Shared>>, converter: &GpuConverter, at: Duration) -> Callable {
    let (w, h, ys, uvs) = (
        converter.width,
        converter.height,
        converter.y_stride,
        converter.uv_stride,
    );
    Callable::from_fn("AV1Recorder readback", move |args: &[&Variant]| {
        let began = Instant::now();
        let mut shared = shared.borrow_mut();
        shared.in_flight = shared.in_flight.saturating_sub(1);
        let Some(bytes) = args.first().and_then(|a| a.try_to::<PackedByteArray>().ok()) else {
            return;
        };
        let pushed =
            I420Image::contiguous(w, h, ys, uvs, bytes.as_slice()).and_then(|image| match shared.recorder.as_mut() {
                Some(r) => r.push_frame(&VideoFrame::I420(image), at).map(drop),
                None => Ok(()),
            });
        if let Err(e) = pushed {
            shared.error.get_or_insert(e);
        }
        shared.callback_time += began.elapsed();
    })
}

fn session_stats(s: &Session) -> VarDictionary {
    let shared = s.shared.borrow();
    let live = shared.recorder.as_ref().map(|r| r.stats()).unwrap_or_default();
    let frames = s.frames_seen.max(1) as f64;
    let total = s.frame_time + shared.callback_time;
    vdict! {
        "recording" => shared.recorder.is_some(),
        "backend" => shared.recorder.as_ref().map(|r| r.backend().id()).unwrap_or_default(),
        "gpu_conversion" => s.converter.is_some(),
        "frames_seen" => s.frames_seen as i64,
        "frames_queued" => live.frames_queued as i64,
        "frames_dropped" => live.frames_dropped as i64,
        "in_flight" => shared.in_flight as i64,
        "main_thread_ms_mean" => total.as_secs_f64() * 1000.0 / frames,
        "main_thread_ms_max" => s.frame_time_max.as_secs_f64() * 1000.0,
    }
}
