//! Container output: an EBML writer and a Matroska/WebM muxer of our own, MP4 through FFmpeg's
//! mov muxer, and the interleaver that orders audio and video packets by time; reading files
//! back through FFmpeg's demuxers.

pub mod demux;
pub mod ebml;
mod interleave;
pub mod matroska;
pub mod mp4;
mod output;
pub mod staged;

pub use interleave::{Interleaver, MuxPacket, Track};
pub use matroska::MatroskaWriter;
pub use mp4::Mp4Writer;
pub use output::Output;
pub use staged::StagedFile;

use crate::av1::Colour;
use crate::config::AudioCodec;

/// Ticks per video frame on the video track's clock (see [`VideoTrack::timescale`]).
pub const TICKS_PER_FRAME: i64 = 1000;

/// Where a packet lies in time, in the terms each container needs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// Matroska block time, and the order packets are written in, in ms.
    pub ts_ms: i64,
    /// Where the packet's content ends on the presentation timeline, in ms.
    pub end_ms: f64,
    /// Exact start in the track's own units: video ticks ([`VideoTrack::timescale`] per
    /// second); audio samples counted from the first decoded sample, the codec delay included.
    pub pts: i64,
    /// Exact length in the same units; for the last audio packet without its trimmed padding.
    pub duration: i64,
}

#[derive(Debug, Clone)]
pub struct VideoTrack {
    /// Size the encoder was opened at. The file's pixel size is the frame size of the sequence
    /// header in `av1c`, which is what decoders output: hardware encoders may pad further than
    /// they were asked to (AMD codes 1080 rows as 1088), and only the bitstream says so. This
    /// size stands in only where `av1c` carries no readable sequence header.
    pub coded_width: u32,
    pub coded_height: u32,
    /// Size to show; smaller than the pixel size when the encoder padded (cropped right/bottom).
    pub display_width: u32,
    pub display_height: u32,
    pub fps: u32,
    /// AV1CodecConfigurationRecord.
    pub av1c: Vec<u8>,
}

impl VideoTrack {
    /// PixelWidth/PixelHeight: the sequence header's maximum frame size (every backend codes
    /// all frames at it: none sets frame_size_override_flag), else the encoder's coded size.
    pub fn pixel_size(&self) -> (u32, u32) {
        self.av1c
            .get(4..)
            .and_then(crate::av1::parse_sequence_header)
            .map_or((self.coded_width, self.coded_height), |s| (s.max_width, s.max_height))
    }

    /// The colour description the container repeats: the sequence header's; where the stream
    /// leaves primaries, transfer and matrix unspecified (or has no readable sequence header),
    /// BT.709, which is what the colour converter and every backend produce.
    pub fn colour(&self) -> Colour {
        let stream = self.av1c.get(4..).and_then(crate::av1::parse_sequence_header);
        match stream {
            Some(s) if s.colour.described => s.colour,
            other => Colour {
                described: true,
                primaries: Colour::BT709,
                transfer: Colour::BT709,
                matrix: Colour::BT709,
                full_range: other.is_some_and(|s| s.colour.full_range),
            },
        }
    }

    /// The stream's chroma_sample_position (0 unknown, 1 vertical: left and between two rows,
    /// 2 colocated with the top-left luma sample), 0 without a readable sequence header.
    pub fn chroma_sample_position(&self) -> u8 {
        self.av1c
            .get(4..)
            .and_then(crate::av1::parse_sequence_header)
            .map_or(0, |s| s.chroma_sample_position)
    }

    /// Ticks per second: a multiple of the frame rate, so Movie Maker's frames fall on exact
    /// ticks, and fine enough (1/1000 frame) to place live captures where they were taken.
    pub fn timescale(&self) -> i64 {
        i64::from(self.fps) * TICKS_PER_FRAME
    }
}

#[derive(Debug, Clone)]
pub struct AudioTrack {
    pub codec: AudioCodec,
    pub sample_rate: u32,
    pub channels: u32,
    /// OpusHead or AAC's AudioSpecificConfig.
    pub codec_private: Vec<u8>,
    /// Samples before the first real one (Opus pre-skip, AAC priming); CodecDelay in Matroska,
    /// the edit list in MP4.
    pub delay: u32,
    /// Samples per packet.
    pub frame_samples: u32,
}
