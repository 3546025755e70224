//! Orders encoded packets by timestamp across tracks before they reach the muxer.
//!
//! Audio packets are ready as soon as their samples arrive, while AV1 packets come out of the
//! encoder after its look-ahead, so audio waits here until video has caught up. Packet buffers
//! are recycled so steady-state recording allocates nothing per frame.

use std::collections::VecDeque;

use super::Timing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Video,
    Audio,
}

#[derive(Debug)]
pub struct MuxPacket {
    pub track: Track,
    pub time: Timing,
    pub keyframe: bool,
    pub data: Vec<u8>,
    /// Only for the last audio packet: decoded samples to drop at its end (Matroska).
    pub discard_padding_ns: Option<i64>,
}

#[derive(Default)]
pub struct Interleaver {
    video: VecDeque<MuxPacket>,
    audio: VecDeque<MuxPacket>,
    /// Emptied packet buffers, kept per track: a video packet is often a hundred times the size
    /// of an Opus packet, so with one shared stack video kept regrowing former audio buffers.
    spare_video: Vec<Vec<u8>>,
    spare_audio: Vec<Vec<u8>>,
}

impl Interleaver {
    /// An empty buffer to fill with a `track` packet's data, reused from an earlier packet of
    /// that track when possible.
    pub fn buffer(&mut self, track: Track) -> Vec<u8> {
        self.spare(track).pop().unwrap_or_default()
    }

    pub fn recycle(&mut self, track: Track, mut data: Vec<u8>) {
        data.clear();
        self.spare(track).push(data);
    }

    fn spare(&mut self, track: Track) -> &mut Vec<Vec<u8>> {
        match track {
            Track::Video => &mut self.spare_video,
            Track::Audio => &mut self.spare_audio,
        }
    }

    pub fn push(&mut self, packet: MuxPacket) {
        match packet.track {
            Track::Video => self.video.push_back(packet),
            Track::Audio => self.audio.push_back(packet),
        }
    }

    /// The next packet in time order, if it can be known yet. `draining` = no more packets will
    /// arrive, so whatever is queued goes out.
    pub fn pop(&mut self, draining: bool) -> Option<MuxPacket> {
        let take_video = match (self.video.front(), self.audio.front()) {
            (Some(v), Some(a)) => v.time.ts_ms <= a.time.ts_ms,
            (Some(_), None) | (None, Some(_)) if !draining => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if take_video {
            self.video.pop_front()
        } else {
            self.audio.pop_front()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(track: Track, ts_ms: i64) -> MuxPacket {
        MuxPacket {
            track,
            time: Timing {
                ts_ms,
                ..Timing::default()
            },
            keyframe: false,
            data: Vec::new(),
            discard_padding_ns: None,
        }
    }

    #[test]
    fn orders_by_time_and_waits_for_the_slower_track() {
        let mut il = Interleaver::default();
        for ts in [0, 20, 40, 60] {
            il.push(pkt(Track::Audio, ts));
        }
        assert!(il.pop(false).is_none(), "audio must wait for video");
        il.push(pkt(Track::Video, 0));
        il.push(pkt(Track::Video, 33));
        let order: Vec<_> = std::iter::from_fn(|| il.pop(false))
            .map(|p| (p.track, p.time.ts_ms))
            .collect();
        assert_eq!(
            order,
            [
                (Track::Video, 0),
                (Track::Audio, 0),
                (Track::Audio, 20),
                (Track::Video, 33)
            ]
        );
        let rest: Vec<_> = std::iter::from_fn(|| il.pop(true)).map(|p| p.time.ts_ms).collect();
        assert_eq!(rest, [40, 60]);
    }
}
