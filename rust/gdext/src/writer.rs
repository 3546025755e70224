//! `MovieWriterAV1`: Godot's `MovieWriter` interface over the core's `Recorder`.
//!
//! Runs on the engine's main thread and does only cheap work there: hand the frame's buffer
//! (shared, not copied: engine_frame.rs) and a copy of the audio block to the recorder.
//! Everything else happens on the encode thread.
//!
//! With a render range (see `range.rs`) the recorder drops the pre-roll frames and those after
//! the range; once the range's last frame is in, the writer asks the engine to quit, and
//! `write_end` finishes the file as usual.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::time::Instant;

use godot::classes::audio_server::SpeakerMode;
use godot::classes::image::Format;
use godot::classes::{AudioServer, IMovieWriter, Image, MovieWriter, ProjectSettings};
use godot::global::Error as GdError;
use godot::prelude::*;
use godot_core::meta::RawPtr;
use movie_writer_av1_core::{backend, Container, Error, PixelFormat, Recorder, RecordingConfig};

use crate::engine_frame::EngineFrame;
use crate::errors::{self, Class};
use crate::guard::guarded;
use crate::main_thread_time::MainThreadTime;
use crate::progress_line::ProgressLine;
use crate::{capabilities, range, settings};

const MIX_RATE: u32 = 48_000;
const CHANNELS: usize = 2;

/// Records Movie Maker output as AV1 video with Opus audio in WebM (`.webm`) or Matroska
/// (`.mkv`). Godot uses it automatically for movie paths with those extensions, e.g.
/// `godot --write-movie out.webm --fixed-fps 60`.
#[derive(GodotClass)]
#[class(base=MovieWriter, init, tool)]
pub struct MovieWriterAV1 {
    base: Base<MovieWriter>,
    recorder: Option<Recorder>,
    audio_block: usize,
    /// The first error of the current recording; later frames fail quietly so the log shows the
    /// cause once instead of once per frame.
    failed: bool,
    /// The render range is complete and the engine was asked to quit.
    range_done: bool,
    /// The encoder the encode thread opened has been logged.
    announced: bool,
    time: MainThreadTime,
    progress: Option<ProgressLine>,
}

#[godot_api]
impl IMovieWriter for MovieWriterAV1 {
    fn get_audio_mix_rate(&self) -> u32 {
        MIX_RATE
    }

    fn get_audio_speaker_mode(&self) -> SpeakerMode {
        SpeakerMode::STEREO
    }

    fn handles_file(&self, path: GString) -> bool {
        Container::from_path(Path::new(&path.to_string())).is_some()
    }

    /// Bound from 4.7 on; 4.6 asks a script instead (extensions_hint.rs).
    #[cfg(feature = "godot-4-7")]
    fn get_supported_extensions(&self) -> PackedStringArray {
        Container::EXTENSIONS.iter().map(|e| GString::from(*e)).collect()
    }

    fn write_begin(&mut self, movie_size: Vector2i, fps: u32, base_path: GString) -> GdError {
        let started = Instant::now();
        self.recorder = None;
        self.failed = false;
        self.range_done = false;
        self.announced = false;
        let path = resolve_path(&base_path.to_string());
        let begun = guarded("write_begin", || {
            let audio_block = engine_audio_block(fps)?;
            let config = config_from_project(&path, movie_size, fps)?;
            let film = describe_film(&config, fps);
            let progress = ProgressLine::new(started, &config);
            Ok((Recorder::start(config)?, audio_block, film, progress))
        });
        match begun {
            Ok((recorder, audio_block, film, progress)) => {
                // The backend is said once the encode thread has opened it (`announce`).
                godot_print!(
                    "MovieWriterAV1: recording {}x{} at {fps} fps{film} to {}",
                    movie_size.x,
                    movie_size.y,
                    path.display()
                );
                self.audio_block = audio_block;
                self.recorder = Some(recorder);
                self.progress = Some(progress);
                self.time = MainThreadTime::begun(started);
                GdError::OK
            }
            Err(e) => {
                // A chunk of a farm render with bad range arguments must not run on without
                // writing: the engine stops, and its exit code says it failed.
                if matches!(e, Error::Range(_)) {
                    range::quit_engine(1);
                }
                self.fail(&e)
            }
        }
    }

    unsafe fn write_frame_rawptr(
        &mut self,
        frame_image: Option<Gd<Image>>,
        audio_frame_block: RawPtr<*const c_void>,
    ) -> GdError {
        if self.failed {
            return GdError::FAILED;
        }
        let started = Instant::now();
        let Some(recorder) = self.recorder.as_mut() else {
            return GdError::ERR_UNCONFIGURED;
        };
        let Some(image) = frame_image else {
            return self.fail(&Error::Frame("the engine passed no image".into()));
        };
        let ptr = audio_frame_block.ptr() as *const i32;
        let audio: &[i32] = if ptr.is_null() {
            &[]
        } else {
            // SAFETY: the engine passes its mix buffer, filled with `audio_block` int32 samples
            // (see `engine_audio_block`) and valid for the duration of this call.
            unsafe { std::slice::from_raw_parts(ptr, self.audio_block) }
        };
        let result = guarded("write_frame", || {
            let (image, format) = match image.get_format() {
                Format::RGBA8 => (image, PixelFormat::Rgba8),
                Format::RGB8 => (image, PixelFormat::Rgb8),
                // Rare (the engine hands over RGB8/RGBA8); converting a copy keeps it working.
                _ => {
                    let mut copy = image.duplicate_resource();
                    copy.convert(Format::RGBA8);
                    (copy, PixelFormat::Rgba8)
                }
            };
            let size = (image.get_width() as u32, image.get_height() as u32);
            recorder.push_held_frame(size, format, EngineFrame::boxed(image.get_data()), audio)
        });
        for warning in recorder.take_warnings() {
            godot_warn!("MovieWriterAV1: {warning}");
        }
        let range_done = result.is_ok() && !self.range_done && recorder.range_done();
        if let Some(progress) = self.progress.as_mut() {
            progress.frame(recorder.path());
        }
        self.announce();
        if range_done {
            self.range_done = true;
            godot_print!("MovieWriterAV1: the render range is complete; quitting");
            range::quit_engine(0);
        }
        self.time.add_frame(started);
        match result {
            Ok(()) => GdError::OK,
            Err(e) => self.fail(&e),
        }
    }

    fn write_end(&mut self) {
        let started = Instant::now();
        if let Some(mut progress) = self.progress.take() {
            progress.end();
        }
        self.announce();
        let Some(mut recorder) = self.recorder.take() else {
            return;
        };
        let path = recorder.path().to_path_buf();
        let warnings = recorder.take_warnings();
        for warning in warnings {
            godot_warn!("MovieWriterAV1: {warning}");
        }
        let waited = recorder.backpressure_wait();
        let finished = guarded("write_end", || recorder.finish());
        self.time.ended(started, waited);
        godot_print!("MovieWriterAV1: {}", self.time);
        match finished {
            Ok(stats) => {
                godot_print!(
                    "MovieWriterAV1: wrote {} ({} frames, {:.2} s, {} bytes, {:.0} kbit/s, {}, encoder {:.1} fps)",
                    path.display(),
                    stats.frames,
                    stats.duration_s,
                    stats.bytes,
                    stats.average_bitrate_kbps,
                    stats.backend.map(|b| b.to_string()).unwrap_or_default(),
                    stats.encode_fps
                );
                capabilities::store_stats(path.display().to_string(), stats);
            }
            Err(e) => {
                if !self.failed {
                    self.fail(&e);
                }
            }
        }
    }
}

#[godot_api]
impl MovieWriterAV1 {
    /// True when at least one hardware AV1 encoder (NVENC, Vulkan Video, FFmpeg hardware
    /// encoders) is usable on this machine, as the "hardware" setting would use it (so not the
    /// experimental Vulkan Video backend, which only runs when chosen by name). Probed once
    /// per run; see [method refresh_encoding_capabilities].
    #[func]
    fn is_hardware_encoding_supported() -> bool {
        backend::probes()
            .iter()
            .any(|p| p.available && p.kind.is_hardware() && !p.kind.is_experimental())
    }

    /// What each AV1 backend can do here: `{"backends": {id: {name, hardware, experimental,
    /// available, reason, version, max_width, max_height, rate_controls, ten_bit}},
    /// "auto_backend": id}`. `reason` says why a backend is unavailable; `auto_backend` is what
    /// "auto" would use now; "auto" never uses an `experimental` backend (one whose encode path
    /// has not run on real hardware), which records only when chosen by name.
    #[func]
    fn get_encoding_capabilities() -> VarDictionary {
        capabilities::to_dictionary(&backend::probes())
    }

    /// Probes the backends again (after a driver install, say) and returns the new report.
    #[func]
    fn refresh_encoding_capabilities() -> VarDictionary {
        capabilities::to_dictionary(&backend::refresh_probes())
    }

    /// Figures about the last finished recording: path, backend, frames, duration_s, bytes,
    /// average_bitrate_kbps, encode_fps, frames_dropped, frames_rescaled, queue_high_water,
    /// audio_samples. Empty before the first recording ends.
    #[func]
    fn get_last_recording_stats() -> VarDictionary {
        capabilities::last_stats()
    }

    /// The render range this run records: `{active, start, end, preroll, seek_frame}`, from
    /// `editor/movie_writer/av1/render_range` and `render_preroll`, overridden by the arguments
    /// after `--` (`--movie-range=START:END`, `--movie-preroll=N`). A seekable scene calls it at
    /// startup and jumps to frame `seek_frame` (= start − preroll): the first frame Movie Maker
    /// renders. `active` is false (and the numbers 0) without a range, and when the arguments
    /// are invalid; the error is then logged, and the writer refuses to record.
    #[func]
    fn get_render_range() -> VarDictionary {
        let range = range::from_engine().unwrap_or_else(|e| {
            godot_error!("{}", errors::to_godot(&e, Class::Writer).1);
            None
        });
        range::to_dictionary(range)
    }
}

impl MovieWriterAV1 {
    /// Says which encoder the encode thread opened (and why not a hardware one, when `auto`
    /// fell back), once it has: at the first frame or `write_end` after the open.
    fn announce(&mut self) {
        if self.announced {
            return;
        }
        let Some(opened) = self.recorder.as_mut().and_then(|r| r.opened()) else {
            return;
        };
        if let Some(note) = &opened.fallback_note {
            godot_print!("MovieWriterAV1: {note}");
        }
        godot_print!(
            "MovieWriterAV1: encoding with {} (opened on the encode thread in {:.2} s)",
            opened.backend,
            opened.took.as_secs_f64()
        );
        self.announced = true;
    }

    /// Logs `e` once (the first error of a recording) and returns its Godot error code.
    fn fail(&mut self, e: &Error) -> GdError {
        let (code, message) = errors::to_godot(e, Class::Writer);
        if !self.failed {
            godot_error!("{message}");
        }
        self.failed = true;
        code
    }
}

/// Resolves a movie path as Godot's own writers do: relative paths are relative to the project
/// folder (res://); res://, user:// and absolute paths work as usual.
pub(crate) fn resolve_path(path: &str) -> PathBuf {
    if Path::new(path).is_absolute() {
        return path.into();
    }
    let godot_path = if path.starts_with("res://") || path.starts_with("user://") {
        path.to_string()
    } else {
        format!("res://{path}")
    };
    ProjectSettings::singleton()
        .globalize_path(&godot_path)
        .to_string()
        .into()
}

/// Int32 samples in the audio block the engine hands to each `write_frame`. Movie Maker mixes
/// `mix_rate / fps` frames in its speaker mode's channels (MovieWriter::add_frame), at the rate
/// and mode it took from this writer and set on the audio server before `write_begin`. They are
/// read back from the engine, not assumed, so the slice never outruns the engine's buffer; a
/// recording whose audio is not the 48 kHz stereo the Opus track expects does not start.
fn engine_audio_block(fps: u32) -> Result<usize, Error> {
    let server = AudioServer::singleton();
    let (rate, mode) = (server.get_mix_rate() as u32, server.get_speaker_mode());
    if rate != MIX_RATE || mode != SpeakerMode::STEREO {
        return Err(Error::Usage(format!(
            "the engine mixes audio at {rate} Hz in speaker mode {mode:?}, not the {MIX_RATE} Hz stereo this writer asks for"
        )));
    }
    Ok((rate / fps.max(1)) as usize * CHANNELS)
}

/// The recording's config: `fps` is the engine's rate; the file's is that over the motion-blur
/// samples, which must divide it. The frames' size is the engine's; the file's is `output_size`.
fn config_from_project(path: &Path, size: Vector2i, fps: u32) -> Result<RecordingConfig, Error> {
    let mut config = RecordingConfig::new(path, size.x.max(0) as u32, size.y.max(0) as u32, fps);
    settings::apply_project_settings(&mut config)?;
    range::apply_args(&mut config)?;
    config.video.fps = config.motion_blur.output_fps(fps)?;
    Ok(config)
}

/// ", into 1920x1080 at 60 fps with 4-sample motion blur (shutter 0.5)" for the start line.
fn describe_film(config: &RecordingConfig, engine_fps: u32) -> String {
    let mut text = String::new();
    if let Ok(Some(r)) = config.render_range() {
        text += &format!(
            ", frames {} to {} (after {} pre-roll frames from frame {}, {} audio)",
            r.start,
            r.end,
            r.preroll,
            r.seek_frame(),
            config.audio_codec().name()
        );
    }
    if let Some((w, h)) = config.output_size {
        text += &format!(", into {w}x{h}");
    }
    let blur = config.motion_blur;
    if blur.samples > 1 {
        text += &format!(
            ", {} fps out with {}-sample motion blur (shutter {}: {} of {} frames averaged)",
            engine_fps / blur.samples,
            blur.samples,
            blur.shutter,
            blur.used(),
            blur.samples
        );
    }
    text
}
