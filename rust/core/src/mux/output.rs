//! The recording's file, whichever container its extension asks for.

use std::fs::File;
use std::io;
use std::path::Path;

use super::mp4::Layout;
use super::{AudioTrack, MatroskaWriter, Mp4Writer, Timing, Track, VideoTrack};
use crate::config::Container;

pub enum Output {
    Matroska(MatroskaWriter<File>),
    Mp4(Mp4Writer),
}

impl Output {
    /// Writes the file's header. `file` is the already created output: Matroska writes through
    /// it; FFmpeg opens the path again itself. `crash_safe`: an MP4 is written in fragments while
    /// recording and rewritten with one moov by [`Output::finish`] (a Matroska file is always
    /// written crash-safe). `tags` (name, text) go into a Matroska file's global Tags; an MP4
    /// has none (only a render-farm chunk, always Matroska, carries one).
    pub fn create(
        path: &Path,
        file: File,
        container: Container,
        video: &VideoTrack,
        audio: &AudioTrack,
        crash_safe: bool,
        tags: &[(&str, &str)],
    ) -> io::Result<Self> {
        Ok(match container {
            Container::WebM | Container::Matroska => {
                Self::Matroska(MatroskaWriter::new(file, container, video, Some(audio), tags)?)
            }
            Container::Mp4 => {
                drop(file);
                let layout = if crash_safe {
                    Layout::Fragmented
                } else {
                    Layout::Progressive
                };
                Self::Mp4(Mp4Writer::create(path, video, audio, layout)?)
            }
        })
    }

    /// Writes one packet; packets come in time order (see `Interleaver`).
    pub fn write(
        &mut self,
        track: Track,
        time: &Timing,
        keyframe: bool,
        data: &[u8],
        discard_padding_ns: Option<i64>,
    ) -> io::Result<()> {
        match (self, track) {
            (Self::Matroska(m), Track::Video) => m.write_video(time.ts_ms, time.end_ms, keyframe, data),
            (Self::Matroska(m), Track::Audio) => m.write_audio(time.ts_ms, time.end_ms, data, discard_padding_ns),
            (Self::Mp4(m), track) => m.write(track, time, keyframe, data),
        }
    }

    /// Completes the file; returns its size and the first error. After an error the file is
    /// still closed properly, so what was written stays playable.
    pub fn finish(self) -> (u64, io::Result<()>) {
        match self {
            Self::Matroska(m) => {
                let (file, result) = m.finish();
                (file.metadata().map(|m| m.len()).unwrap_or(0), result)
            }
            Self::Mp4(m) => m.finish(),
        }
    }
}
