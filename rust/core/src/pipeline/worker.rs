//! The encode thread shared by Movie Maker recordings ([`super::Recorder`]) and live capture
//! ([`super::LiveRecorder`]): colour conversion (or an I420 copy), AV1 and Opus encoding,
//! interleaving, the Matroska file and, for live capture, the replay ring.
//!
//! This file is the loop and what it does with each frame and message; the packets' clocks
//! are in `timing.rs`, when replays are written in `replay_schedule.rs`, and the messages it
//! receives and sends in `messages.rs`.

use std::time::Instant;

use crossbeam_channel::{select, Receiver, Sender};

#[cfg(feature = "fault-injection")]
use super::fault::Fault;
use super::frame_fit::FrameFit;
use super::messages::{Control, Event, FrameJob, Layout, Outputs, Pixels};
use super::replay_schedule::ReplaySchedule;
use super::timing::{AudioShape, BusyTime, FrameClock};
use super::RecordingStats;
use crate::audio::AudioEncoder;
use crate::av1;
use crate::backend::{Received, VideoEncoder};
use crate::config::RecordingConfig;
use crate::error::{Error, Result};
use crate::frame::{I420Image, RgbImage, VideoFrame};
use crate::mux::{AudioTrack, Interleaver, MuxPacket, Output, StagedFile, Track, VideoTrack};
use crate::pool::Pool;
use crate::scale::Linear;

use super::temporal::Temporal;

pub(super) struct Worker {
    config: RecordingConfig,
    encoder: Box<dyn VideoEncoder>,
    audio: AudioEncoder,
    file: Option<StagedFile>,
    tracks: Option<(VideoTrack, AudioTrack)>,
    mux: Option<Output>,
    replays: ReplaySchedule,
    clock: FrameClock,
    interleaver: Interleaver,
    /// Frames not at the output size (`config.video` holds it).
    fit: FrameFit,
    /// Movie Maker with motion blur (`samples` > 1).
    temporal: Option<Temporal>,
    packet: Vec<u8>,
    pub stats: RecordingStats,
    busy: BusyTime,
    #[cfg(feature = "fault-injection")]
    fault: Fault,
    events: Sender<Event>,
}

/// A live audio block that starts later than this after the audio so far is preceded by
/// silence (the engine's audio stalled, or there is none), so the interleaver never holds video
/// back and the two stay in sync.
const MAX_AUDIO_LAG_US: i64 = 500_000;

impl Worker {
    pub fn new(
        config: RecordingConfig,
        encoder: Box<dyn VideoEncoder>,
        audio: AudioEncoder,
        outputs: Outputs,
        events: Sender<Event>,
    ) -> Self {
        let stats = RecordingStats {
            backend: Some(encoder.kind()),
            ..RecordingStats::default()
        };
        let input_size = (config.video.width, config.video.height);
        let mut config = config;
        (config.video.width, config.video.height) = config.output_dims();
        let clock = FrameClock::new(config.video.fps);
        Self {
            fit: FrameFit::new(input_size, (config.video.width, config.video.height)),
            temporal: (config.motion_blur.samples > 1).then(|| Temporal::new(config.motion_blur)),
            config,
            encoder,
            audio,
            file: outputs.file,
            tracks: None,
            mux: None,
            replays: ReplaySchedule::new(outputs.replay),
            clock,
            interleaver: Interleaver::default(),
            packet: Vec::new(),
            stats,
            busy: BusyTime::default(),
            #[cfg(feature = "fault-injection")]
            fault: Fault::from_env(),
            events,
        }
    }

    /// Encodes until both channels are closed (`control` is `None` for Movie Maker), then
    /// flushes and finalizes the file, also after an error.
    pub fn run(
        &mut self,
        frames: Receiver<FrameJob>,
        control: Option<Receiver<Control>>,
        (pixels, audio): (Pool<u8>, Pool<i32>),
    ) -> Result<()> {
        let result = (|| {
            let frame_job = |w: &mut Self, job: FrameJob| {
                let started = Instant::now();
                let r = w.encode_job(&job);
                match job.pixels {
                    Pixels::Pooled(v) => pixels.give(v),
                    Pixels::Held { pixels: held, back } => {
                        // The recorder keeps the receiver until this thread is joined, so this
                        // cannot fail; if it did, leaking the frame beats releasing it here.
                        if let Err(e) = back.send(held) {
                            std::mem::forget(e.into_inner());
                        }
                    }
                }
                audio.give(job.audio);
                w.busy.add(started.elapsed());
                r
            };
            match &control {
                None => {
                    for job in &frames {
                        frame_job(self, job)?;
                    }
                }
                Some(control) => {
                    // A closed channel is swapped for one that never delivers, so the other is
                    // still served until it closes too.
                    let (never_frames, never_control) = (crossbeam_channel::never(), crossbeam_channel::never());
                    let (mut frames_rx, mut control_rx) = (&frames, control);
                    let (mut frames_open, mut control_open) = (true, true);
                    while frames_open || control_open {
                        select! {
                            recv(frames_rx) -> job => match job {
                                Ok(job) => frame_job(self, job)?,
                                Err(_) => (frames_open, frames_rx) = (false, &never_frames),
                            },
                            recv(control_rx) -> msg => match msg {
                                Ok(msg) => self.control(msg)?,
                                Err(_) => (control_open, control_rx) = (false, &never_control),
                            },
                        }
                    }
                }
            }
            let started = Instant::now();
            // The recording ended inside a motion-blur group: its frames so far make the last frame.
            if self.temporal.as_ref().is_some_and(|t| t.pending().is_some()) {
                self.emit_group()?;
            }
            self.encoder.flush()?;
            self.drain_encoder()?;
            // Live audio reaches the recorder a mix buffer late: end it with the newest frame.
            if let Some(last) = self.clock.newest_frame_us() {
                self.pad_audio_to(last + 1_000_000 / i64::from(self.config.video.fps))?;
            }
            self.finish_audio()?;
            self.busy.add(started.elapsed());
            Ok(())
        })();
        // Unblock the engine thread at once; it learns of the error on its next call.
        drop(frames);
        drop(control);
        let finalized = self.finalize();
        self.stats.encode_fps = self.busy.frames_per_second(self.stats.frames);
        result.and(finalized)
    }

    fn control(&mut self, msg: Control) -> Result<()> {
        match msg {
            Control::Audio { samples, taken_us } => {
                if let Some(taken) = taken_us {
                    // Where this block starts on the recording's clock; a gap before it (the
                    // engine's audio stalled, or there is none) becomes silence, so audio and
                    // video stay in sync whatever order the two channels are served in.
                    let rate = i64::from(self.config.audio.sample_rate);
                    let channels = self.config.audio.channels as i64;
                    let starts = taken - samples.len() as i64 / channels * 1_000_000 / rate;
                    if starts - self.audio_us() > MAX_AUDIO_LAG_US {
                        self.pad_audio_to(starts)?;
                    }
                }
                let (il, shape) = (&mut self.interleaver, AudioShape::of(&self.audio));
                self.audio.push_samples(&samples, |p| {
                    let mut data = il.buffer(Track::Audio);
                    data.extend_from_slice(p.data);
                    il.push(shape.packet(&p, data));
                    Ok(())
                })?;
                self.write_ready(false)
            }
            Control::SaveReplay { path, seconds } => {
                // "The last N seconds" end now: at the newest frame handed over, which may still
                // be inside the encoder's look-ahead. The save waits until it is out.
                let until_ms = self.clock.newest_frame_us().map(|us| (us + 500) / 1000);
                self.replays.request(path, seconds, until_ms);
                self.save_due_replays(false);
                Ok(())
            }
        }
    }

    /// Starts writing every requested replay whose last frame has reached the ring (all of
    /// them when `all`: the recording is ending).
    fn save_due_replays(&mut self, all: bool) {
        self.replays.save_due(all, self.tracks.as_ref(), &self.events);
    }

    fn encode_job(&mut self, job: &FrameJob) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        {
            self.fault.stall(job.index);
            self.fault.check(job.index, self.encoder.kind())?;
        }
        // Movie Maker hands each frame its audio block; live audio comes on the control channel.
        if job.ts_us.is_none() {
            let audio = &mut self.audio;
            let shape = AudioShape::of(audio);
            let il = &mut self.interleaver;
            audio.push_frame(&job.audio, |p| {
                let mut data = il.buffer(Track::Audio);
                data.extend_from_slice(p.data);
                il.push(shape.packet(&p, data));
                Ok(())
            })?;
        }
        if let Some(ts_us) = job.ts_us {
            self.clock.captured(job.index, ts_us);
        }
        let frame = match job.layout {
            Layout::Rgb(format) => {
                let image = RgbImage::packed(job.width, job.height, format, job.pixels.bytes())?;
                if job.ts_us.is_none() {
                    if let Some(temporal) = &mut self.temporal {
                        if !temporal.is_used(job.index) {
                            return Ok(());
                        }
                        if temporal.add(job.index, &image) {
                            return self.emit_group();
                        }
                        return Ok(());
                    }
                }
                if self.fit.fits((job.width, job.height)) {
                    VideoFrame::Rgb(image)
                } else {
                    self.check_size(job.width, job.height);
                    VideoFrame::Rgb(self.fit.scale(Linear::Srgb(&image)))
                }
            }
            Layout::I420 { y_stride, uv_stride } => VideoFrame::I420(I420Image::contiguous(
                job.width,
                job.height,
                y_stride,
                uv_stride,
                job.pixels.bytes(),
            )?),
        };
        self.encoder.send_frame(&frame, job.index)?;
        self.stats.frames += 1;
        self.drain_encoder()
    }

    /// Sends the motion-blur group's average (scaled to the output size if need be) to the
    /// encoder as output frame number `group`.
    fn emit_group(&mut self) -> Result<()> {
        if let Some((w, h)) = self.temporal.as_ref().map(Temporal::size) {
            if !self.fit.fits((w, h)) {
                self.check_size(w, h);
            }
        }
        let Some(temporal) = &mut self.temporal else {
            return Ok(());
        };
        let group = temporal.group();
        let frame = if self.fit.fits(temporal.size()) {
            temporal.average()
        } else {
            self.fit.scale(temporal.linear())
        };
        self.encoder.send_frame(&VideoFrame::Rgb(frame), group)?;
        temporal.clear();
        self.stats.frames += 1;
        self.drain_encoder()
    }

    /// Warnings for a frame that is not at the output size (see [`FrameFit::check`]).
    fn check_size(&mut self, width: u32, height: u32) {
        self.fit
            .check(width, height, &mut self.stats.frames_rescaled, &self.events);
    }

    fn audio_us(&self) -> i64 {
        self.audio.samples_in() as i64 * 1_000_000 / i64::from(self.config.audio.sample_rate)
    }

    /// Silence up to `until_us`, counted in the stats.
    fn pad_audio_to(&mut self, until_us: i64) -> Result<()> {
        let missing = (until_us - self.audio_us()).max(0) * i64::from(self.config.audio.sample_rate) / 1_000_000;
        if missing == 0 {
            return Ok(());
        }
        self.stats.audio_silence_inserted += missing as u64;
        let silence = vec![0.0; missing as usize * self.config.audio.channels as usize];
        self.control(Control::Audio {
            samples: silence,
            taken_us: None,
        })
    }

    fn drain_encoder(&mut self) -> Result<()> {
        loop {
            match self.encoder.receive_packet(&mut self.packet)? {
                Received::Packet { pts, keyframe } => {
                    if self.tracks.is_none() {
                        // The tracks (av1C, pixel size, colours) come from the stream's own first
                        // sequence header, not from what the encoder handed out before encoding:
                        // SVT-AV1's differs from its in-band one (other coding tools), and
                        // FFmpeg's VA-API header is written before the driver picks its size.
                        // That one stands in only where the first packet carries none.
                        let seq = av1::find_sequence_header(&self.packet)
                            .or(self.encoder.sequence_header())
                            .map(<[u8]>::to_vec)
                            .ok_or_else(|| Error::Encoder {
                                backend: self.encoder.kind(),
                                message:
                                    "the first packet carries no AV1 sequence header, and the encoder handed none out"
                                        .into(),
                            })?;
                        self.open_tracks(&seq)?;
                    }
                    let time = self.clock.packet_time(pts);
                    let mut data = self.interleaver.buffer(Track::Video);
                    av1::strip_temporal_delimiters(&self.packet, &mut data);
                    // Every keyframe carries the sequence header, whatever the encoder sent: the
                    // one av1C holds (the first packet's).
                    if let Some(seq) = self.tracks.as_ref().and_then(|(v, _)| v.av1c.get(4..)) {
                        av1::ensure_sequence_header(&mut data, keyframe, seq);
                    }
                    self.interleaver.push(MuxPacket {
                        track: Track::Video,
                        time,
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
        let shape = AudioShape::of(&self.audio);
        self.audio.finish(|p| {
            let mut data = il.buffer(Track::Audio);
            data.extend_from_slice(p.data);
            il.push(shape.packet(&p, data));
            Ok(())
        })?;
        self.stats.audio_samples = self.audio.samples_in();
        Ok(())
    }

    /// Track descriptions from the sequence header; opens the file's muxer when there is a file.
    fn open_tracks(&mut self, sequence_header: &[u8]) -> Result<()> {
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
            codec: self.audio.kind(),
            sample_rate: self.config.audio.sample_rate,
            channels: self.config.audio.channels,
            codec_private: self.audio.codec_private(),
            delay: self.audio.delay(),
            frame_samples: self.audio.frame_samples() as u32,
        };
        if let Some(file) = self.file.take() {
            let container = self.config.container().expect("validated");
            let tags = self.config.range.job_tag();
            self.mux = Some(
                Output::create_staged(file, container, &video, &audio, true, tags.as_slice())
                    .map_err(|e| self.io_err(e))?,
            );
        }
        self.tracks = Some((video, audio));
        Ok(())
    }

    fn write_ready(&mut self, draining: bool) -> Result<()> {
        if self.tracks.is_none() {
            return Ok(());
        }
        while let Some(p) = self.interleaver.pop(draining) {
            self.replays.keep(&p);
            let r = match &mut self.mux {
                None => Ok(()),
                Some(mux) => mux.write(p.track, &p.time, p.keyframe, &p.data, p.discard_padding_ns),
            };
            if p.track == Track::Video {
                self.stats.duration_s = self.stats.duration_s.max(p.time.end_ms / 1000.0);
            }
            self.interleaver.recycle(p.track, p.data);
            if let Err(e) = r {
                return Err(Error::io(&self.config.path, e));
            }
            if self.replays.has_pending() {
                self.save_due_replays(false);
            }
        }
        Ok(())
    }

    /// Writes whatever is queued and closes the file properly, also after an error, so the
    /// recording up to that point stays playable.
    fn finalize(&mut self) -> Result<()> {
        let drained = self.write_ready(true);
        self.save_due_replays(true);
        self.replays.join_writers();
        let Some(mux) = self.mux.take() else {
            // No video packet was ever produced: nothing playable to keep. The staged file goes,
            // and a file already at the recording's name stays as it was.
            self.file = None;
            return drained;
        };
        let (bytes, finished) = mux.finish();
        self.stats.bytes = bytes;
        self.stats.average_bitrate_kbps = self.stats.bytes as f64 * 8.0 / 1000.0 / self.stats.duration_s.max(1e-9);
        drained.and(finished.map_err(|e| self.io_err(e)))
    }

    fn io_err(&self, e: std::io::Error) -> Error {
        Error::io(&self.config.path, e)
    }
}
