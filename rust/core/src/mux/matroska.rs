//! Matroska / WebM writer for one AV1 video track and an optional Opus, AAC or PCM audio track.
//!
//! Why our own and not FFmpeg's or libwebm's (see ARCHITECTURE.md): SVT-AV1 needs even frame
//! sizes, so odd sizes are padded and the file must carry PixelCrop and the exact display size,
//! which FFmpeg 5.1's muxer cannot write; the `webm` crate exposes neither CodecDelay/SeekPreRoll
//! nor the DocType. The layout is chosen for crash safety:
//!
//! * the Segment starts with an unknown size, SeekHead and Duration go into reserved Void space,
//!   and all three are patched in by [`MatroskaWriter::finish`]: a file that never gets there is
//!   still a valid live-style Matroska file;
//! * each Cluster is written with a single `write` as soon as it is complete, and clusters never
//!   span more than [`CLUSTER_MAX_MS`], so a killed recording loses at most that much;
//! * if a write fails (disk full, file-size limit), the file is cut back to its last complete
//!   cluster and its header is still patched, so what was written stays playable;
//! * every video keyframe opens a Cluster and gets a CuePoint, so the finished file seeks.

use std::io::{Cursor, Seek, SeekFrom, Write};

use super::ebml::{self, id};
use super::{AudioTrack, VideoTrack};
use crate::config::{AudioCodec, Container};

pub const VIDEO_TRACK: u64 = 1;
pub const AUDIO_TRACK: u64 = 2;
/// Longest a cluster may run before it is written out; bounds what a crash can lose.
pub const CLUSTER_MAX_MS: i64 = 500;
const SEEK_HEAD_RESERVE: usize = 96;
/// Cluster ID (4 bytes) + 8-byte size, reserved at the front of the cluster buffer so the whole
/// cluster goes out in one write.
const CLUSTER_HEAD: usize = 12;
const DURATION_RESERVE: usize = 11;
const OPUS_SEEK_PRE_ROLL_NS: u64 = 80_000_000;

/// Outputs that can be cut back after a failed write.
pub trait Truncate {
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
}

impl Truncate for std::fs::File {
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
}

impl Truncate for Cursor<Vec<u8>> {
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.get_mut().truncate(len as usize);
        Ok(())
    }
}

pub struct MatroskaWriter<W: Write + Seek + Truncate> {
    out: W,
    /// End of the last element written completely; the file is cut back here after a failure.
    committed: u64,
    segment_size_pos: u64,
    segment_data_start: u64,
    seek_head_pos: u64,
    duration_pos: u64,
    info_pos: u64,
    tracks_pos: u64,
    cluster: Vec<u8>,
    cluster_ts: Option<i64>,
    cues: Vec<(i64, u64)>,
    end_ms: f64,
}

fn frame_duration_ns(fps: u32) -> u64 {
    (1_000_000_000 + u64::from(fps) / 2) / u64::from(fps)
}

impl<W: Write + Seek + Truncate> MatroskaWriter<W> {
    /// Writes the EBML header, Segment start, Info, Tracks and (when there are any) `tags` as
    /// global Tags (name, text), and flushes them to `out`.
    pub fn new(
        mut out: W,
        container: Container,
        video: &VideoTrack,
        audio: Option<&AudioTrack>,
        tags: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        let doc_type = container.doc_type().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an MP4 path was given to the Matroska muxer",
            )
        })?;
        let mut head = Vec::with_capacity(1024);
        ebml::put_master(&mut head, id::EBML, |b| {
            ebml::put_uint(b, id::EBML_VERSION, 1);
            ebml::put_uint(b, id::EBML_READ_VERSION, 1);
            ebml::put_uint(b, id::EBML_MAX_ID_LENGTH, 4);
            ebml::put_uint(b, id::EBML_MAX_SIZE_LENGTH, 8);
            ebml::put_str(b, id::DOC_TYPE, doc_type);
            ebml::put_uint(b, id::DOC_TYPE_VERSION, 4);
            ebml::put_uint(b, id::DOC_TYPE_READ_VERSION, 2);
        });
        let base = out.stream_position()?;
        ebml::put_id(&mut head, id::SEGMENT);
        let segment_size_pos = base + head.len() as u64;
        head.extend_from_slice(&ebml::UNKNOWN_SIZE_8);
        let segment_data_start = base + head.len() as u64;

        let seek_head_pos = base + head.len() as u64;
        ebml::put_void(&mut head, SEEK_HEAD_RESERVE);

        let info_pos = base + head.len() as u64;
        let app = concat!("MovieWriterAV1 ", env!("CARGO_PKG_VERSION"));
        let mut duration_offset = 0;
        ebml::put_master(&mut head, id::INFO, |b| {
            ebml::put_uint(b, id::TIMESTAMP_SCALE, 1_000_000);
            ebml::put_str(b, id::MUXING_APP, app);
            ebml::put_str(b, id::WRITING_APP, app);
            duration_offset = b.len();
            ebml::put_void(b, DURATION_RESERVE);
        });
        // Info's body starts after its 4-byte ID and 1-byte size (the body is < 127 bytes).
        let duration_pos = info_pos + 5 + duration_offset as u64;

        let tracks_pos = base + head.len() as u64;
        ebml::put_master(&mut head, id::TRACKS, |b| {
            ebml::put_master(b, id::TRACK_ENTRY, |t| write_video_track(t, video));
            if let Some(a) = audio {
                ebml::put_master(b, id::TRACK_ENTRY, |t| write_audio_track(t, a));
            }
        });
        if !tags.is_empty() {
            // Before the first Cluster, where demuxers read it without a SeekHead entry.
            ebml::put_master(&mut head, id::TAGS, |b| {
                ebml::put_master(b, id::TAG, |t| {
                    // 50: the whole file (an album, a movie, an episode).
                    ebml::put_master(t, id::TARGETS, |g| ebml::put_uint(g, id::TARGET_TYPE_VALUE, 50));
                    for (name, text) in tags {
                        ebml::put_master(t, id::SIMPLE_TAG, |s| {
                            ebml::put_str(s, id::TAG_NAME, name);
                            ebml::put_str(s, id::TAG_STRING, text);
                        });
                    }
                });
            });
        }
        out.write_all(&head)?;
        out.flush()?;
        let committed = out.stream_position()?;
        let mut cluster = Vec::with_capacity(1 << 20);
        cluster.resize(CLUSTER_HEAD, 0);
        Ok(Self {
            out,
            committed,
            segment_size_pos,
            segment_data_start,
            seek_head_pos,
            duration_pos,
            info_pos,
            tracks_pos,
            cluster,
            cluster_ts: None,
            cues: Vec::new(),
            end_ms: 0.0,
        })
    }

    /// Bytes of whole elements on disk: the header's until the first cluster is written.
    pub fn on_disk(&self) -> u64 {
        self.committed
    }

    /// Adds a video block. A keyframe always opens a new cluster and gets a CuePoint.
    pub fn write_video(&mut self, ts_ms: i64, end_ms: f64, keyframe: bool, data: &[u8]) -> std::io::Result<()> {
        if keyframe {
            self.close_cluster()?;
            self.cues.push((ts_ms, self.committed - self.segment_data_start));
        }
        self.write_block(VIDEO_TRACK, ts_ms, keyframe, data, None)?;
        self.end_ms = self.end_ms.max(end_ms);
        Ok(())
    }

    /// Adds an audio block; `discard_padding_ns` trims the decoded end of the last packet.
    /// `end_ms` is where its audible content ends (after CodecDelay and trimming).
    pub fn write_audio(
        &mut self,
        ts_ms: i64,
        end_ms: f64,
        data: &[u8],
        discard_padding_ns: Option<i64>,
    ) -> std::io::Result<()> {
        self.write_block(AUDIO_TRACK, ts_ms, true, data, discard_padding_ns)?;
        self.end_ms = self.end_ms.max(end_ms);
        Ok(())
    }

    fn write_block(
        &mut self,
        track: u64,
        ts_ms: i64,
        keyframe: bool,
        data: &[u8],
        discard_padding_ns: Option<i64>,
    ) -> std::io::Result<()> {
        let relative = match self.cluster_ts {
            Some(start) if ts_ms - start < CLUSTER_MAX_MS && ts_ms >= start => ts_ms - start,
            _ => {
                self.close_cluster()?;
                self.cluster_ts = Some(ts_ms);
                ebml::put_uint(&mut self.cluster, id::TIMESTAMP, ts_ms.max(0) as u64);
                0
            }
        };
        let header = |b: &mut Vec<u8>, flags: u8| {
            b.push(0x80 | track as u8);
            b.extend_from_slice(&(relative as i16).to_be_bytes());
            b.push(flags);
        };
        match discard_padding_ns {
            None => {
                ebml::put_id(&mut self.cluster, id::SIMPLE_BLOCK);
                ebml::put_size(&mut self.cluster, 4 + data.len() as u64);
                header(&mut self.cluster, if keyframe { 0x80 } else { 0 });
                self.cluster.extend_from_slice(data);
            }
            Some(padding) => ebml::put_master(&mut self.cluster, id::BLOCK_GROUP, |g| {
                ebml::put_id(g, id::BLOCK);
                ebml::put_size(g, 4 + data.len() as u64);
                header(g, 0);
                g.extend_from_slice(data);
                ebml::put_int(g, id::DISCARD_PADDING, padding);
            }),
        }
        Ok(())
    }

    /// Writes the pending cluster with one `write`, with its real size. On failure the file is
    /// cut back to the previous cluster, so it never ends in half a cluster.
    fn close_cluster(&mut self) -> std::io::Result<()> {
        if self.cluster_ts.take().is_none() {
            return Ok(());
        }
        let body = (self.cluster.len() - CLUSTER_HEAD) as u64;
        // Built in place rather than with the ebml helpers' Vec: this runs for every cluster of
        // a recording, which must not allocate. An 8-byte size vint is the value with bit 56 set.
        self.cluster[..4].copy_from_slice(&id::CLUSTER.to_be_bytes());
        self.cluster[4..CLUSTER_HEAD].copy_from_slice(&(body | 1 << 56).to_be_bytes());
        let written = self.out.write_all(&self.cluster).and_then(|()| self.out.flush());
        self.cluster.truncate(CLUSTER_HEAD);
        self.commit_or_rollback(written, CLUSTER_HEAD as u64 + body)
    }

    fn commit_or_rollback(&mut self, written: std::io::Result<()>, len: u64) -> std::io::Result<()> {
        match written {
            Ok(()) => {
                self.committed += len;
                Ok(())
            }
            Err(e) => {
                // A keyframe's CuePoint is recorded when its cluster opens, before that cluster
                // is on disk: one that was cut off must not be listed (it would point at
                // whatever is written next, the Cues themselves at the end).
                let cut = self.committed - self.segment_data_start;
                self.cues.retain(|&(_, pos)| pos < cut);
                // Best effort: if even the cut fails, the unknown-size Segment still parses.
                let _ = self.out.truncate(self.committed);
                let _ = self.out.seek(SeekFrom::Start(self.committed));
                Err(e)
            }
        }
    }

    /// Writes the last cluster and the Cues, then patches Segment size, SeekHead and Duration.
    ///
    /// Also after a failed write (disk full): the file is then cut back to its last complete
    /// cluster and the header still patched in place (which needs no new space), so the
    /// recording up to that point stays playable and seekable; the first error is returned with
    /// the output.
    pub fn finish(mut self) -> (W, std::io::Result<()>) {
        let mut first_error = self.close_cluster().err();
        let cues_pos = self.committed;
        let mut with_cues = false;
        if first_error.is_none() && !self.cues.is_empty() {
            let cues = self.cues_element();
            let written = self.out.write_all(&cues).and_then(|()| self.out.flush());
            match self.commit_or_rollback(written, cues.len() as u64) {
                Ok(()) => with_cues = true,
                Err(e) => first_error = Some(e),
            }
        }
        let patched = self.patch_header(with_cues.then_some(cues_pos));
        if first_error.is_none() {
            first_error = patched.err();
        }
        (self.out, first_error.map_or(Ok(()), Err))
    }

    fn cues_element(&self) -> Vec<u8> {
        let mut cues = Vec::new();
        ebml::put_master(&mut cues, id::CUES, |b| {
            for &(time, pos) in &self.cues {
                ebml::put_master(b, id::CUE_POINT, |p| {
                    ebml::put_uint(p, id::CUE_TIME, time.max(0) as u64);
                    ebml::put_master(p, id::CUE_TRACK_POSITIONS, |t| {
                        ebml::put_uint(t, id::CUE_TRACK, VIDEO_TRACK);
                        ebml::put_uint(t, id::CUE_CLUSTER_POSITION, pos);
                    });
                });
            }
        });
        cues
    }

    /// Overwrites the reserved header space: Segment size, SeekHead, Duration.
    fn patch_header(&mut self, cues_pos: Option<u64>) -> std::io::Result<()> {
        let end = self.committed;
        let mut size = Vec::new();
        ebml::put_size_fixed(&mut size, end - self.segment_data_start, 8);
        self.patch(self.segment_size_pos, &size)?;

        let rel = |pos: u64| pos - self.segment_data_start;
        let mut entries = vec![(id::INFO, rel(self.info_pos)), (id::TRACKS, rel(self.tracks_pos))];
        if let Some(pos) = cues_pos {
            entries.push((id::CUES, rel(pos)));
        }
        let mut seek_head = Vec::new();
        ebml::put_master(&mut seek_head, id::SEEK_HEAD, |b| {
            for (element, pos) in entries {
                ebml::put_master(b, id::SEEK, |s| {
                    let mut raw = Vec::new();
                    ebml::put_id(&mut raw, element);
                    ebml::put_bytes(s, id::SEEK_ID, &raw);
                    ebml::put_uint(s, id::SEEK_POSITION, pos);
                });
            }
        });
        let room = SEEK_HEAD_RESERVE - seek_head.len();
        ebml::put_void(&mut seek_head, room);
        self.patch(self.seek_head_pos, &seek_head)?;

        let mut duration = Vec::new();
        ebml::put_float(&mut duration, id::DURATION, self.end_ms);
        self.patch(self.duration_pos, &duration)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()
    }

    fn patch(&mut self, pos: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.out.seek(SeekFrom::Start(pos))?;
        self.out.write_all(bytes)
    }
}

fn write_video_track(t: &mut Vec<u8>, v: &VideoTrack) {
    ebml::put_uint(t, id::TRACK_NUMBER, VIDEO_TRACK);
    ebml::put_uint(t, id::TRACK_UID, VIDEO_TRACK);
    ebml::put_uint(t, id::TRACK_TYPE, 1);
    ebml::put_uint(t, id::FLAG_LACING, 0);
    ebml::put_str(t, id::LANGUAGE, "und");
    ebml::put_str(t, id::CODEC_ID, "V_AV1");
    ebml::put_bytes(t, id::CODEC_PRIVATE, &v.av1c);
    ebml::put_uint(t, id::DEFAULT_DURATION, frame_duration_ns(v.fps));
    let (width, height) = v.pixel_size();
    ebml::put_master(t, id::VIDEO, |b| {
        ebml::put_uint(b, id::PIXEL_WIDTH, width.into());
        ebml::put_uint(b, id::PIXEL_HEIGHT, height.into());
        if height > v.display_height {
            ebml::put_uint(b, id::PIXEL_CROP_BOTTOM, (height - v.display_height).into());
        }
        if width > v.display_width {
            ebml::put_uint(b, id::PIXEL_CROP_RIGHT, (width - v.display_width).into());
        }
        ebml::put_uint(b, id::DISPLAY_WIDTH, v.display_width.into());
        ebml::put_uint(b, id::DISPLAY_HEIGHT, v.display_height.into());
        ebml::put_uint(b, id::DISPLAY_UNIT, 0);
        // The stream's own colour description (BT.709 where it leaves it unspecified): a
        // container that says otherwise makes players that trust it show other colours.
        // Chroma siting: left and half-way between rows (MPEG-2's, the converter's) unless
        // the stream says its chroma is colocated with the top-left luma sample.
        let colour = v.colour();
        let vertical_siting = if v.chroma_sample_position() == 2 { 1 } else { 2 };
        ebml::put_master(b, id::COLOUR, |c| {
            ebml::put_uint(c, id::MATRIX_COEFFICIENTS, colour.matrix.into());
            ebml::put_uint(c, id::BITS_PER_CHANNEL, 8);
            ebml::put_uint(c, id::CHROMA_SITING_HORZ, 1);
            ebml::put_uint(c, id::CHROMA_SITING_VERT, vertical_siting);
            ebml::put_uint(c, id::RANGE, if colour.full_range { 2 } else { 1 });
            ebml::put_uint(c, id::TRANSFER_CHARACTERISTICS, colour.transfer.into());
            ebml::put_uint(c, id::PRIMARIES, colour.primaries.into());
        });
    });
}

fn write_audio_track(t: &mut Vec<u8>, a: &AudioTrack) {
    ebml::put_uint(t, id::TRACK_NUMBER, AUDIO_TRACK);
    ebml::put_uint(t, id::TRACK_UID, AUDIO_TRACK);
    ebml::put_uint(t, id::TRACK_TYPE, 2);
    ebml::put_uint(t, id::FLAG_LACING, 0);
    ebml::put_str(t, id::LANGUAGE, "und");
    let codec_id = match a.codec {
        AudioCodec::Opus => "A_OPUS",
        AudioCodec::Aac => "A_AAC",
        // Little-endian IEEE float; BitDepth below says 32-bit.
        AudioCodec::Pcm => "A_PCM/FLOAT/IEEE",
    };
    ebml::put_str(t, id::CODEC_ID, codec_id);
    if !a.codec_private.is_empty() {
        ebml::put_bytes(t, id::CODEC_PRIVATE, &a.codec_private);
    }
    if a.delay > 0 {
        let delay_ns = u64::from(a.delay) * 1_000_000_000 / u64::from(a.sample_rate);
        ebml::put_uint(t, id::CODEC_DELAY, delay_ns);
    }
    if a.codec == AudioCodec::Opus {
        ebml::put_uint(t, id::SEEK_PRE_ROLL, OPUS_SEEK_PRE_ROLL_NS);
    }
    ebml::put_master(t, id::AUDIO, |b| {
        ebml::put_float(b, id::SAMPLING_FREQUENCY, f64::from(a.sample_rate));
        ebml::put_uint(b, id::CHANNELS, a.channels.into());
        if a.codec == AudioCodec::Pcm {
            ebml::put_uint(b, id::BIT_DEPTH, 32);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `limit` bytes, then fails like a full disk (after a partial write).
    struct FullDisk {
        inner: Cursor<Vec<u8>>,
        limit: u64,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = self.limit.saturating_sub(self.inner.position()) as usize;
            if room == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left"));
            }
            self.inner.write(&buf[..buf.len().min(room)])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for FullDisk {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    impl Truncate for FullDisk {
        fn truncate(&mut self, len: u64) -> std::io::Result<()> {
            self.inner.truncate(len)
        }
    }

    fn tracks() -> (VideoTrack, AudioTrack) {
        let video = VideoTrack {
            coded_width: 1282,
            coded_height: 722,
            display_width: 1281,
            display_height: 721,
            fps: 30,
            av1c: vec![0x81, 0, 0x0c, 0],
        };
        let audio = AudioTrack {
            codec: AudioCodec::Opus,
            sample_rate: 48_000,
            channels: 2,
            codec_private: b"OpusHead".to_vec(),
            delay: 312,
            frame_samples: 960,
        };
        (video, audio)
    }

    fn vint(data: &[u8], pos: &mut usize, keep_marker: bool) -> u64 {
        let first = data[*pos];
        let len = first.leading_zeros() as usize + 1;
        let mask = if len >= 8 { 0 } else { 0xffu8 >> len };
        let mut v = u64::from(if keep_marker { first } else { first & mask });
        for i in 1..len {
            v = (v << 8) | u64::from(data[*pos + i]);
        }
        *pos += len;
        v
    }

    /// Top-level children of the Segment as (id, start, end), checking they tile it exactly.
    fn segment_children(file: &[u8]) -> Vec<(u64, usize, usize)> {
        let mut pos = 0;
        assert_eq!(vint(file, &mut pos, true), u64::from(id::EBML));
        let size = vint(file, &mut pos, false) as usize;
        pos += size;
        assert_eq!(vint(file, &mut pos, true), u64::from(id::SEGMENT));
        let size = vint(file, &mut pos, false) as usize;
        assert_eq!(pos + size, file.len(), "the Segment size covers the file exactly");
        let mut children = Vec::new();
        while pos < file.len() {
            let start = pos;
            let element = vint(file, &mut pos, true);
            let len = vint(file, &mut pos, false) as usize;
            pos += len;
            assert!(pos <= file.len(), "element {element:x} runs past the end");
            children.push((element, start, pos));
        }
        children
    }

    fn record(out: FullDisk, frames: u64) -> (FullDisk, std::io::Result<()>) {
        let (video, audio) = tracks();
        let mut w = MatroskaWriter::new(out, Container::WebM, &video, Some(&audio), &[]).unwrap();
        let mut result = Ok(());
        for i in 0..frames {
            let ts = (i * 1000 / 30) as i64;
            let r = w
                .write_audio(ts, ts as f64 + 20.0, &[0xaa; 100], None)
                .and_then(|()| w.write_video(ts, ts as f64 + 33.3, i % 30 == 0, &vec![i as u8; 2000]));
            if r.is_err() {
                result = r;
                break;
            }
        }
        let (out, finished) = w.finish();
        (out, result.and(finished))
    }

    #[test]
    fn complete_file_has_seek_head_clusters_and_cues() {
        let (out, result) = record(
            FullDisk {
                inner: Cursor::new(Vec::new()),
                limit: u64::MAX,
            },
            95,
        );
        result.unwrap();
        let file = out.inner.into_inner();
        let kinds: Vec<u64> = segment_children(&file)
            .iter()
            .map(|c| c.0)
            .filter(|&k| k != u64::from(id::VOID))
            .collect();
        assert_eq!(kinds[0], u64::from(id::SEEK_HEAD));
        assert_eq!(kinds[1..3], [u64::from(id::INFO), u64::from(id::TRACKS)]);
        assert_eq!(*kinds.last().unwrap(), u64::from(id::CUES));
        assert!(kinds.iter().filter(|&&k| k == u64::from(id::CLUSTER)).count() >= 4);
    }

    /// The positions of the CuePoints of a finished file, checked to point at a Cluster each.
    fn cue_positions(file: &[u8], children: &[(u64, usize, usize)]) -> Vec<u64> {
        let segment_data_start = children[0].1;
        let &(_, cues_start, cues_end) = children
            .iter()
            .find(|c| c.0 == u64::from(id::CUES))
            .expect("a Cues element");
        let mut positions = Vec::new();
        // Cues ▸ CuePoint ▸ (CueTime, CueTrackPositions ▸ (CueTrack, CueClusterPosition)).
        fn walk(data: &[u8], positions: &mut Vec<u64>) {
            let mut pos = 0;
            while pos < data.len() {
                let element = vint(data, &mut pos, true);
                let len = vint(data, &mut pos, false) as usize;
                let body = &data[pos..pos + len];
                if element == u64::from(id::CUE_POINT) || element == u64::from(id::CUE_TRACK_POSITIONS) {
                    walk(body, positions);
                } else if element == u64::from(id::CUE_CLUSTER_POSITION) {
                    positions.push(body.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)));
                }
                pos += len;
            }
        }
        let mut pos = cues_start;
        vint(file, &mut pos, true);
        vint(file, &mut pos, false);
        walk(&file[pos..cues_end], &mut positions);
        for &p in &positions {
            let at = segment_data_start + p as usize;
            assert!(
                children.iter().any(|c| c.0 == u64::from(id::CLUSTER) && c.1 == at),
                "a CuePoint points at byte {at}, where no Cluster starts"
            );
        }
        positions
    }

    /// Every cluster opens with a keyframe here, so the cluster the full disk cuts off had a
    /// CuePoint: the Cues written after the cut must not list it (they would point past the
    /// last cluster, at the Cues themselves).
    #[test]
    fn a_keyframe_cluster_cut_off_by_a_full_disk_leaves_no_cue_behind() {
        let (video, audio) = tracks();
        let mut w = MatroskaWriter::new(
            FullDisk {
                inner: Cursor::new(Vec::new()),
                limit: 50_000,
            },
            Container::WebM,
            &video,
            Some(&audio),
            &[],
        )
        .unwrap();
        let mut failed = false;
        for i in 0..300u64 {
            let ts = (i * 1000 / 30) as i64;
            if w.write_video(ts, ts as f64 + 33.3, i % 10 == 0, &vec![i as u8; 2000])
                .is_err()
            {
                failed = true;
                break;
            }
        }
        assert!(failed, "the 50 kB limit was reached");
        let (out, finished) = w.finish();
        finished.unwrap();
        let file = out.inner.into_inner();
        let children = segment_children(&file);
        let clusters = children.iter().filter(|c| c.0 == u64::from(id::CLUSTER)).count();
        assert_eq!(
            cue_positions(&file, &children).len(),
            clusters,
            "one CuePoint per cluster kept"
        );
    }

    #[test]
    fn full_disk_cuts_back_to_last_cluster_and_keeps_header_valid() {
        let (out, result) = record(
            FullDisk {
                inner: Cursor::new(Vec::new()),
                limit: 50_000,
            },
            300,
        );
        let e = result.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
        let file = out.inner.into_inner();
        assert!(file.len() <= 50_000);
        // segment_children checks that whole elements tile the file to its last byte: the cut-off
        // cluster is gone, and the Cues (written after the cut, into the room it freed) index
        // the clusters that remain.
        let children = segment_children(&file);
        assert!(children.iter().any(|c| c.0 == u64::from(id::CLUSTER)));
        assert_eq!(children.last().unwrap().0, u64::from(id::CUES));
    }

    /// The Video element's unsigned children (id → value) of a track written for `video`.
    fn video_fields(video: &VideoTrack) -> Vec<(u64, u64)> {
        let mut entry = Vec::new();
        write_video_track(&mut entry, video);
        let mut pos = 0;
        while pos < entry.len() {
            let element = vint(&entry, &mut pos, true);
            let len = vint(&entry, &mut pos, false) as usize;
            if element == u64::from(id::VIDEO) {
                let body = &entry[pos..pos + len];
                let mut fields = Vec::new();
                let mut p = 0;
                while p < body.len() {
                    let child = vint(body, &mut p, true);
                    let n = vint(body, &mut p, false) as usize;
                    let value = body[p..p + n].iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
                    fields.push((child, value));
                    p += n;
                }
                return fields;
            }
            pos += len;
        }
        panic!("no Video element");
    }

    /// The Colour element repeats the stream's description (here BT.601, full range, as a
    /// hardware preset might leave it), so the container never contradicts the bitstream; a
    /// stream that leaves its colours unspecified gets BT.709, which the converter produces.
    #[test]
    fn colour_comes_from_the_sequence_header() {
        let colour_of = |cpm, full| {
            let seq = crate::av1::testing::obu(&crate::av1::testing::coloured_payload(64, 64, cpm, full));
            let video = VideoTrack {
                av1c: crate::av1::av1c(&seq).unwrap(),
                ..tracks().0
            };
            let mut entry = Vec::new();
            write_video_track(&mut entry, &video);
            let colour_at = entry
                .windows(2)
                .position(|w| w == [0x55, 0xB0])
                .expect("a Colour element");
            let body = &entry[colour_at + 3..];
            let field = |element: u32| {
                let bytes = element.to_be_bytes();
                let at = body.windows(2).position(|w| w == &bytes[2..]).expect("the field");
                body[at + 3]
            };
            [
                field(id::PRIMARIES),
                field(id::TRANSFER_CHARACTERISTICS),
                field(id::MATRIX_COEFFICIENTS),
                field(id::RANGE),
            ]
        };
        assert_eq!(colour_of(Some((6, 6, 6)), true), [6, 6, 6, 2]);
        assert_eq!(colour_of(Some((1, 1, 1)), false), [1, 1, 1, 1]);
        assert_eq!(colour_of(None, false), [1, 1, 1, 1]);
    }

    /// A hardware encoder opened at 1920x1080 that codes 1088 rows (AMD's 64x16 alignment):
    /// the file says 1920x1088 cropped by 8 at the bottom, as the bitstream decodes, not the
    /// 1080 the encoder was asked for.
    #[test]
    fn pixel_size_and_crop_come_from_the_sequence_header() {
        let field = |fields: &[(u64, u64)], id: u32| fields.iter().find(|f| f.0 == u64::from(id)).map(|f| f.1);
        let padded = VideoTrack {
            coded_width: 1920,
            coded_height: 1080,
            display_width: 1920,
            display_height: 1080,
            fps: 60,
            av1c: crate::av1::av1c(&crate::av1::testing::sequence_header(1920, 1088)).unwrap(),
        };
        assert_eq!(padded.pixel_size(), (1920, 1088));
        let fields = video_fields(&padded);
        assert_eq!(field(&fields, id::PIXEL_WIDTH), Some(1920));
        assert_eq!(field(&fields, id::PIXEL_HEIGHT), Some(1088));
        assert_eq!(field(&fields, id::PIXEL_CROP_BOTTOM), Some(8));
        assert_eq!(field(&fields, id::PIXEL_CROP_RIGHT), None);
        assert_eq!(field(&fields, id::DISPLAY_WIDTH), Some(1920));
        assert_eq!(field(&fields, id::DISPLAY_HEIGHT), Some(1080));

        // An odd window padded on both axes (Vulkan aligned to 64x64, say).
        let odd = VideoTrack {
            coded_width: 1282,
            coded_height: 722,
            display_width: 1281,
            display_height: 721,
            av1c: crate::av1::av1c(&crate::av1::testing::sequence_header(1344, 768)).unwrap(),
            ..padded
        };
        let fields = video_fields(&odd);
        assert_eq!(field(&fields, id::PIXEL_CROP_RIGHT), Some(1344 - 1281));
        assert_eq!(field(&fields, id::PIXEL_CROP_BOTTOM), Some(768 - 721));

        // No readable sequence header: the encoder's coded size stands in.
        let (unknown, _) = tracks();
        assert_eq!(unknown.pixel_size(), (1282, 722));
        assert_eq!(field(&video_fields(&unknown), id::PIXEL_CROP_RIGHT), Some(1));
    }
}
