//! MP4 (ISO-BMFF) through FFmpeg's mov muxer: an `av01` track with `av1C`, `colr` (nclx, the
//! stream's colour description) and, for padded odd sizes, `clap`; an AAC (`mp4a`) or Opus track
//! whose delay is an edit list. Why FFmpeg's muxer and not our own: see ARCHITECTURE.md.
//!
//! Crash safety works like OBS's "hybrid MP4": while recording ([`Layout::Fragmented`]) the file
//! is a fragmented MP4 whose moov is written with the first fragment and whose fragments (moof +
//! mdat) go to disk at most every [`FRAGMENT_US`], so a killed process leaves a file that plays
//! up to its last fragment. [`Mp4Writer::finish`] then reads the fragments back and writes an
//! ordinary MP4 beside it, with one complete moov in front of the media (`+faststart`), and
//! renames it over the fragmented one: editors that handle fragments badly get a plain file, and
//! a crash during that step still leaves the complete fragmented file.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};
use std::ptr;

use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;

use super::demux::{c_path, Demuxer};
use super::{AudioTrack, Timing, Track, VideoTrack};
use crate::config::AudioCodec;

/// Longest a fragment runs before it is written out: bounds what a crash can lose.
pub const FRAGMENT_US: i64 = 500_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Fragments while recording, one moov after [`Mp4Writer::finish`].
    Fragmented,
    /// One moov only, in front of the media (for files written in one go, like replays).
    Progressive,
}

pub struct Mp4Writer {
    out: Muxer,
    path: PathBuf,
    layout: Layout,
    /// Time base of what we hand in: video ticks, audio samples.
    video_tb: ffi::AVRational,
    audio_tb: ffi::AVRational,
    audio_delay: i64,
    /// Packets written per stream (video, audio), to check the rewritten file against.
    written: [u64; 2],
    /// Each stream's first time as handed in (video ticks; audio samples, delay removed).
    first: [Option<i64>; 2],
    /// Bytes on disk after the last successful write: whole fragments only, since every
    /// fragment is flushed by the call that completes it.
    committed: u64,
    /// A write failed (disk full): the file was cut back to `committed` and is left as it is.
    failed: bool,
}

fn ff_io(what: &str, rc: i32) -> io::Error {
    io::Error::other(format!("MP4 {what}: {}", ffmpeg::Error::from(rc)))
}

impl Mp4Writer {
    pub fn create(path: &Path, video: &VideoTrack, audio: &AudioTrack, layout: Layout) -> io::Result<Self> {
        ffmpeg::init().map_err(|e| io::Error::other(format!("FFmpeg did not initialise: {e}")))?;
        let video_tb = rational(1, video.timescale());
        let audio_tb = rational(1, i64::from(audio.sample_rate));
        let mut out = Muxer::alloc(path)?;
        // SAFETY: the streams belong to `out`, which outlives these writes; codecpar fields are
        // plain data, and extradata/side data are allocated with FFmpeg's allocator as required.
        unsafe {
            let st = out.new_stream()?;
            let par = &mut *(*st).codecpar;
            par.codec_type = ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
            par.codec_id = ffi::AVCodecID::AV_CODEC_ID_AV1;
            let (pw, ph) = video.pixel_size();
            par.width = pw as i32;
            par.height = ph as i32;
            par.format = ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32;
            // `colr` repeats the stream's description, as Matroska's Colour does (see
            // `VideoTrack::colour`): a container that contradicts the bitstream makes players
            // that trust it show other colours.
            let colour = video.colour();
            par.color_range = match colour.full_range {
                true => ffi::AVColorRange::AVCOL_RANGE_JPEG,
                false => ffi::AVColorRange::AVCOL_RANGE_MPEG,
            };
            (par.color_primaries, par.color_trc, par.color_space) = colr(colour);
            par.chroma_location = ffi::AVChromaLocation::AVCHROMA_LOC_LEFT;
            set_extradata(par, &video.av1c)?;
            if (pw, ph) != (video.display_width, video.display_height) {
                // Written as `clap`: the encoder padded an odd size to an even one.
                let crop = [
                    0,
                    ph.saturating_sub(video.display_height),
                    0,
                    pw.saturating_sub(video.display_width),
                ];
                let sd = ffi::av_packet_side_data_new(
                    &mut par.coded_side_data,
                    &mut par.nb_coded_side_data,
                    ffi::AVPacketSideDataType::AV_PKT_DATA_FRAME_CROPPING,
                    16,
                    0,
                );
                if sd.is_null() {
                    return Err(io::Error::from(io::ErrorKind::OutOfMemory));
                }
                let bytes: Vec<u8> = crop.iter().flat_map(|v| v.to_le_bytes()).collect();
                ptr::copy_nonoverlapping(bytes.as_ptr(), (*sd).data, 16);
            }
            (*st).time_base = video_tb;
            (*st).avg_frame_rate = rational(i64::from(video.fps), 1);

            let st = out.new_stream()?;
            let par = &mut *(*st).codecpar;
            par.codec_type = ffi::AVMediaType::AVMEDIA_TYPE_AUDIO;
            par.codec_id = match audio.codec {
                AudioCodec::Aac => ffi::AVCodecID::AV_CODEC_ID_AAC,
                AudioCodec::Opus => ffi::AVCodecID::AV_CODEC_ID_OPUS,
                // Recordings refuse PCM in .mp4 (validate); a live capture's replay saved as
                // .mp4 may still carry it, and FFmpeg's muxer says whether it can.
                AudioCodec::Pcm => ffi::AVCodecID::AV_CODEC_ID_PCM_F32LE,
            };
            par.sample_rate = audio.sample_rate as i32;
            ffi::av_channel_layout_default(&mut par.ch_layout, audio.channels as i32);
            par.frame_size = audio.frame_samples as i32;
            par.initial_padding = audio.delay as i32;
            set_extradata(par, &audio.codec_private)?;
            (*st).time_base = audio_tb;
        }
        // The movie clock (durations, edit lists) runs at the video clock, so an edit that
        // delays the video (a live capture's first frame) is exact rather than whole ms.
        let clock = ("movie_timescale", video.timescale().to_string());
        let options = match layout {
            // delay_moov: the moov waits for the first fragment, so it can carry the audio's
            // edit list (the codec delay) instead of shifting both tracks.
            Layout::Fragmented => vec![
                ("movflags", "+delay_moov+default_base_moof".to_string()),
                ("frag_duration", FRAGMENT_US.to_string()),
                clock,
            ],
            Layout::Progressive => vec![("movflags", "+faststart".to_string()), clock],
        };
        out.open_and_write_header(path, &options, layout == Layout::Fragmented)?;
        let committed = out.position();
        Ok(Self {
            out,
            path: path.to_path_buf(),
            layout,
            video_tb,
            audio_tb,
            audio_delay: i64::from(audio.delay),
            written: [0; 2],
            first: [None; 2],
            committed,
            failed: false,
        })
    }

    /// Bytes of whole fragments (and the header) on disk.
    pub fn on_disk(&self) -> u64 {
        self.committed
    }

    /// The file was renamed while open (see `StagedFile`): what is done by path later (the cut
    /// after a failed write, the rewrite with one moov) goes to its new name. Only for
    /// [`Layout::Fragmented`]: the progressive layout's `+faststart` opens the file again by the
    /// name FFmpeg was given.
    pub fn moved_to(&mut self, path: &Path) {
        self.path = path.to_path_buf();
    }

    pub fn write(&mut self, track: Track, time: &Timing, keyframe: bool, data: &[u8]) -> io::Result<()> {
        let (index, tb, pts) = match track {
            Track::Video => (0, self.video_tb, time.pts),
            // The edit list skips the delay: the first real sample is at 0.
            Track::Audio => (1, self.audio_tb, time.pts - self.audio_delay),
        };
        if let Err(e) = self.out.write(index, tb, pts, time.duration, keyframe, data) {
            // Cut a half-written fragment off, so the file ends on a whole one and plays.
            self.failed = true;
            self.out.abandon();
            if self.layout == Layout::Fragmented {
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .and_then(|f| f.set_len(self.committed));
            }
            return Err(e);
        }
        self.written[index] += 1;
        self.first[index].get_or_insert(pts);
        self.committed = self.out.position();
        Ok(())
    }

    /// Writes the trailer and, for [`Layout::Fragmented`], rewrites the file with one moov.
    /// Returns the file's size and the first error; if only the rewrite failed, the error says
    /// so and the complete fragmented file is kept.
    pub fn finish(self) -> (u64, io::Result<()>) {
        let Self {
            out,
            path,
            layout,
            written,
            first,
            video_tb,
            audio_tb,
            failed,
            ..
        } = self;
        if failed {
            // The write that failed returned its error; the file stays as it was cut.
            drop(out);
            return (std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), Ok(()));
        }
        let mut result = out.finish();
        if result.is_ok() && layout == Layout::Fragmented {
            let first = [(first[0].unwrap_or(0), video_tb), (first[1].unwrap_or(0), audio_tb)];
            result = defragment(&path, written, first).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "the recording is complete, but stays a fragmented MP4 (it plays; some editors may not open it): {e}"
                    ),
                )
            });
        }
        (std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), result)
    }
}

/// Reads the fragmented file at `path` and writes it again with one moov in front of the media,
/// replacing it only when every packet made it across.
fn defragment(path: &Path, written: [u64; 2], first: [(i64, ffi::AVRational); 2]) -> io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".finishing");
    let tmp = path.with_file_name(name);
    let copied = copy_packets(path, &tmp, written, first);
    // On disk before it replaces the fragmented file: a power cut after the rename must not
    // find the name pointing at a file whose bytes never got there.
    let synced = copied.and_then(|()| std::fs::OpenOptions::new().write(true).open(&tmp)?.sync_all());
    match synced.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn copy_packets(from: &Path, to: &Path, written: [u64; 2], first: [(i64, ffi::AVRational); 2]) -> io::Result<()> {
    let mut input = Demuxer::open(from)?;
    let mut out = Muxer::alloc(to)?;
    let streams = input.streams();
    if streams.len() != 2 {
        return Err(io::Error::other(format!("read back {} tracks, wrote 2", streams.len())));
    }
    let mut tbs = Vec::new();
    for &ist in &streams {
        // SAFETY: both streams are valid while their contexts live; parameters are deep-copied.
        unsafe {
            let st = out.new_stream()?;
            let rc = ffi::avcodec_parameters_copy((*st).codecpar, (*ist).codecpar);
            if rc < 0 {
                return Err(ff_io("copying track parameters", rc));
            }
            (*(*st).codecpar).codec_tag = 0;
            (*st).time_base = (*ist).time_base;
            (*st).avg_frame_rate = (*ist).avg_frame_rate;
            tbs.push((*ist).time_base);
        }
    }
    let clock = ("movie_timescale", tbs[0].den.to_string());
    out.open_and_write_header(to, &[("movflags", "+faststart".to_string()), clock], false)?;
    // The demuxer applies the edit list to what it reads; the copy must carry the times the
    // packets were first written with (a live capture's first frame is not at 0, audio starts
    // at minus its delay), so that the new file's edit lists are the same.
    // SAFETY: plain arithmetic on rationals.
    let first = [0, 1].map(|i| unsafe { ffi::av_rescale_q(first[i].0, first[i].1, tbs[i]) });
    let mut offset: [Option<i64>; 2] = [None, None];
    let mut copied = [0u64; 2];
    // Each packet goes from the demuxer to the muxer as it is: no copy of its data.
    // SAFETY: out.packet is allocated, and unreferenced after each packet (muxed or dropped).
    while unsafe { input.read_into(out.packet) }? {
        // SAFETY: read_into filled the packet; the muxer takes it (or it is unreferenced).
        let p = unsafe { &mut *out.packet };
        let i = p.stream_index as usize;
        if i > 1 {
            // SAFETY: the packet is ours (read_into filled it) and nothing else refers to it.
            unsafe { ffi::av_packet_unref(out.packet) };
            continue;
        }
        let pts = if p.pts == ffi::AV_NOPTS_VALUE { p.dts } else { p.pts };
        let shift = *offset[i].get_or_insert(first[i] - pts);
        p.pts = pts + shift;
        p.dts = p.pts;
        p.flags &= ffi::AV_PKT_FLAG_KEY;
        out.send(i, tbs[i])?;
        copied[i] += 1;
    }
    if copied != written {
        return Err(io::Error::other(format!(
            "read back {} video and {} audio packets, wrote {} and {}",
            copied[0], copied[1], written[0], written[1]
        )));
    }
    out.finish()
}

/// FFmpeg's names for the stream's H.273 code points (its enums hold the same numbers); a code
/// point FFmpeg has no name for is written as unspecified, never as something else.
fn colr(
    c: crate::av1::Colour,
) -> (
    ffi::AVColorPrimaries,
    ffi::AVColorTransferCharacteristic,
    ffi::AVColorSpace,
) {
    use ffi::AVColorPrimaries as P;
    use ffi::AVColorSpace as S;
    use ffi::AVColorTransferCharacteristic as T;
    let primaries = [
        P::AVCOL_PRI_BT709,
        P::AVCOL_PRI_BT470M,
        P::AVCOL_PRI_BT470BG,
        P::AVCOL_PRI_SMPTE170M,
        P::AVCOL_PRI_SMPTE240M,
        P::AVCOL_PRI_FILM,
        P::AVCOL_PRI_BT2020,
        P::AVCOL_PRI_SMPTE428,
        P::AVCOL_PRI_SMPTE431,
        P::AVCOL_PRI_SMPTE432,
        P::AVCOL_PRI_EBU3213,
    ];
    let transfers = [
        T::AVCOL_TRC_BT709,
        T::AVCOL_TRC_GAMMA22,
        T::AVCOL_TRC_GAMMA28,
        T::AVCOL_TRC_SMPTE170M,
        T::AVCOL_TRC_SMPTE240M,
        T::AVCOL_TRC_LINEAR,
        T::AVCOL_TRC_LOG,
        T::AVCOL_TRC_LOG_SQRT,
        T::AVCOL_TRC_IEC61966_2_4,
        T::AVCOL_TRC_BT1361_ECG,
        T::AVCOL_TRC_IEC61966_2_1,
        T::AVCOL_TRC_BT2020_10,
        T::AVCOL_TRC_BT2020_12,
        T::AVCOL_TRC_SMPTE2084,
        T::AVCOL_TRC_SMPTE428,
        T::AVCOL_TRC_ARIB_STD_B67,
    ];
    let matrices = [
        S::AVCOL_SPC_RGB,
        S::AVCOL_SPC_BT709,
        S::AVCOL_SPC_FCC,
        S::AVCOL_SPC_BT470BG,
        S::AVCOL_SPC_SMPTE170M,
        S::AVCOL_SPC_SMPTE240M,
        S::AVCOL_SPC_YCGCO,
        S::AVCOL_SPC_BT2020_NCL,
        S::AVCOL_SPC_BT2020_CL,
        S::AVCOL_SPC_SMPTE2085,
        S::AVCOL_SPC_CHROMA_DERIVED_NCL,
        S::AVCOL_SPC_CHROMA_DERIVED_CL,
        S::AVCOL_SPC_ICTCP,
    ];
    (
        primaries
            .into_iter()
            .find(|p| *p as u32 == u32::from(c.primaries))
            .unwrap_or(P::AVCOL_PRI_UNSPECIFIED),
        transfers
            .into_iter()
            .find(|t| *t as u32 == u32::from(c.transfer))
            .unwrap_or(T::AVCOL_TRC_UNSPECIFIED),
        matrices
            .into_iter()
            .find(|m| *m as u32 == u32::from(c.matrix))
            .unwrap_or(S::AVCOL_SPC_UNSPECIFIED),
    )
}

fn rational(num: i64, den: i64) -> ffi::AVRational {
    ffi::AVRational {
        num: num as i32,
        den: den as i32,
    }
}

/// Copies `data` into `par.extradata`, allocated with FFmpeg's allocator and padded as it asks.
unsafe fn set_extradata(par: &mut ffi::AVCodecParameters, data: &[u8]) -> io::Result<()> {
    let buf = ffi::av_mallocz(data.len() + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize).cast::<u8>();
    if buf.is_null() {
        return Err(io::Error::from(io::ErrorKind::OutOfMemory));
    }
    ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
    par.extradata = buf;
    par.extradata_size = data.len() as i32;
    Ok(())
}

/// An FFmpeg output context writing one MP4 file; closes and frees it on drop.
struct Muxer {
    ctx: *mut ffi::AVFormatContext,
    packet: *mut ffi::AVPacket,
    header_written: bool,
}

// SAFETY: the context is owned by this value alone and used through `&mut self` only.
unsafe impl Send for Muxer {}

impl Muxer {
    fn alloc(path: &Path) -> io::Result<Self> {
        let cpath = c_path(path)?;
        let mut ctx = ptr::null_mut();
        // SAFETY: FFmpeg allocates the context; the strings live across the call.
        let rc = unsafe { ffi::avformat_alloc_output_context2(&mut ctx, ptr::null(), c"mp4".as_ptr(), cpath.as_ptr()) };
        if rc < 0 || ctx.is_null() {
            return Err(ff_io("muxer", rc));
        }
        // SAFETY: plain allocation.
        let packet = unsafe { ffi::av_packet_alloc() };
        let muxer = Self {
            ctx,
            packet,
            header_written: false,
        };
        if packet.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        Ok(muxer)
    }

    fn new_stream(&mut self) -> io::Result<*mut ffi::AVStream> {
        // SAFETY: ctx is a valid output context.
        let st = unsafe { ffi::avformat_new_stream(self.ctx, ptr::null()) };
        if st.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        Ok(st)
    }

    /// Opens the file and writes the header with `options`, failing on any option the muxer did
    /// not take (so a misspelt flag cannot silently change the file's layout).
    fn open_and_write_header(
        &mut self,
        path: &Path,
        options: &[(&str, String)],
        flush_packets: bool,
    ) -> io::Result<()> {
        let cpath = c_path(path)?;
        let mut dict: *mut ffi::AVDictionary = ptr::null_mut();
        // SAFETY: ctx is valid; the dictionary is freed below whatever happens; strings live
        // across the calls.
        unsafe {
            for (k, v) in options {
                let (k, v) = (CString::new(*k)?, CString::new(v.as_str())?);
                ffi::av_dict_set(&mut dict, k.as_ptr(), v.as_ptr(), 0);
            }
            let ctx = &mut *self.ctx;
            let mut rc = ffi::avio_open(&mut ctx.pb, cpath.as_ptr(), ffi::AVIO_FLAG_WRITE);
            if rc >= 0 {
                if flush_packets {
                    // Each fragment reaches the OS as soon as the muxer has written it.
                    ctx.flags |= ffi::AVFMT_FLAG_FLUSH_PACKETS;
                }
                rc = ffi::avformat_write_header(self.ctx, &mut dict);
            }
            let unused = ffi::av_dict_count(dict);
            ffi::av_dict_free(&mut dict);
            if rc < 0 {
                return Err(ff_io(&format!("cannot write '{}'", path.display()), rc));
            }
            self.header_written = true;
            if unused > 0 {
                return Err(io::Error::other(format!(
                    "the mp4 muxer ignored {unused} of our options"
                )));
            }
        }
        Ok(())
    }

    /// Writes one packet whose times are in `tb` (rescaled here to the track's timescale, which
    /// the muxer chose as a multiple of it: exact).
    fn write(
        &mut self,
        stream: usize,
        tb: ffi::AVRational,
        pts: i64,
        duration: i64,
        keyframe: bool,
        data: &[u8],
    ) -> io::Result<()> {
        // SAFETY: the packet is (re)allocated for `data` before it is filled.
        unsafe {
            let rc = ffi::av_new_packet(self.packet, data.len() as i32);
            if rc < 0 {
                return Err(ff_io("packet", rc));
            }
            let p = &mut *self.packet;
            ptr::copy_nonoverlapping(data.as_ptr(), p.data, data.len());
            p.pts = pts;
            p.dts = pts;
            p.duration = duration;
            if keyframe {
                p.flags |= ffi::AV_PKT_FLAG_KEY;
            }
        }
        self.send(stream, tb)
    }

    /// Writes the packet in `self.packet` (times in `tb`) to `stream`; the muxer takes its
    /// reference and leaves it blank.
    fn send(&mut self, stream: usize, tb: ffi::AVRational) -> io::Result<()> {
        // SAFETY: ctx has `stream`; the packet holds data and times set by the caller.
        unsafe {
            (*self.packet).stream_index = stream as i32;
            let st_tb = (**(*self.ctx).streams.add(stream)).time_base;
            ffi::av_packet_rescale_ts(self.packet, tb, st_tb);
            let rc = ffi::av_interleaved_write_frame(self.ctx, self.packet);
            ffi::av_packet_unref(self.packet);
            if rc < 0 {
                return Err(ff_io("write", rc));
            }
        }
        Ok(())
    }

    /// Bytes written to the file so far.
    fn position(&self) -> u64 {
        // SAFETY: pb is open while the header is written.
        // avio_tell is a C macro: a seek by 0 from SEEK_CUR (1), which only reports.
        unsafe { ffi::avio_seek((*self.ctx).pb, 0, 1).max(0) as u64 }
    }

    /// After a failed write: closes the file without a trailer (which would land after the
    /// half-written fragment).
    fn abandon(&mut self) {
        self.header_written = false;
        self.close();
    }

    /// Writes the trailer and closes the file.
    fn finish(mut self) -> io::Result<()> {
        // SAFETY: the header was written, so the trailer may be.
        let rc = unsafe { ffi::av_write_trailer(self.ctx) };
        self.header_written = false;
        self.close();
        if rc < 0 {
            return Err(ff_io("trailer", rc));
        }
        Ok(())
    }

    fn close(&mut self) {
        // SAFETY: pb is open or null; avio_closep accepts both and nulls it.
        unsafe {
            if !self.ctx.is_null() {
                ffi::avio_closep(&mut (*self.ctx).pb);
            }
        }
    }
}

impl Drop for Muxer {
    fn drop(&mut self) {
        // SAFETY: a muxer dropped mid-recording (an error elsewhere) still writes its trailer,
        // so the fragments written so far stay a playable file; then everything is freed.
        unsafe {
            if self.header_written {
                ffi::av_write_trailer(self.ctx);
            }
            self.close();
            ffi::avformat_free_context(self.ctx);
            ffi::av_packet_free(&mut self.packet);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::av1::Colour;

    /// `colr` carries the stream's code points, BT.709 and others alike, and an unnamed one as
    /// unspecified.
    #[test]
    fn colr_takes_the_stream_code_points() {
        let colour = |p, t, m| Colour {
            described: true,
            primaries: p,
            transfer: t,
            matrix: m,
            full_range: false,
        };
        let (p, t, m) = colr(colour(1, 1, 1));
        assert_eq!((p as u32, t as u32, m as u32), (1, 1, 1));
        let (p, t, m) = colr(colour(9, 16, 9));
        assert_eq!((p as u32, t as u32, m as u32), (9, 16, 9));
        let (p, t, m) = colr(colour(6, 6, 0));
        assert_eq!((p as u32, t as u32, m as u32), (6, 6, 0));
        let (p, t, m) = colr(colour(200, 200, 200));
        assert_eq!((p as u32, t as u32, m as u32), (2, 2, 2));
    }
}
