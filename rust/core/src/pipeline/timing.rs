//! Where packets lie in time, and how long the encode thread worked. Video: at each frame's
//! capture time when live (kept strictly increasing in milliseconds and in the track's ticks),
//! else on the fixed frame rate; audio: from its sample count less the codec's delay. Apart
//! from the worker loop because the clocks are arithmetic that the muxers' exact times depend
//! on, and the loop only asks them.

use std::collections::VecDeque;
use std::time::Duration;

use crate::audio::{AudioEncoder, AudioPacket};
use crate::mux::{MuxPacket, Timing, Track, TICKS_PER_FRAME};

/// The video packets' clock: live capture's capture times, or frame numbers at the fixed rate.
pub(super) struct FrameClock {
    fps: u32,
    /// Live capture: (frame index, capture time in µs) of frames sent and not yet out.
    timestamps: VecDeque<(u64, i64)>,
    last_ts_ms: Option<i64>,
    /// Live capture: video track ticks of the newest packet.
    last_ticks: Option<i64>,
    /// Live capture: capture time of the newest frame sent to the encoder.
    last_frame_us: Option<i64>,
}

impl FrameClock {
    pub fn new(fps: u32) -> Self {
        Self {
            fps,
            timestamps: VecDeque::new(),
            last_ts_ms: None,
            last_ticks: None,
            last_frame_us: None,
        }
    }

    /// Live capture: frame `index`, captured `ts_us` after the recording started, goes to the
    /// encoder.
    pub fn captured(&mut self, index: u64, ts_us: i64) {
        self.timestamps.push_back((index, ts_us));
        self.last_frame_us = Some(ts_us);
    }

    /// Live capture: capture time of the newest frame sent to the encoder.
    pub fn newest_frame_us(&self) -> Option<i64> {
        self.last_frame_us
    }

    /// Where the frame `pts` lies: at its capture time when live, else on the fixed frame rate.
    pub fn packet_time(&mut self, pts: u64) -> Timing {
        let fps = u64::from(self.fps);
        let frame_ms = 1000.0 / fps as f64;
        while self.timestamps.front().is_some_and(|&(i, _)| i < pts) {
            self.timestamps.pop_front();
        }
        match self.timestamps.front() {
            Some(&(i, us)) if i == pts => {
                self.timestamps.pop_front();
                // Matroska needs increasing block times; two captures within one ms keep order.
                let ts = ((us + 500) / 1000).max(self.last_ts_ms.map_or(0, |t| t + 1));
                self.last_ts_ms = Some(ts);
                // The same on the video track's clock (fps × 1000 ticks a second), for MP4.
                let ticks = (us * fps as i64 / 1000).max(self.last_ticks.map_or(0, |t| t + 1));
                self.last_ticks = Some(ticks);
                Timing {
                    ts_ms: ts,
                    end_ms: ts as f64 + frame_ms,
                    pts: ticks,
                    duration: TICKS_PER_FRAME,
                }
            }
            _ => Timing {
                ts_ms: ((pts * 1000 + fps / 2) / fps) as i64,
                end_ms: (pts + 1) as f64 * frame_ms,
                pts: pts as i64 * TICKS_PER_FRAME,
                duration: TICKS_PER_FRAME,
            },
        }
    }
}

/// Time the encode thread spent working, not waiting for frames: what its frame rate is
/// measured against.
#[derive(Default)]
pub(super) struct BusyTime(Duration);

impl BusyTime {
    pub fn add(&mut self, spent: Duration) {
        self.0 += spent;
    }

    /// Frames encoded per second of work.
    pub fn frames_per_second(&self, frames: u64) -> f64 {
        frames as f64 / self.0.as_secs_f64().max(1e-9)
    }
}

/// What an audio packet's timing depends on, copied out of the encoder so packets can be
/// made while it is borrowed.
#[derive(Clone, Copy)]
pub struct AudioShape {
    delay: u64,
}

impl AudioShape {
    /// The shape of `audio`'s packets (its encoder delay).
    pub fn of(audio: &AudioEncoder) -> Self {
        Self {
            delay: audio.delay().into(),
        }
    }

    /// An audio packet for the muxer. Validation guarantees 48 kHz, so samples/48 are ms.
    pub fn packet(self, p: &AudioPacket<'_>, data: Vec<u8>) -> MuxPacket {
        let trim = u64::from(p.end_trim_samples.unwrap_or(0));
        let audible_end = (p.pts_samples + p.samples).saturating_sub(self.delay + trim);
        MuxPacket {
            track: Track::Audio,
            time: Timing {
                ts_ms: (p.pts_samples / 48) as i64,
                end_ms: audible_end as f64 / 48.0,
                pts: p.pts_samples as i64,
                duration: (p.samples - trim) as i64,
            },
            keyframe: true,
            data,
            discard_padding_ns: p.end_trim_samples.map(|s| i64::from(s) * 1_000_000_000 / 48_000),
        }
    }
}
