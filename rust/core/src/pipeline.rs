//! The recording pipeline: the engine thread copies each frame and audio block into pooled
//! buffers and queues them; one encode thread converts colour, encodes video and audio,
//! interleaves and muxes.
//!
//! ```text
//! engine thread ──push_frame──▶ bounded queue ──▶ encode thread: RGB→YUV ▶ AV1 encoder ─┐
//!   (copy only; blocks when      (max_queued_frames)               PCM ▶ Opus ──────────┴▶ interleave ▶ Matroska file
//!    the queue is full)
//! ```
//!
//! An error on the encode thread ends it after finalizing what was written (so the file stays
//! playable); the engine thread sees that error on its next `push_frame` or in `finish`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use parking_lot::Mutex;
use std::sync::Arc;

use crate::audio::{AudioEncoder, AudioPacket, PACKET_SAMPLES};
use crate::av1;
use crate::backend::{self, BackendKind, Received, VideoEncoder};
use crate::config::RecordingConfig;
use crate::error::{Error, Result};
use crate::frame::{PixelFormat, RgbImage, VideoFrame};
use crate::mux::{AudioTrack, Interleaver, MatroskaWriter, MuxPacket, Track, VideoTrack};
use crate::pool::Pool;
use crate::scale::Letterbox;

/// Figures about a finished (or failed) recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingStats {
    pub backend: Option<BackendKind>,
    pub frames: u64,
    pub duration_s: f64,
    pub bytes: u64,
    pub average_bitrate_kbps: f64,
    /// Frames per second of encode-thread time (conversion + encode + mux).
    pub encode_fps: f64,
    /// Always 0 for Movie Maker: every frame handed over is encoded exactly once.
    pub frames_dropped: u64,
    pub frames_duplicated: u64,
    pub queue_high_water: usize,
    pub audio_samples: u64,
    /// Frames whose size differed from the first frame's and were letterboxed.
    pub frames_rescaled: u64,
}

struct Job {
    index: u64,
    width: u32,
    height: u32,
    format: PixelFormat,
    pixels: Vec<u8>,
    audio: Vec<i32>,
}

pub struct Recorder {
    jobs: Option<Sender<Job>>,
    worker: Option<JoinHandle<(Result<()>, RecordingStats)>>,
    pixels: Pool<u8>,
    audio: Pool<i32>,
    next_index: u64,
    queue_high_water: usize,
    backpressure_wait: Duration,
    backend: BackendKind,
    fallback_note: Option<String>,
    path: PathBuf,
    failed: Option<Error>,
    warnings: Arc<Mutex<Vec<String>>>,
}

/// Test-only fault injection: fail the encoder after this many frames.
#[doc(hidden)]
pub const FAULT_ENV: &str = "MOVIE_WRITER_AV1_FAIL_AFTER_FRAMES";

impl Recorder {
    /// Validates the config, opens the encoder and the output file, writes the file header and
    /// starts the encode thread. On error nothing is left on disk.
    pub fn start(config: RecordingConfig) -> Result<Self> {
        config.validate()?;
        // The file first: a bad path is the likeliest failure and the cheapest to find out.
        let file = create_output(&config.path)?;
        let opened = backend::open(&config)
            .and_then(|(encoder, note)| Ok((encoder, note, AudioEncoder::new(&config.audio, config.video.fps)?)));
        let (encoder, fallback_note, audio) = match opened {
            Ok(parts) => parts,
            Err(e) => {
                drop(file);
                let _ = fs::remove_file(&config.path);
                return Err(e);
            }
        };
        let backend = encoder.kind();
        let depth = config.max_queued_frames as usize;
        let (jobs, queue) = bounded::<Job>(depth);
        let pixels = Pool::new(depth + 2);
        let audio_pool = Pool::new(depth + 2);
        let worker_pools = (pixels.clone(), audio_pool.clone());
        let path = config.path.clone();
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let worker_warnings = warnings.clone();
        let worker = std::thread::Builder::new()
            .name("movie_writer_av1 encode".into())
            .spawn(move || {
                let mut w = Worker::new(config, encoder, audio, file, worker_warnings);
                let result = w.run(queue, worker_pools);
                (result, w.stats)
            })
            .map_err(|e| Error::Thread(e.to_string()))?;
        Ok(Self {
            jobs: Some(jobs),
            worker: Some(worker),
            pixels,
            audio: audio_pool,
            next_index: 0,
            queue_high_water: 0,
            backpressure_wait: Duration::ZERO,
            backend,
            fallback_note,
            path,
            failed: None,
            warnings,
        })
    }

    /// Warnings from the encode thread since the last call, for the caller to log on its own
    /// thread (each situation is reported once per recording).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock())
    }

    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// Set when `auto` fell back to software: why no hardware backend was used.
    pub fn fallback_note(&self) -> Option<&str> {
        self.fallback_note.as_deref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Total time `push_frame` has spent blocked on a full queue, waiting for the encoder. Kept
    /// apart so that the copy cost and the encoder's backpressure can be told apart.
    pub fn backpressure_wait(&self) -> Duration {
        self.backpressure_wait
    }

    /// Copies one frame and its audio block and queues them. Blocks while the queue is full
    /// (backpressure); returns the encode thread's error if it has stopped.
    pub fn push_frame(&mut self, image: &RgbImage<'_>, audio: &[i32]) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(Error::Thread(format!("the recording already failed: {e}")));
        }
        let mut pixels = self.pixels.take();
        let row = image.width as usize * image.format.bytes_per_pixel();
        pixels.reserve(row * image.height as usize);
        for y in 0..image.height {
            pixels.extend_from_slice(image.row(y));
        }
        let mut block = self.audio.take();
        block.extend_from_slice(audio);
        let job = Job {
            index: self.next_index,
            width: image.width,
            height: image.height,
            format: image.format,
            pixels,
            audio: block,
        };
        let jobs = self.jobs.as_ref().expect("push_frame after finish");
        self.queue_high_water = self.queue_high_water.max(jobs.len() + 1);
        let sent = match jobs.try_send(job) {
            Ok(()) => true,
            // The encoder is behind: wait for it, and account the wait apart from the copy.
            Err(TrySendError::Full(job)) => {
                let waiting = Instant::now();
                let sent = jobs.send(job).is_ok();
                self.backpressure_wait += waiting.elapsed();
                sent
            }
            Err(TrySendError::Disconnected(_)) => false,
        };
        if !sent {
            let e = self
                .join()
                .err()
                .unwrap_or_else(|| Error::Thread("the encode thread exited".into()));
            let msg = e.to_string();
            self.failed = Some(Error::Thread(msg));
            return Err(e);
        }
        self.next_index += 1;
        Ok(())
    }

    /// Drains the queue, flushes the encoders and finalizes the file.
    pub fn finish(mut self) -> Result<RecordingStats> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.join()
    }

    fn join(&mut self) -> Result<RecordingStats> {
        self.jobs = None;
        let Some(worker) = self.worker.take() else {
            return Err(Error::Thread("the recording was already finished".into()));
        };
        let (result, mut stats) = worker.join().map_err(|p| Error::Thread(panic_message(&p)))?;
        stats.queue_high_water = self.queue_high_water;
        result.map(|()| stats)
    }
}

impl Drop for Recorder {
    /// A recorder dropped without `finish` (engine shutting down, error paths) still finalizes
    /// its file so what was recorded stays playable.
    fn drop(&mut self) {
        if self.worker.is_some() {
            let _ = self.join();
        }
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Creates the output file, making missing parent folders as Godot's own writers do.
fn create_output(path: &Path) -> Result<File> {
    if path.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "the path is a folder; give a file name ending in .webm or .mkv",
            ),
        ));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    File::create(path).map_err(|e| Error::io(path, e))
}

struct Worker {
    config: RecordingConfig,
    encoder: Box<dyn VideoEncoder>,
    audio: AudioEncoder,
    file: Option<File>,
    mux: Option<MatroskaWriter<File>>,
    interleaver: Interleaver,
    letterbox: Letterbox,
    packet: Vec<u8>,
    stats: RecordingStats,
    busy: Duration,
    fail_after: Option<u64>,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl Worker {
    fn new(
        config: RecordingConfig,
        encoder: Box<dyn VideoEncoder>,
        audio: AudioEncoder,
        file: File,
        warnings: Arc<Mutex<Vec<String>>>,
    ) -> Self {
        let fail_after = std::env::var(FAULT_ENV).ok().and_then(|v| v.parse().ok());
        let stats = RecordingStats {
            backend: Some(encoder.kind()),
            ..RecordingStats::default()
        };
        Self {
            letterbox: Letterbox::new(config.video.width, config.video.height),
            config,
            encoder,
            audio,
            file: Some(file),
            mux: None,
            interleaver: Interleaver::default(),
            packet: Vec::new(),
            stats,
            busy: Duration::ZERO,
            fail_after,
            warnings,
        }
    }

    fn run(&mut self, queue: Receiver<Job>, (pixels, audio): (Pool<u8>, Pool<i32>)) -> Result<()> {
        let result = (|| {
            if let Some(seq) = self.encoder.sequence_header().map(<[u8]>::to_vec) {
                self.open_mux(&seq)?;
            }
            for job in &queue {
                let started = Instant::now();
                let r = self.encode_job(&job);
                pixels.give(job.pixels);
                audio.give(job.audio);
                self.busy += started.elapsed();
                r?;
            }
            let started = Instant::now();
            self.encoder.flush()?;
            self.drain_encoder()?;
            self.finish_audio()?;
            self.busy += started.elapsed();
            Ok(())
        })();
        // Unblock the engine thread at once; it learns of the error on its next call.
        drop(queue);
        let finalized = self.finalize();
        self.stats.encode_fps = self.stats.frames as f64 / self.busy.as_secs_f64().max(1e-9);
        result.and(finalized)
    }

    fn encode_job(&mut self, job: &Job) -> Result<()> {
        if self.fail_after.is_some_and(|n| job.index >= n) {
            return Err(Error::Encoder {
                backend: self.encoder.kind(),
                message: format!("injected fault after {} frames ({FAULT_ENV})", job.index),
            });
        }
        let audio = &mut self.audio;
        let pre_skip = audio.pre_skip();
        let il = &mut self.interleaver;
        audio.push_frame(&job.audio, |p| {
            let mut data = il.buffer(Track::Audio);
            data.extend_from_slice(p.data);
            il.push(audio_packet(&p, pre_skip, data));
            Ok(())
        })?;
        let image = RgbImage::packed(job.width, job.height, job.format, &job.pixels)?;
        let image = if (job.width, job.height) == (self.config.video.width, self.config.video.height) {
            image
        } else {
            if self.stats.frames_rescaled == 0 {
                self.warnings.lock().push(format!(
                    "frame size changed from {}x{} to {}x{} (window resized?): frames are scaled to the recording's size with black bars; this is reported once",
                    self.config.video.width, self.config.video.height, job.width, job.height
                ));
            }
            self.stats.frames_rescaled += 1;
            self.letterbox.fit(&image)
        };
        self.encoder.send_frame(&VideoFrame::Rgb(image), job.index)?;
        self.stats.frames += 1;
        self.drain_encoder()
    }

    fn drain_encoder(&mut self) -> Result<()> {
        loop {
            match self.encoder.receive_packet(&mut self.packet)? {
                Received::Packet { pts, keyframe } => {
                    if self.mux.is_none() {
                        let seq = av1::find_sequence_header(&self.packet)
                            .map(<[u8]>::to_vec)
                            .ok_or_else(|| Error::Encoder {
                                backend: self.encoder.kind(),
                                message: "the first packet carries no AV1 sequence header".into(),
                            })?;
                        self.open_mux(&seq)?;
                    }
                    let mut data = self.interleaver.buffer(Track::Video);
                    av1::strip_temporal_delimiters(&self.packet, &mut data);
                    let fps = u64::from(self.config.video.fps);
                    self.interleaver.push(MuxPacket {
                        track: Track::Video,
                        ts_ms: ((pts * 1000 + fps / 2) / fps) as i64,
                        end_ms: (pts + 1) as f64 * 1000.0 / fps as f64,
                        keyframe,
                        data,
                        discard_padding_ns: None,
                    });
                    self.write_ready(false)?;
                }
                Received::NeedMoreInput | Received::Done => return Ok(()),
            }
        }
    }

    fn finish_audio(&mut self) -> Result<()> {
        let il = &mut self.interleaver;
        let pre_skip = self.audio.pre_skip();
        self.audio.finish(|p| {
            let mut data = il.buffer(Track::Audio);
            data.extend_from_slice(p.data);
            il.push(audio_packet(&p, pre_skip, data));
            Ok(())
        })?;
        self.stats.audio_samples = self.audio.samples_in();
        Ok(())
    }

    fn open_mux(&mut self, sequence_header: &[u8]) -> Result<()> {
        let av1c = av1::av1c(sequence_header).ok_or_else(|| Error::Encoder {
            backend: self.encoder.kind(),
            message: "the encoder's AV1 sequence header could not be parsed".into(),
        })?;
        let (cw, ch) = self.encoder.coded_size();
        let v = &self.config.video;
        let video = VideoTrack {
            coded_width: cw,
            coded_height: ch,
            display_width: v.width,
            display_height: v.height,
            fps: v.fps,
            av1c,
        };
        let audio = AudioTrack {
            sample_rate: self.config.audio.sample_rate,
            channels: self.config.audio.channels,
            codec_private: self.audio.opus_head(),
            pre_skip: self.audio.pre_skip(),
        };
        let file = self.file.take().expect("mux opened once");
        let container = self.config.container().expect("validated");
        self.mux = Some(MatroskaWriter::new(file, container, &video, Some(&audio)).map_err(|e| self.io_err(e))?);
        Ok(())
    }

    fn write_ready(&mut self, draining: bool) -> Result<()> {
        let Some(mux) = self.mux.as_mut() else { return Ok(()) };
        while let Some(p) = self.interleaver.pop(draining) {
            let r = match p.track {
                Track::Video => mux.write_video(p.ts_ms, p.end_ms, p.keyframe, &p.data),
                Track::Audio => mux.write_audio(p.ts_ms, p.end_ms, &p.data, p.discard_padding_ns),
            };
            self.interleaver.recycle(p.track, p.data);
            if let Err(e) = r {
                return Err(Error::io(&self.config.path, e));
            }
        }
        Ok(())
    }

    /// Writes whatever is queued and closes the file properly, also after an error, so the
    /// recording up to that point stays playable.
    fn finalize(&mut self) -> Result<()> {
        let drained = self.write_ready(true);
        let Some(mux) = self.mux.take() else {
            // No video packet was ever produced: nothing playable to keep.
            drop(self.file.take());
            let _ = fs::remove_file(&self.config.path);
            return drained;
        };
        let (file, finished) = mux.finish();
        self.stats.bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.stats.duration_s = self.stats.frames as f64 / f64::from(self.config.video.fps);
        self.stats.average_bitrate_kbps = self.stats.bytes as f64 * 8.0 / 1000.0 / self.stats.duration_s.max(1e-9);
        drained.and(finished.map_err(|e| self.io_err(e)))
    }

    fn io_err(&self, e: std::io::Error) -> Error {
        Error::io(&self.config.path, e)
    }
}

/// An Opus packet for the muxer. Validation guarantees 48 kHz, so samples/48 are milliseconds.
fn audio_packet(p: &AudioPacket<'_>, pre_skip: u32, data: Vec<u8>) -> MuxPacket {
    let trim = u64::from(p.end_trim_samples.unwrap_or(0));
    let audible_end = (p.pts_samples + PACKET_SAMPLES as u64).saturating_sub(u64::from(pre_skip) + trim);
    MuxPacket {
        track: Track::Audio,
        ts_ms: (p.pts_samples / 48) as i64,
        end_ms: audible_end as f64 / 48.0,
        keyframe: true,
        data,
        discard_padding_ns: p.end_trim_samples.map(|s| i64::from(s) * 1_000_000_000 / 48_000),
    }
}
