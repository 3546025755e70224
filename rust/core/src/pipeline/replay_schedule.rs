//! When replays are written. "The last N seconds" end at the newest frame handed over when
//! `save_replay` is called, which may still be inside the encoder's look-ahead: the save waits
//! until that frame's packet has reached the ring, then writes on a thread of its own. The
//! recording's end starts every save still waiting and waits for the writers. Apart from the
//! worker loop, which only tells it of requests and packets, and from the ring (`replay.rs`),
//! which only keeps packets.

use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use super::messages::Event;
use super::replay::{ReplayRing, ReplaySaved};
use crate::mux::{AudioTrack, MuxPacket, Track, VideoTrack};

/// Most replays written at once: each is a thread and an open file; more saves wait their turn
/// (a game that saves on every kill must not start a thread each time).
pub(super) const MAX_WRITERS: usize = 2;

struct PendingReplay {
    path: PathBuf,
    seconds: f64,
    /// Capture time of the newest frame when it was asked for; `None`: no frame yet.
    until_ms: Option<i64>,
}

/// The replay ring (if the recording keeps one), the saves waiting for their last frame and
/// those being written.
pub(super) struct ReplaySchedule {
    ring: Option<ReplayRing>,
    pending: Vec<PendingReplay>,
    /// Time of the newest video packet in the replay ring.
    ring_video_ms: Option<i64>,
    /// Replays being written (at most [`MAX_WRITERS`]); the recording's end waits for them.
    writers: Vec<JoinHandle<()>>,
}

impl ReplaySchedule {
    pub fn new(ring: Option<ReplayRing>) -> Self {
        Self {
            ring,
            pending: Vec::new(),
            ring_video_ms: None,
            writers: Vec::new(),
        }
    }

    /// A save of the last `seconds` up to the frame captured at `until_ms`.
    pub fn request(&mut self, path: PathBuf, seconds: f64, until_ms: Option<i64>) {
        self.pending.push(PendingReplay {
            path,
            seconds,
            until_ms,
        });
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Keeps a packet written in file order, if there is a ring.
    pub fn keep(&mut self, p: &MuxPacket) {
        if let Some(ring) = &mut self.ring {
            ring.push(p);
            if p.track == Track::Video {
                self.ring_video_ms = Some(p.time.ts_ms);
            }
        }
    }

    /// Starts writing every requested replay whose last frame has reached the ring (all of
    /// them when `all`: the recording is ending), in the order asked, while fewer than
    /// [`MAX_WRITERS`] are being written (when `all`, waiting for them); each outcome goes to
    /// `events`.
    pub fn save_due(&mut self, all: bool, tracks: Option<&(VideoTrack, AudioTrack)>, events: &Sender<Event>) {
        let newest = self.ring_video_ms;
        let is_due = |r: &PendingReplay| all || r.until_ms.is_none_or(|until| newest.is_some_and(|n| n >= until));
        while let Some(i) = self.pending.iter().position(is_due) {
            let (finished, running): (Vec<_>, Vec<_>) = self.writers.drain(..).partition(JoinHandle::is_finished);
            self.writers = running;
            finished.into_iter().for_each(|w| drop(w.join()));
            if self.writers.len() >= MAX_WRITERS {
                if !all {
                    return;
                }
                drop(self.writers.remove(0).join());
            }
            let PendingReplay { path, seconds, .. } = self.pending.remove(i);
            let why_not = match (&self.ring, tracks) {
                (Some(ring), Some(tracks)) => {
                    let container = crate::config::Container::from_path(&path);
                    let events = events.clone();
                    let report = move |saved| {
                        let _ = events.send(Event::ReplaySaved(saved));
                    };
                    let writer = ring.save(path.clone(), seconds, container, tracks.clone(), report);
                    self.writers.extend(writer);
                    continue;
                }
                (None, _) => "the replay buffer is off (replay length 0)",
                (_, None) => "nothing has been encoded yet",
            };
            let _ = events.send(Event::ReplaySaved(ReplaySaved {
                path,
                result: Err(why_not.into()),
            }));
        }
    }

    /// Waits for every replay being written.
    pub fn join_writers(&mut self) {
        for writer in self.writers.drain(..) {
            let _ = writer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AudioCodec;
    use crate::mux::Timing;

    /// Five saves asked for at once start no more than [`MAX_WRITERS`] threads; the rest wait
    /// their turn, and the recording's end writes every one of them.
    #[test]
    fn replays_asked_for_at_once_are_written_a_few_at_a_time() {
        let mut ring = ReplayRing::new(10.0, 64 << 20);
        for ms in (0..2000).step_by(10) {
            ring.push(&MuxPacket {
                track: Track::Video,
                time: Timing {
                    ts_ms: ms,
                    end_ms: ms as f64 + 10.0,
                    ..Timing::default()
                },
                keyframe: ms % 1000 == 0,
                data: vec![0; 20_000],
                discard_padding_ns: None,
            });
        }
        let video = VideoTrack {
            coded_width: 64,
            coded_height: 64,
            display_width: 64,
            display_height: 64,
            fps: 100,
            av1c: Vec::new(),
        };
        let audio = AudioTrack {
            codec: AudioCodec::Opus,
            sample_rate: 48_000,
            channels: 2,
            codec_private: Vec::new(),
            delay: 312,
            frame_samples: 960,
        };
        let dir = std::env::temp_dir().join(format!("mwav1-replay-writers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut schedule = ReplaySchedule::new(Some(ring));
        for i in 0..5 {
            schedule.request(dir.join(format!("r{i}.mkv")), 2.0, None);
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let tracks = (video, audio);
        schedule.save_due(false, Some(&tracks), &tx);
        let started = schedule.writers.len();
        assert!(started <= 2, "{started} writer threads at once");
        schedule.save_due(true, Some(&tracks), &tx);
        schedule.join_writers();
        let saved: Vec<_> = rx
            .try_iter()
            .filter_map(|e| match e {
                Event::ReplaySaved(s) => Some(s.result.map(|_| s.path)),
                _ => None,
            })
            .collect();
        assert_eq!(saved.len(), 5, "{saved:?}");
        assert!(saved.iter().all(Result::is_ok), "{saved:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
