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
    /// Replays being written; the recording's end waits for them.
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
    /// them when `all`: the recording is ending); each outcome goes to `events`.
    pub fn save_due(&mut self, all: bool, tracks: Option<&(VideoTrack, AudioTrack)>, events: &Sender<Event>) {
        let newest = self.ring_video_ms;
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|r| all || r.until_ms.is_none_or(|until| newest.is_some_and(|n| n >= until)));
        self.pending = waiting;
        for PendingReplay { path, seconds, .. } in due {
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
