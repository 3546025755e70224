//! What every backend implements and shares: the [`VideoEncoder`] trait, what
//! `receive_packet` returns ([`Received`]), and two helpers. A leaf of `backend/`: the backends
//! import this module and `kinds`, never the table in `mod.rs`, so no import runs back up.

use crate::error::Result;
use crate::frame::VideoFrame;
use crate::kinds::BackendKind;

/// What `receive_packet` produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A temporal unit was written into the caller's buffer; `pts` is the frame index.
    Packet { pts: u64, keyframe: bool },
    /// Send more frames (or `flush`) before asking again.
    NeedMoreInput,
    /// Flushed: no packet will ever come again.
    Done,
}

pub trait VideoEncoder: Send {
    fn kind(&self) -> BackendKind;

    /// Size of the coded frames: at least the display size, rounded up to what the encoder
    /// accepts. The container crops back to the display size.
    fn coded_size(&self) -> (u32, u32);

    /// The Sequence Header OBU, when the encoder hands it out before the first packet.
    fn sequence_header(&self) -> Option<&[u8]>;

    /// Submits frame `index` (frames must come in order, each exactly once).
    fn send_frame(&mut self, frame: &VideoFrame<'_>, index: u64) -> Result<()>;

    /// Whether this encoder takes RGB(A) as is (it converts colour itself), so a caller that can
    /// choose should hand over RGB rather than I420.
    fn prefers_rgb(&self) -> bool {
        false
    }

    /// Signals the end of input; `receive_packet` then drains what is left and ends in `Done`.
    fn flush(&mut self) -> Result<()>;

    /// Writes the next packet into `out` (replacing its contents).
    fn receive_packet(&mut self, out: &mut Vec<u8>) -> Result<Received>;
}

/// One `avcodec_receive_packet` as our trait's [`Received`]: EAGAIN is "need more input" and
/// EOF is "done", both normal flow; the packet's data goes into `out`. Shared by the backends
/// that drive an FFmpeg encoder.
pub(super) fn receive_ffmpeg_packet(
    encoder: &mut ffmpeg_next::encoder::video::Encoder,
    packet: &mut ffmpeg_next::Packet,
    out: &mut Vec<u8>,
) -> std::result::Result<Received, ffmpeg_next::Error> {
    match encoder.receive_packet(packet) {
        Ok(()) => {
            out.clear();
            out.extend_from_slice(packet.data().unwrap_or_default());
            Ok(Received::Packet {
                pts: packet.pts().unwrap_or(0).max(0) as u64,
                keyframe: packet.is_key(),
            })
        }
        Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::util::error::EAGAIN => {
            Ok(Received::NeedMoreInput)
        }
        Err(ffmpeg_next::Error::Eof) => Ok(Received::Done),
        Err(e) => Err(e),
    }
}

/// The smallest even size ≥ (width, height) and ≥ `min`: what 4:2:0 encoders accept.
pub fn coded_size(width: u32, height: u32, min: u32) -> (u32, u32) {
    let even = |v: u32| (v + 1) & !1;
    (even(width).max(min), even(height).max(min))
}
