//! Reading one chunk back through FFmpeg's matroska demuxer, and the check that decides whether
//! a chunk is complete and fit to merge.
//!
//! A chunk is what the writer's render range produces (see README, "Render on a farm"): a
//! Matroska file with one AV1 track and one 32-bit float PCM track, `frames` frames starting
//! with a keyframe and exactly `frames × rate / fps` samples per channel.
//!
//! A chunk's headers are not trusted: before anything is decoded, its frame rate, frame size
//! (the track's and every sequence header's) and audio format must be within what the recorder
//! itself writes (1 to 1000 fps, 8192×4320, 48 kHz stereo), so a small hostile file cannot ask
//! libaom for gigabytes or the MP4 muxer for a time base of zero.

use std::path::{Path, PathBuf};

use ffmpeg_next::ffi;

use super::decode::Av1Decoder;
use movie_writer_av1_core::config::{MAX_HEIGHT, MAX_WIDTH};
use movie_writer_av1_core::error::{Error, Result};
use movie_writer_av1_core::mux::demux::Demuxer;
use movie_writer_av1_core::render_range::JOB_TAG;

/// The recorder's frame rates (`editor/movie_writer/fixed_fps`).
const MAX_FPS: u32 = 1000;
/// The recorder's audio: 48 kHz stereo.
const SAMPLE_RATE: u32 = 48_000;
const CHANNELS: u32 = 2;

/// What a job asks of one chunk, where it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Frames the chunk must hold.
    pub frames: Option<u64>,
    /// The chunk's `MWAV1_JOB` tag (see [`crate::farm::Job::chunk_identity`]).
    pub identity: Option<String>,
}

impl Expected {
    pub fn frames(frames: u64) -> Self {
        Self {
            frames: Some(frames),
            identity: None,
        }
    }
}

/// What every chunk of one job must share: the merge copies the video packets as they are, so
/// they must come from identically configured encoders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkFormat {
    /// The AV1CodecConfigurationRecord (Matroska CodecPrivate), sequence header included.
    pub av1c: Vec<u8>,
    /// Coded size (PixelWidth × PixelHeight).
    pub width: u32,
    pub height: u32,
    /// Size to show: the coded size less PixelCrop right and bottom.
    pub display_width: u32,
    pub display_height: u32,
    pub fps: u32,
    pub sample_rate: u32,
    pub channels: u32,
}

impl ChunkFormat {
    /// Each way `other` differs from `self`, in words; empty when the chunks fit together.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let mut out = Vec::new();
        if self.av1c != other.av1c {
            out.push(format!(
                "its AV1 sequence header (CodecPrivate {}) differs from the first chunk's ({}): the encoder settings differ",
                hex(&other.av1c),
                hex(&self.av1c)
            ));
        }
        let size = |f: &Self| {
            format!(
                "{}x{} (shown {}x{})",
                f.width, f.height, f.display_width, f.display_height
            )
        };
        if size(self) != size(other) {
            out.push(format!("its size is {}, the first chunk's {}", size(other), size(self)));
        }
        if self.fps != other.fps {
            out.push(format!("it runs at {} fps, the first chunk at {}", other.fps, self.fps));
        }
        if (self.sample_rate, self.channels) != (other.sample_rate, other.channels) {
            out.push(format!(
                "its audio is {} Hz × {} channels, the first chunk's {} Hz × {}",
                other.sample_rate, other.channels, self.sample_rate, self.channels
            ));
        }
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A chunk that passed [`check_chunk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkInfo {
    pub path: PathBuf,
    pub format: ChunkFormat,
    pub frames: u64,
    /// Samples per channel.
    pub samples: u64,
}

/// One packet of a chunk, as it is stored.
pub enum ChunkPacket<'a> {
    /// An AV1 temporal unit (without temporal delimiter, as Matroska stores it).
    Video { data: &'a [u8], keyframe: bool },
    /// Interleaved samples.
    Audio(&'a [f32]),
}

/// Reads every packet of the chunk at `path` in file order and hands it to `each`; then checks
/// what a chunk must be (see the module docs) and what the job asks of it (`expected`).
pub fn read_chunk(
    path: &Path,
    expected: &Expected,
    mut each: impl FnMut(&ChunkFormat, ChunkPacket<'_>) -> Result<()>,
) -> Result<ChunkInfo> {
    let bad = |problem: String| Error::chunk(path, problem);
    if !path.is_file() {
        return Err(bad("is missing".into()));
    }
    movie_writer_av1_core::quiet::apply();
    let (opened, log) = movie_writer_av1_core::ffmpeg_log::capture(|| Demuxer::open(path));
    let mut input = opened.map_err(|e| bad(format!("is not a readable Matroska file: {e} {}", log.join("; "))))?;
    let (video, audio, format) = tracks(&input).map_err(bad)?;
    if let Some(want) = &expected.identity {
        match input.metadata(JOB_TAG) {
            Some(have) if &have == want => {}
            Some(have) => {
                return Err(bad(format!(
                    "was rendered for another job or range (its {JOB_TAG} tag is '{have}', this job's chunk is '{want}'): a chunk of an earlier plan"
                )))
            }
            None => {
                return Err(bad(format!(
                    "carries no {JOB_TAG} tag; this job's chunks are tagged '{want}' by the writer (--movie-job): a chunk of an earlier plan or of another writer"
                )))
            }
        }
    }
    let packet = Packet::alloc().ok_or_else(|| bad("cannot be read: out of memory".into()))?;
    let (mut frames, mut samples, mut pcm) = (0u64, 0u64, Vec::new());
    loop {
        // SAFETY: the packet is allocated above and unreferenced after each use below.
        let (read, log) = movie_writer_av1_core::ffmpeg_log::capture(|| unsafe { input.read_into(packet.0) });
        if !read.map_err(|e| bad(format!("cannot be read to its end: {e} {}", log.join("; "))))? {
            break;
        }
        // SAFETY: read_into filled the packet: `data` holds `size` bytes until the unref below.
        let (index, data, keyframe) = unsafe {
            let p = &*packet.0;
            let data = if p.size > 0 {
                std::slice::from_raw_parts(p.data, p.size as usize)
            } else {
                &[][..]
            };
            (p.stream_index, data, p.flags & ffi::AV_PKT_FLAG_KEY != 0)
        };
        let result = if index == video {
            if frames == 0 && !keyframe {
                return Err(bad(
                    "does not start with a keyframe: it cannot be joined to the chunk before it".into(),
                ));
            }
            within_limits(
                movie_writer_av1_core::av1::sequence_header_sizes(data),
                &format!("a sequence header in its frame {frames}"),
            )
            .map_err(bad)?;
            frames += 1;
            each(&format, ChunkPacket::Video { data, keyframe })
        } else if index == audio {
            pcm.clear();
            pcm.extend(
                data.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
            samples += (pcm.len() / format.channels as usize) as u64;
            each(&format, ChunkPacket::Audio(&pcm))
        } else {
            Ok(())
        };
        // SAFETY: the packet was filled by read_into and is not used after this.
        unsafe { ffi::av_packet_unref(packet.0) };
        result?;
    }
    if let Some(want) = expected.frames {
        if frames != want {
            return Err(bad(format!("has {frames} frames, the job asks for {want}")));
        }
    }
    if frames == 0 {
        return Err(bad("has no video frames".into()));
    }
    // In 128 bits: a file can claim any count and duration; the rate and fps are bounded.
    let (fps, frames_128) = (u128::from(format.fps), u128::from(frames));
    let want_samples = frames_128 * u128::from(format.sample_rate) / fps;
    if u128::from(samples) != want_samples {
        return Err(bad(format!(
            "has {samples} audio samples per channel; {frames} frames at {} fps need exactly {want_samples}",
            format.fps
        )));
    }
    // A writer that was stopped mid-render never writes the Segment's Duration; one cut short
    // afterwards (a copy that broke off) holds fewer frames than its Duration promises.
    let promised_us = input.duration_us().ok_or_else(|| {
        bad("has no Duration: its writer did not finish it (was the engine stopped mid-render?)".into())
    })?;
    let have_us = frames_128 * 1_000_000 / fps;
    let frame_us = 1_000_000 / fps;
    let off_by = (i128::from(promised_us) - have_us as i128).unsigned_abs();
    if off_by > frame_us / 2 {
        return Err(bad(format!(
            "is truncated or inconsistent: its Duration says {:.3} s, its {frames} frames last {:.3} s",
            promised_us as f64 / 1e6,
            have_us as f64 / 1e6
        )));
    }
    Ok(ChunkInfo {
        path: path.to_path_buf(),
        format,
        frames,
        samples,
    })
}

/// Reads the chunk, decodes every video frame with libaom and runs the bitstream judge
/// (`crate::judge`: av1C, sequence headers on keyframes, size, crop, colour, container colour):
/// the chunk check of the render farm (see the module docs).
pub fn check_chunk(path: &Path, expected: &Expected) -> Result<ChunkInfo> {
    let mut decoder: Option<Av1Decoder> = None;
    let mut index = 0u64;
    let info = read_chunk(path, expected, |format, packet| {
        let ChunkPacket::Video { data, .. } = packet else {
            return Ok(());
        };
        let dec = match &mut decoder {
            Some(d) => d,
            None => decoder.insert(Av1Decoder::open(&format.av1c).map_err(|e| Error::chunk(path, e))?),
        };
        dec.decode(data)
            .map_err(|e| Error::chunk(path, format!("frame {index} does not decode: {e}")))?;
        index += 1;
        Ok(())
    })?;
    let decoded = match &mut decoder {
        Some(d) => d
            .finish()
            .map_err(|e| Error::chunk(path, format!("the last frames do not decode: {e}")))?,
        None => 0,
    };
    if decoded != info.frames {
        return Err(Error::chunk(
            path,
            format!("{} frames are stored, but {decoded} decode", info.frames),
        ));
    }
    crate::judge::verdict(path, None).map_err(|problem| Error::chunk(path, problem))?;
    Ok(info)
}

/// Checks each chunk (against `expected[i]`, where given) and that all share the first one's
/// format; the error names every chunk that failed and why.
pub fn check_chunks(paths: &[PathBuf], expected: Option<&[Expected]>) -> Result<Vec<ChunkInfo>> {
    let mut infos = Vec::new();
    let mut problems = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let want = expected.and_then(|e| e.get(i)).cloned().unwrap_or_default();
        match check_chunk(path, &want) {
            Ok(info) => infos.push(info),
            Err(e) => problems.push(e),
        }
    }
    if let Some(first) = infos.first() {
        for info in &infos[1..] {
            for d in first.format.differences(&info.format) {
                problems.push(Error::chunk(&info.path, d));
            }
        }
    }
    match problems.len() {
        0 => Ok(infos),
        1 => Err(problems.remove(0)),
        n => {
            let lines: Vec<String> = problems.iter().map(Error::to_string).collect();
            Err(Error::Usage(format!(
                "{n} problems with the chunks:\n  {}",
                lines.join("\n  ")
            )))
        }
    }
}

/// The chunk's AV1 and PCM tracks (their stream indices) and its format.
fn tracks(input: &Demuxer) -> std::result::Result<(i32, i32, ChunkFormat), String> {
    let (mut video, mut audio) = (None, None);
    let mut found = Vec::new();
    for (i, &st) in input.streams().iter().enumerate() {
        // SAFETY: the stream and its parameters live as long as `input`.
        let par = unsafe { &*(*st).codecpar };
        match par.codec_id {
            ffi::AVCodecID::AV_CODEC_ID_AV1 if video.is_none() => video = Some((i as i32, st)),
            ffi::AVCodecID::AV_CODEC_ID_PCM_F32LE if audio.is_none() => audio = Some((i as i32, par)),
            id => {
                // SAFETY: avcodec_get_name returns a static string for any id.
                let name = unsafe { std::ffi::CStr::from_ptr(ffi::avcodec_get_name(id)) };
                found.push(name.to_string_lossy().into_owned());
            }
        }
    }
    let Some((video, st)) = video else {
        return Err(format!(
            "has no AV1 video track (found: {}); chunks are what `--movie-range` renders",
            found.join(", ")
        ));
    };
    let Some((audio, apar)) = audio else {
        return Err(format!(
            "has no 32-bit float PCM audio track (A_PCM/FLOAT/IEEE; found: {}); the merge encodes the chunks' PCM once",
            found.join(", ")
        ));
    };
    // SAFETY: as above.
    let (vpar, rate) = unsafe { (&*(*st).codecpar, (*st).avg_frame_rate) };
    if rate.num <= 0 || rate.den <= 0 || rate.num % rate.den != 0 || rate.num / rate.den > MAX_FPS as i32 {
        return Err(format!(
            "has a frame rate of {}/{} (its DefaultDuration); chunks run at a whole number of frames per second, 1 to {MAX_FPS}",
            rate.num, rate.den
        ));
    }
    let av1c = if vpar.extradata.is_null() || vpar.extradata_size <= 0 {
        return Err("has no AV1 CodecPrivate (av1C)".into());
    } else {
        // SAFETY: extradata holds extradata_size bytes.
        unsafe { std::slice::from_raw_parts(vpar.extradata, vpar.extradata_size as usize).to_vec() }
    };
    if av1c.len() < 4 || av1c[0] != 0x81 {
        return Err(format!(
            "has an AV1 CodecPrivate that is not an AV1CodecConfigurationRecord ({} bytes, first {:#04x}; version 1 starts with 0x81)",
            av1c.len(),
            av1c.first().copied().unwrap_or(0)
        ));
    }
    within_limits(
        movie_writer_av1_core::av1::sequence_header_sizes(&av1c[4..]),
        "its CodecPrivate's sequence header",
    )?;
    let (crop_right, crop_bottom) = crop(vpar);
    let channels = apar.ch_layout.nb_channels;
    if channels != CHANNELS as i32 || apar.sample_rate != SAMPLE_RATE as i32 {
        return Err(format!(
            "has audio of {} Hz × {channels} channels; chunks carry what the recorder records, {SAMPLE_RATE} Hz × {CHANNELS}",
            apar.sample_rate
        ));
    }
    let size_ok = |w: i32, h: i32| (1..=MAX_WIDTH as i32).contains(&w) && (1..=MAX_HEIGHT as i32).contains(&h);
    if !size_ok(vpar.width, vpar.height) {
        return Err(format!(
            "has a frame size of {}x{}; chunks are 1x1 to {MAX_WIDTH}x{MAX_HEIGHT}, what the recorder records",
            vpar.width, vpar.height
        ));
    }
    let (width, height) = (vpar.width as u32, vpar.height as u32);
    Ok((
        video,
        audio,
        ChunkFormat {
            av1c,
            width,
            height,
            display_width: width.saturating_sub(crop_right),
            display_height: height.saturating_sub(crop_bottom),
            fps: (rate.num / rate.den) as u32,
            sample_rate: apar.sample_rate as u32,
            channels: channels as u32,
        },
    ))
}

/// Refuses a sequence header that does not parse or declares frames larger than the recorder
/// writes (AV1 allows 65536×65536): checked before libaom sees it.
fn within_limits(sizes: impl Iterator<Item = Option<(u32, u32)>>, what: &str) -> std::result::Result<(), String> {
    for size in sizes {
        match size {
            None => return Err(format!("has {what} that does not parse")),
            Some((w, h)) if w > MAX_WIDTH || h > MAX_HEIGHT => {
                return Err(format!(
                    "has {what} for frames up to {w}x{h}; chunks are at most {MAX_WIDTH}x{MAX_HEIGHT}, what the recorder records"
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// PixelCrop right and bottom, which FFmpeg's demuxer exports as frame-cropping side data
/// (top, bottom, left, right as 32-bit little-endian).
fn crop(par: &ffi::AVCodecParameters) -> (u32, u32) {
    // SAFETY: coded_side_data holds nb_coded_side_data entries owned by the parameters.
    let sd = unsafe {
        ffi::av_packet_side_data_get(
            par.coded_side_data,
            par.nb_coded_side_data,
            ffi::AVPacketSideDataType::AV_PKT_DATA_FRAME_CROPPING,
        )
    };
    // SAFETY: a non-null entry holds `size` bytes at a non-null `data`.
    if sd.is_null() || unsafe { (*sd).data.is_null() || (*sd).size == 0 } {
        return (0, 0);
    }
    // SAFETY: checked above.
    let data = unsafe { std::slice::from_raw_parts((*sd).data, (*sd).size) };
    let word = |i: usize| {
        data.get(i * 4..i * 4 + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    (word(3), word(1))
}

/// One FFmpeg packet, freed on drop.
struct Packet(*mut ffi::AVPacket);

impl Packet {
    fn alloc() -> Option<Self> {
        // SAFETY: plain allocation.
        let p = unsafe { ffi::av_packet_alloc() };
        (!p.is_null()).then_some(Self(p))
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        // SAFETY: allocated by av_packet_alloc; av_packet_free unrefs it too.
        unsafe { ffi::av_packet_free(&mut self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use movie_writer_av1_core::av1::testing::sequence_header;
    use movie_writer_av1_core::config::{AudioCodec, Container};
    use movie_writer_av1_core::mux::{AudioTrack, MatroskaWriter, VideoTrack};

    /// A one-frame chunk at 30 fps written by the recorder's muxer: a 64×64 CodecPrivate,
    /// `packet` as its temporal unit, a frame's worth of PCM, and `tags`.
    fn one_frame_chunk(name: &str, packet: &[u8], tags: &[(&str, &str)]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("mwav1-chunk-{}-{name}.mkv", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let video = VideoTrack {
            coded_width: 64,
            coded_height: 64,
            display_width: 64,
            display_height: 64,
            fps: 30,
            av1c: movie_writer_av1_core::av1::av1c(&sequence_header(64, 64)).unwrap(),
        };
        let audio = AudioTrack {
            codec: AudioCodec::Pcm,
            sample_rate: 48_000,
            channels: 2,
            codec_private: Vec::new(),
            delay: 0,
            frame_samples: 1600,
        };
        let mut w = MatroskaWriter::new(file, Container::Matroska, &video, Some(&audio), tags).unwrap();
        w.write_video(0, 1000.0 / 30.0, true, packet).unwrap();
        w.write_audio(0, 1000.0 / 30.0, &[0; 1600 * 2 * 4], None).unwrap();
        let (_, finished) = w.finish();
        finished.unwrap();
        path
    }

    /// Issue 25, item 6: a temporal unit whose sequence header declares 65536×65536 frames is
    /// refused before libaom is asked to decode it.
    #[test]
    fn a_sequence_header_larger_than_the_recorder_writes_is_refused_before_decoding() {
        let mut packet = sequence_header(65536, 65536);
        packet.extend([0x32, 0x04, 0x10, 0x00, 0x00, 0x00]); // a frame OBU's start
        let path = one_frame_chunk("huge", &packet, &[]);
        let e = check_chunk(&path, &Expected::frames(1)).unwrap_err().to_string();
        assert!(
            e.contains(
                "has a sequence header in its frame 0 for frames up to 65536x65536; chunks are at most 8192x4320"
            ),
            "{e}"
        );
        let _ = std::fs::remove_file(path);
    }

    /// Issue 25, item 8: the recorder's muxer writes the job's identity as a global Matroska
    /// tag that FFmpeg's demuxer reads back; a chunk with another identity, or none, is refused.
    #[test]
    fn a_chunk_carries_its_job_identity_and_another_is_refused() {
        let packet = sequence_header(64, 64);
        let tagged = one_frame_chunk("tagged", &packet, &[(JOB_TAG, "0123abcd:0:1")]);
        let want = |id: &str| Expected {
            frames: Some(1),
            identity: Some(id.into()),
        };
        read_chunk(&tagged, &want("0123abcd:0:1"), |_, _| Ok(())).unwrap();
        let e = read_chunk(&tagged, &want("0123abcd:1:2"), |_, _| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("was rendered for another job or range (its MWAV1_JOB tag is '0123abcd:0:1', this job's chunk is '0123abcd:1:2')"),
            "{e}"
        );
        let untagged = one_frame_chunk("untagged", &packet, &[]);
        let e = read_chunk(&untagged, &want("0123abcd:0:1"), |_, _| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("carries no MWAV1_JOB tag"), "{e}");
        read_chunk(&untagged, &Expected::frames(1), |_, _| Ok(())).unwrap();
        let _ = (std::fs::remove_file(tagged), std::fs::remove_file(untagged));
    }
}
