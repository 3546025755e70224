//! The replay buffer: the last seconds of encoded packets (video and audio, in file order),
//! always starting at a keyframe, bounded by time and bytes. `save` writes the last N seconds
//! to a file of their own on a short-lived thread, so the recording never waits for the disk.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::Container;
use crate::mux::{AudioTrack, MuxPacket, Output, Timing, Track, VideoTrack};

/// The outcome of one `save_replay`, picked up by the engine thread.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySaved {
    pub path: PathBuf,
    /// Seconds of video written, or why nothing was.
    pub result: Result<f64, String>,
}

/// A packet as kept: shared, so that saving a replay copies pointers, not megabytes, on the
/// encode thread.
#[derive(Clone)]
struct Stored {
    track: Track,
    time: Timing,
    keyframe: bool,
    data: Arc<[u8]>,
}

pub(crate) struct ReplayRing {
    packets: VecDeque<Stored>,
    /// Sequence numbers (counted over every packet ever pushed) of the video keyframes held.
    keys: VecDeque<u64>,
    /// Sequence number of `packets[0]`.
    first_seq: u64,
    keep_ms: i64,
    max_bytes: usize,
    bytes: usize,
    /// The newest audio packet trimmed off the front: the pre-roll of a replay that starts at
    /// the oldest keyframe held (see [`ReplayRing::audio_before`]).
    dropped_audio: Option<Stored>,
    /// The newest keyframe interval alone passed `max_bytes` and was dropped: the ring holds
    /// nothing until the next keyframe.
    over_budget: bool,
}

impl ReplayRing {
    /// Keeps at least `seconds` (when that much was recorded) and never more than `max_bytes`,
    /// whole keyframe intervals at a time. A keyframe interval that alone grows past
    /// `max_bytes` (a slow game: intervals are counted in frames at the nominal rate) is dropped
    /// whole, and the ring starts again at the next keyframe.
    pub fn new(seconds: f64, max_bytes: u64) -> Self {
        Self {
            packets: VecDeque::new(),
            keys: VecDeque::new(),
            first_seq: 0,
            keep_ms: (seconds * 1000.0).round() as i64,
            max_bytes: max_bytes as usize,
            bytes: 0,
            dropped_audio: None,
            over_budget: false,
        }
    }

    pub fn push(&mut self, p: &MuxPacket) {
        let data: Arc<[u8]> = Arc::from(&p.data[..]);
        if p.track == Track::Video && p.keyframe {
            self.keys.push_back(self.first_seq + self.packets.len() as u64);
            self.over_budget = false;
        }
        self.bytes += data.len();
        self.packets.push_back(Stored {
            track: p.track,
            time: p.time,
            keyframe: p.keyframe,
            data,
        });
        self.trim();
    }

    /// Drops the oldest keyframe interval while the rest still covers `keep_ms`, or while over
    /// the byte budget, the newest too; packets from before the first keyframe are never needed.
    fn trim(&mut self) {
        let Some(newest) = self.packets.back().map(|p| p.time.ts_ms) else {
            return;
        };
        loop {
            let cut = match (self.keys.front(), self.keys.get(1)) {
                (Some(&first), _) if first > self.first_seq => first,
                (_, Some(&second)) => {
                    let second_ts = self.packets[(second - self.first_seq) as usize].time.ts_ms;
                    if newest - second_ts >= self.keep_ms || self.bytes > self.max_bytes {
                        self.keys.pop_front();
                        second
                    } else {
                        return;
                    }
                }
                // No keyframe (nothing to start a replay from), or the newest interval alone
                // is over the budget: everything goes.
                (None, _) if !self.packets.is_empty() => self.first_seq + self.packets.len() as u64,
                (Some(_), None) if self.bytes > self.max_bytes => {
                    self.keys.clear();
                    self.over_budget = true;
                    self.first_seq + self.packets.len() as u64
                }
                _ => return,
            };
            for _ in self.first_seq..cut {
                let p = self.packets.pop_front().expect("cut is inside the ring");
                self.bytes -= p.data.len();
                if p.track == Track::Audio {
                    self.dropped_audio = Some(p);
                }
            }
            self.first_seq = cut;
        }
    }

    /// The packets from the newest keyframe that is at least `seconds` before the newest packet
    /// (or the oldest keyframe, if less was recorded).
    fn last(&self, seconds: f64) -> Vec<Stored> {
        self.start(seconds)
            .map_or_else(Vec::new, |i| self.packets.range(i..).cloned().collect())
    }

    /// Where [`ReplayRing::last`] starts.
    fn start(&self, seconds: f64) -> Option<usize> {
        let newest = self.packets.back()?.time.ts_ms;
        let target = newest - (seconds * 1000.0).round() as i64;
        let index = |seq: u64| (seq - self.first_seq) as usize;
        self.keys
            .iter()
            .rev()
            .map(|&k| index(k))
            .find(|&i| self.packets[i].time.ts_ms <= target)
            .or_else(|| self.keys.front().map(|&k| index(k)))
    }

    /// The audio packet just before `index`: an MP4 replay starts its audio with it, so the
    /// decoder has a whole packet behind it before the first sample heard. A replay from the
    /// oldest keyframe held finds none in the ring and takes the one trimmed off its front.
    fn audio_before(&self, index: usize) -> Option<Stored> {
        self.packets
            .range(..index)
            .rev()
            .find(|p| p.track == Track::Audio)
            .or(self.dropped_audio.as_ref())
            .cloned()
    }

    /// Writes the last `seconds` to `path` on a thread of its own, which reports to `done`.
    pub fn save(
        &self,
        path: PathBuf,
        seconds: f64,
        container: Option<Container>,
        tracks: (VideoTrack, AudioTrack),
        done: impl Fn(ReplaySaved) + Clone + Send + 'static,
    ) -> Option<JoinHandle<()>> {
        let packets = self.last(seconds);
        if packets.is_empty() && self.over_budget {
            done(ReplaySaved {
                path,
                result: Err(
                    "the replay buffer is empty: its newest keyframe interval alone grew past replay_max_mb and was dropped (it fills again from the next keyframe)"
                        .into(),
                ),
            });
            return None;
        }
        let preroll = self.start(seconds).and_then(|i| self.audio_before(i));
        let spawned = std::thread::Builder::new()
            .name("movie_writer_av1 replay".into())
            .spawn({
                let (path, done) = (path.clone(), done.clone());
                move || {
                    let result = write(&path, container, &tracks, preroll, &packets);
                    done(ReplaySaved { path, result });
                }
            });
        match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                done(ReplaySaved {
                    path,
                    result: Err(format!("could not start the replay writer thread: {e}")),
                });
                None
            }
        }
    }
}

/// Writes `packets` (from a keyframe on) as a file of their own. `preroll` (MP4 only) is the
/// audio packet before them: it goes in first and the edit list skips it.
fn write(
    path: &std::path::Path,
    container: Option<Container>,
    (video, audio): &(VideoTrack, AudioTrack),
    preroll: Option<Stored>,
    packets: &[Stored],
) -> Result<f64, String> {
    let container = container.ok_or("the replay path must end in .webm, .mkv or .mp4")?;
    if !container.allows(audio.codec) {
        return Err(format!(
            "this recording's audio is {}, which a .webm file cannot hold: save the replay as .mkv or .mp4",
            audio.codec.name()
        ));
    }
    let Some(first) = packets.first() else {
        return Err("nothing has been encoded yet".into());
    };
    let file = super::create_output(path).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("cannot write '{}': {e}", path.display());
    // Staged: a replay that fails leaves a file already at `path` as it was.
    let mut mux = Output::create_staged(file, container, video, audio, false, &[]).map_err(io)?;
    // The file starts at its first keyframe: every time moves back by that much, on each
    // track's own clock too (video ticks, audio samples).
    let base = first.time;
    let base_samples = base.pts * i64::from(audio.sample_rate) / video.timescale();
    let mut video_end = 0.0f64;
    let preroll = preroll.filter(|_| container == Container::Mp4);
    for p in preroll.iter().chain(packets) {
        let mut time = p.time;
        time.ts_ms = (time.ts_ms - base.ts_ms).max(0);
        time.end_ms -= base.ts_ms as f64;
        time.pts -= match p.track {
            Track::Video => base.pts,
            Track::Audio => base_samples,
        };
        if p.track == Track::Video {
            video_end = video_end.max(time.end_ms);
        }
        mux.write(p.track, &time, p.keyframe, &p.data, None).map_err(io)?;
    }
    let (_, finished) = mux.finish();
    finished.map_err(io)?;
    Ok(video_end / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(track: Track, ts_ms: i64, keyframe: bool, bytes: usize) -> MuxPacket {
        MuxPacket {
            track,
            time: Timing {
                ts_ms,
                end_ms: ts_ms as f64 + 10.0,
                ..Timing::default()
            },
            keyframe,
            data: vec![0; bytes],
            discard_padding_ns: None,
        }
    }

    /// Seconds of video held (from the first keyframe to the newest packet).
    fn held_seconds(ring: &ReplayRing) -> f64 {
        match (ring.keys.front(), ring.packets.back()) {
            (Some(&k), Some(last)) => {
                (last.time.end_ms - ring.packets[(k - ring.first_seq) as usize].time.ts_ms as f64) / 1000.0
            }
            _ => 0.0,
        }
    }

    /// 10 ms video frames with a keyframe every second, 20 ms audio packets.
    fn fill(ring: &mut ReplayRing, seconds: i64) {
        for ms in (0..seconds * 1000).step_by(10) {
            ring.push(&packet(Track::Video, ms, ms % 1000 == 0, 100));
            if ms % 20 == 0 {
                ring.push(&packet(Track::Audio, ms, true, 10));
            }
        }
    }

    #[test]
    fn keeps_at_least_the_asked_seconds_from_a_keyframe() {
        let mut ring = ReplayRing::new(3.0, u64::MAX);
        fill(&mut ring, 10);
        let first = &ring.packets[0];
        assert!(first.track == Track::Video && first.keyframe, "starts at a keyframe");
        let held = held_seconds(&ring);
        assert!(
            (3.0..=4.0).contains(&held),
            "held {held} s for a 3 s ring with 1 s keyframe intervals"
        );
        let last2 = ring.last(2.0);
        assert_eq!(
            last2[0].time.ts_ms, 7000,
            "the newest keyframe at least 2 s before the end (9.99 s)"
        );
        assert!(last2[0].keyframe);
        let all = ring.last(60.0);
        assert_eq!(
            all[0].time.ts_ms, ring.packets[0].time.ts_ms,
            "asking for more than held gives all"
        );
    }

    #[test]
    fn byte_budget_drops_whole_intervals() {
        let mut ring = ReplayRing::new(60.0, 25_000);
        fill(&mut ring, 10);
        assert!(ring.bytes <= 25_000);
        assert!(ring.packets[0].keyframe);
        // 10.5 kB a second: the two newest intervals fit, not three.
        assert_eq!(ring.packets[0].time.ts_ms, 8000);
    }

    /// A slow game's keyframe interval can last minutes (it is counted in frames at the
    /// nominal rate): the budget holds inside it too, at every packet. The interval that grows
    /// past it is dropped, a replay asked for then says why it is empty, and the ring fills
    /// again from the next keyframe.
    #[test]
    fn the_byte_budget_holds_between_keyframes() {
        let mut ring = ReplayRing::new(60.0, 25_000);
        let mut most = 0;
        for ms in (0..5000).step_by(10) {
            // One keyframe at 0, the next at 4 s: 400 frames of 100 bytes in between.
            ring.push(&packet(Track::Video, ms, ms % 4000 == 0, 100));
            most = most.max(ring.bytes);
        }
        assert!(most <= 25_000, "held {most} bytes with a budget of 25000");
        assert_eq!(ring.packets[0].time.ts_ms, 4000, "held again from the keyframe at 4 s");
        let mut over = ReplayRing::new(60.0, 25_000);
        fill_one_interval(&mut over, 3000);
        let (tx, rx) = std::sync::mpsc::channel();
        let video = VideoTrack {
            coded_width: 64,
            coded_height: 64,
            display_width: 64,
            display_height: 64,
            fps: 100,
            av1c: Vec::new(),
        };
        let audio = AudioTrack {
            codec: crate::config::AudioCodec::Opus,
            sample_rate: 48_000,
            channels: 2,
            codec_private: Vec::new(),
            delay: 312,
            frame_samples: 960,
        };
        let writer = over.save(
            "unused.webm".into(),
            5.0,
            Some(Container::WebM),
            (video, audio),
            move |s| {
                let _ = tx.send(s);
            },
        );
        assert!(writer.is_none(), "nothing to write");
        let why = rx.recv().unwrap().result.unwrap_err();
        assert!(why.contains("replay_max_mb"), "{why}");
    }

    /// `ms` of 10 ms video frames of 100 bytes after one keyframe.
    fn fill_one_interval(ring: &mut ReplayRing, ms: i64) {
        for t in (0..ms).step_by(10) {
            ring.push(&packet(Track::Video, t, t == 0, 100));
        }
    }

    /// The pre-roll comes from inside the ring where it can, and from what the ring trimmed when
    /// the replay starts at the oldest keyframe held: either way the audio packet just before it.
    #[test]
    fn a_replay_has_an_audio_packet_of_pre_roll_even_from_the_oldest_keyframe() {
        let mut ring = ReplayRing::new(3.0, u64::MAX);
        fill(&mut ring, 10);
        let from_inside = ring.start(2.0).and_then(|i| ring.audio_before(i)).unwrap();
        assert_eq!(from_inside.time.ts_ms, 6980, "the audio packet before the 7 s keyframe");
        let oldest = ring.start(60.0).unwrap();
        assert_eq!(
            oldest, 0,
            "60 s is more than held: the replay starts at the oldest keyframe"
        );
        let trimmed = ring.audio_before(oldest).expect("the trimmed audio packet is kept");
        assert!(trimmed.track == Track::Audio);
        assert_eq!(trimmed.time.ts_ms, ring.packets[0].time.ts_ms - 20);
        let fresh = {
            let mut r = ReplayRing::new(60.0, u64::MAX);
            fill(&mut r, 2);
            r.audio_before(0)
        };
        assert!(fresh.is_none(), "nothing was recorded before the first keyframe");
    }

    #[test]
    fn an_empty_ring_saves_nothing_and_says_why() {
        let ring = ReplayRing::new(10.0, u64::MAX);
        assert!(ring.last(5.0).is_empty());
        assert_eq!(held_seconds(&ring), 0.0);
    }
}
