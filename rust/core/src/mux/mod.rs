//! Container output: an EBML writer, a Matroska/WebM muxer, and the interleaver that orders
//! audio and video blocks by time.

pub mod ebml;
mod interleave;
pub mod matroska;

pub use interleave::{Interleaver, MuxPacket, Track};
pub use matroska::{AudioTrack, MatroskaWriter, VideoTrack};
