//! Matroska / WebM writer for one AV1 video track and an optional Opus audio track.
//!
//! Why our own and not FFmpeg's or libwebm's (see ARCHITECTURE.md): SVT-AV1 needs even frame
//! sizes, so odd sizes are padded and the file must carry PixelCrop and the exact display size,
//! which FFmpeg 5.1's muxer cannot write; the `webm` crate exposes neither CodecDelay/SeekPreRoll
//! nor the DocType. The layout is chosen for crash safety:
//!
//! * the Segment starts with an unknown size, SeekHead and Duration go into reserved Void space,
//!   and all three are patched in by [`MatroskaWriter::finish`]: a file that never gets there is
//!   still a valid live-style Matroska file;
//! * each Cluster is written in one piece as soon as it is complete, and clusters never span more
//!   than [`CLUSTER_MAX_MS`], so a killed recording loses at most that much;
//! * every video keyframe opens a Cluster and gets a CuePoint, so the finished file seeks.

use std::io::{Seek, SeekFrom, Write};

use super::ebml::{self, id};
use crate::config::Container;

pub const VIDEO_TRACK: u64 = 1;
pub const AUDIO_TRACK: u64 = 2;
/// Longest a cluster may run before it is written out; bounds what a crash can lose.
pub const CLUSTER_MAX_MS: i64 = 1000;
const SEEK_HEAD_RESERVE: usize = 96;
const DURATION_RESERVE: usize = 11;
const OPUS_SEEK_PRE_ROLL_NS: u64 = 80_000_000;

#[derive(Debug, Clone)]
pub struct VideoTrack {
    /// Size of the coded AV1 frames.
    pub coded_width: u32,
    pub coded_height: u32,
    /// Size to show; smaller than coded when the encoder needed padding (cropped right/bottom).
    pub display_width: u32,
    pub display_height: u32,
    pub fps: u32,
    /// AV1CodecConfigurationRecord.
    pub av1c: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct AudioTrack {
    pub sample_rate: u32,
    pub channels: u32,
    /// OpusHead.
    pub codec_private: Vec<u8>,
    /// Opus pre-skip in samples at 48 kHz; written as CodecDelay.
    pub pre_skip: u32,
}

pub struct MatroskaWriter<W: Write + Seek> {
    out: W,
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

impl<W: Write + Seek> MatroskaWriter<W> {
    /// Writes the EBML header, Segment start, Info and Tracks, and flushes them to `out`.
    pub fn new(
        mut out: W,
        container: Container,
        video: &VideoTrack,
        audio: Option<&AudioTrack>,
    ) -> std::io::Result<Self> {
        let mut head = Vec::with_capacity(1024);
        ebml::put_master(&mut head, id::EBML, |b| {
            ebml::put_uint(b, id::EBML_VERSION, 1);
            ebml::put_uint(b, id::EBML_READ_VERSION, 1);
            ebml::put_uint(b, id::EBML_MAX_ID_LENGTH, 4);
            ebml::put_uint(b, id::EBML_MAX_SIZE_LENGTH, 8);
            ebml::put_str(b, id::DOC_TYPE, container.doc_type());
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
        out.write_all(&head)?;
        out.flush()?;
        Ok(Self {
            out,
            segment_size_pos,
            segment_data_start,
            seek_head_pos,
            duration_pos,
            info_pos,
            tracks_pos,
            cluster: Vec::with_capacity(1 << 20),
            cluster_ts: None,
            cues: Vec::new(),
            end_ms: 0.0,
        })
    }

    /// Adds a video block. A keyframe always opens a new cluster and gets a CuePoint.
    pub fn write_video(&mut self, ts_ms: i64, duration_ms: f64, keyframe: bool, data: &[u8]) -> std::io::Result<()> {
        if keyframe {
            self.close_cluster()?;
            let pos = self.out.stream_position()? - self.segment_data_start;
            self.cues.push((ts_ms, pos));
        }
        self.write_block(VIDEO_TRACK, ts_ms, keyframe, data, None)?;
        self.end_ms = self.end_ms.max(ts_ms as f64 + duration_ms);
        Ok(())
    }

    /// Adds an audio block; `discard_padding_ns` trims the decoded end of the last packet.
    pub fn write_audio(
        &mut self,
        ts_ms: i64,
        duration_ms: f64,
        data: &[u8],
        discard_padding_ns: Option<i64>,
    ) -> std::io::Result<()> {
        self.write_block(AUDIO_TRACK, ts_ms, true, data, discard_padding_ns)?;
        self.end_ms = self.end_ms.max(ts_ms as f64 + duration_ms);
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

    /// Writes the pending cluster in one piece, with its real size.
    fn close_cluster(&mut self) -> std::io::Result<()> {
        if self.cluster_ts.take().is_none() {
            return Ok(());
        }
        let mut head = Vec::with_capacity(12);
        ebml::put_id(&mut head, id::CLUSTER);
        ebml::put_size(&mut head, self.cluster.len() as u64);
        self.out.write_all(&head)?;
        self.out.write_all(&self.cluster)?;
        self.out.flush()?;
        self.cluster.clear();
        Ok(())
    }

    /// Writes the last cluster and the Cues, then patches Segment size, SeekHead and Duration.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.close_cluster()?;
        let cues_pos = self.out.stream_position()?;
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
        if !self.cues.is_empty() {
            self.out.write_all(&cues)?;
        }
        let end = self.out.stream_position()?;

        let mut size = Vec::new();
        ebml::put_size_fixed(&mut size, end - self.segment_data_start, 8);
        self.patch(self.segment_size_pos, &size)?;

        let rel = |pos: u64| pos - self.segment_data_start;
        let mut seek_head = Vec::new();
        ebml::put_master(&mut seek_head, id::SEEK_HEAD, |b| {
            let mut entries = vec![(id::INFO, rel(self.info_pos)), (id::TRACKS, rel(self.tracks_pos))];
            if !self.cues.is_empty() {
                entries.push((id::CUES, rel(cues_pos)));
            }
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
        self.out.flush()?;
        Ok(self.out)
    }

    fn patch(&mut self, pos: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.out.seek(SeekFrom::Start(pos))?;
        self.out.write_all(bytes)
    }

    pub fn get_ref(&self) -> &W {
        &self.out
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
    ebml::put_master(t, id::VIDEO, |b| {
        ebml::put_uint(b, id::PIXEL_WIDTH, v.coded_width.into());
        ebml::put_uint(b, id::PIXEL_HEIGHT, v.coded_height.into());
        if v.coded_height > v.display_height {
            ebml::put_uint(b, id::PIXEL_CROP_BOTTOM, (v.coded_height - v.display_height).into());
        }
        if v.coded_width > v.display_width {
            ebml::put_uint(b, id::PIXEL_CROP_RIGHT, (v.coded_width - v.display_width).into());
        }
        ebml::put_uint(b, id::DISPLAY_WIDTH, v.display_width.into());
        ebml::put_uint(b, id::DISPLAY_HEIGHT, v.display_height.into());
        ebml::put_uint(b, id::DISPLAY_UNIT, 0);
        // BT.709 primaries/transfer/matrix, limited range, MPEG-2 chroma siting (left, half):
        // what the colour converter produces and what browsers then display correctly.
        ebml::put_master(b, id::COLOUR, |c| {
            ebml::put_uint(c, id::MATRIX_COEFFICIENTS, 1);
            ebml::put_uint(c, id::BITS_PER_CHANNEL, 8);
            ebml::put_uint(c, id::CHROMA_SITING_HORZ, 1);
            ebml::put_uint(c, id::CHROMA_SITING_VERT, 2);
            ebml::put_uint(c, id::RANGE, 1);
            ebml::put_uint(c, id::TRANSFER_CHARACTERISTICS, 1);
            ebml::put_uint(c, id::PRIMARIES, 1);
        });
    });
}

fn write_audio_track(t: &mut Vec<u8>, a: &AudioTrack) {
    ebml::put_uint(t, id::TRACK_NUMBER, AUDIO_TRACK);
    ebml::put_uint(t, id::TRACK_UID, AUDIO_TRACK);
    ebml::put_uint(t, id::TRACK_TYPE, 2);
    ebml::put_uint(t, id::FLAG_LACING, 0);
    ebml::put_str(t, id::LANGUAGE, "und");
    ebml::put_str(t, id::CODEC_ID, "A_OPUS");
    ebml::put_bytes(t, id::CODEC_PRIVATE, &a.codec_private);
    let delay_ns = u64::from(a.pre_skip) * 1_000_000_000 / u64::from(a.sample_rate);
    ebml::put_uint(t, id::CODEC_DELAY, delay_ns);
    ebml::put_uint(t, id::SEEK_PRE_ROLL, OPUS_SEEK_PRE_ROLL_NS);
    ebml::put_master(t, id::AUDIO, |b| {
        ebml::put_float(b, id::SAMPLING_FREQUENCY, f64::from(a.sample_rate));
        ebml::put_uint(b, id::CHANNELS, a.channels.into());
    });
}
