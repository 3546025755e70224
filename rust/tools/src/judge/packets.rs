//! The AV1 track's packets, read through FFmpeg's demuxer (Matroska blocks and MP4 samples as
//! they are stored, with the container's keyframe flag), reduced to what the judge asks of
//! them: which keyframes carry a sequence header, and whether each is the first one's.

use std::path::Path;

use ffmpeg_next::ffi;

use super::HeaderError;
use movie_writer_av1_core::av1;
use movie_writer_av1_core::mux::demux::Demuxer;

/// How many frame numbers a finding lists before it only counts.
const LISTED: usize = 8;

/// What the packets of the AV1 track say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Packets {
    pub frames: u64,
    pub keyframes: u64,
    pub first_is_keyframe: bool,
    /// The sequence header OBU of the first packet, as stored.
    pub first_header: Option<Vec<u8>>,
    /// Keyframes (frame numbers, the first [`LISTED`]) without a sequence header, and how many.
    pub without_header: (Vec<u64>, u64),
    /// Keyframes whose sequence header differs from the first packet's, and how many.
    pub other_header: (Vec<u64>, u64),
}

fn note(list: &mut (Vec<u64>, u64), frame: u64) {
    if list.0.len() < LISTED {
        list.0.push(frame);
    }
    list.1 += 1;
}

impl Packets {
    /// Takes the next packet of the track, in decoding order.
    pub fn add(&mut self, data: &[u8], keyframe: bool) {
        let frame = self.frames;
        self.frames += 1;
        let header = av1::find_sequence_header(data);
        if frame == 0 {
            self.first_is_keyframe = keyframe;
            self.first_header = header.map(<[u8]>::to_vec);
        }
        if !keyframe {
            return;
        }
        self.keyframes += 1;
        match header {
            None => note(&mut self.without_header, frame),
            Some(h) if self.first_header.as_deref().is_some_and(|first| first != h) => {
                note(&mut self.other_header, frame);
            }
            Some(_) => {}
        }
    }
}

/// Reads the first AV1 track of the file at `path`, handing each packet (and whether the
/// container marks it a keyframe) to `each` too.
pub(crate) fn read(path: &Path, each: &mut dyn FnMut(&[u8], bool)) -> Result<Packets, HeaderError> {
    movie_writer_av1_core::quiet::apply();
    let (opened, log) = movie_writer_av1_core::ffmpeg_log::capture(|| Demuxer::open(path));
    let mut input =
        opened.map_err(|e| HeaderError::Malformed(format!("FFmpeg cannot read it: {e} {}", log.join("; "))))?;
    let video = input
        .streams()
        .iter()
        // SAFETY: the streams and their parameters live as long as `input`.
        .position(|&st| unsafe { (*(*st).codecpar).codec_id } == ffi::AVCodecID::AV_CODEC_ID_AV1)
        .ok_or_else(|| HeaderError::NoTrack("FFmpeg finds no AV1 track".into()))?;
    // SAFETY: plain allocation, freed below on every path.
    let mut packet = unsafe { ffi::av_packet_alloc() };
    if packet.is_null() {
        return Err(HeaderError::Malformed("out of memory".into()));
    }
    let mut out = Packets::default();
    let result = loop {
        // SAFETY: the packet is allocated above and unreferenced after each use below.
        let (read, log) = movie_writer_av1_core::ffmpeg_log::capture(|| unsafe { input.read_into(packet) });
        match read {
            Err(e) => {
                break Err(HeaderError::Malformed(format!(
                    "cannot be read to its end: {e} {}",
                    log.join("; ")
                )))
            }
            Ok(false) => break Ok(()),
            Ok(true) => {}
        }
        // SAFETY: read_into filled the packet: `data` holds `size` bytes until the unref.
        unsafe {
            let p = &*packet;
            if p.stream_index as usize == video {
                let data = if p.size > 0 {
                    std::slice::from_raw_parts(p.data, p.size as usize)
                } else {
                    &[][..]
                };
                let keyframe = p.flags & ffi::AV_PKT_FLAG_KEY != 0;
                out.add(data, keyframe);
                each(data, keyframe);
            }
            ffi::av_packet_unref(packet);
        }
    };
    // SAFETY: allocated above; av_packet_free unrefs it too.
    unsafe { ffi::av_packet_free(&mut packet) };
    result.map(|()| out)
}
