//! The recording's file, whichever container its extension asks for.

use std::fs::File;
use std::io;
use std::path::Path;

use super::mp4::Layout;
use super::staged::StagedFile;
use super::{AudioTrack, MatroskaWriter, Mp4Writer, Timing, Track, VideoTrack};
use crate::config::Container;

enum Writer {
    Matroska(MatroskaWriter<File>),
    Mp4(Mp4Writer),
}

pub struct Output {
    writer: Writer,
    /// A file written beside its final name (see `staged.rs`); `None`: written in place.
    /// Declared after the writer, so that the file is closed before an unplaced one is removed.
    staged: Option<StagedFile>,
    crash_safe: bool,
    /// Bytes on disk once the header was written: more means media has reached the disk.
    header_bytes: u64,
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
        let writer = Self::writer(path, file, container, video, audio, crash_safe, tags)?;
        Ok(Self::around(writer, None, crash_safe))
    }

    /// As [`Output::create`], into a staged file: it takes its final name once media is on disk
    /// (when `crash_safe`: the first cluster or fragment, so a killed recording is found there;
    /// otherwise when finished), and is removed if that never happens, leaving whatever was at
    /// the final name untouched.
    pub fn create_staged(
        mut staged: StagedFile,
        container: Container,
        video: &VideoTrack,
        audio: &AudioTrack,
        crash_safe: bool,
        tags: &[(&str, &str)],
    ) -> io::Result<Self> {
        let file = staged
            .take_file()
            .ok_or_else(|| io::Error::other("the staged file was already taken"))?;
        let writer = Self::writer(staged.current(), file, container, video, audio, crash_safe, tags)?;
        Ok(Self::around(writer, Some(staged), crash_safe))
    }

    fn writer(
        path: &Path,
        file: File,
        container: Container,
        video: &VideoTrack,
        audio: &AudioTrack,
        crash_safe: bool,
        tags: &[(&str, &str)],
    ) -> io::Result<Writer> {
        Ok(match container {
            Container::WebM | Container::Matroska => {
                Writer::Matroska(MatroskaWriter::new(file, container, video, Some(audio), tags)?)
            }
            Container::Mp4 => {
                drop(file);
                let layout = if crash_safe {
                    Layout::Fragmented
                } else {
                    Layout::Progressive
                };
                Writer::Mp4(Mp4Writer::create(path, video, audio, layout)?)
            }
        })
    }

    fn around(writer: Writer, staged: Option<StagedFile>, crash_safe: bool) -> Self {
        let header_bytes = match &writer {
            Writer::Matroska(m) => m.on_disk(),
            Writer::Mp4(m) => m.on_disk(),
        };
        Self {
            writer,
            staged,
            crash_safe,
            header_bytes,
        }
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
        let on_disk = match (&mut self.writer, track) {
            (Writer::Matroska(m), Track::Video) => {
                m.write_video(time.ts_ms, time.end_ms, keyframe, data)?;
                m.on_disk()
            }
            (Writer::Matroska(m), Track::Audio) => {
                m.write_audio(time.ts_ms, time.end_ms, data, discard_padding_ns)?;
                m.on_disk()
            }
            (Writer::Mp4(m), track) => {
                m.write(track, time, keyframe, data)?;
                m.on_disk()
            }
        };
        if self.crash_safe && on_disk > self.header_bytes {
            self.place()?;
        }
        Ok(())
    }

    /// Moves a staged file onto its final name (once).
    fn place(&mut self) -> io::Result<()> {
        let Some(staged) = self.staged.as_mut().filter(|s| !s.is_placed()) else {
            return Ok(());
        };
        staged.place()?;
        if let Writer::Mp4(m) = &mut self.writer {
            m.moved_to(staged.current());
        }
        Ok(())
    }

    /// Completes the file; returns its size and the first error. After an error the file is
    /// still closed properly, so what was written stays playable. A staged file that holds media
    /// takes its final name; a finished one is then synced to disk with its folder entry.
    pub fn finish(self) -> (u64, io::Result<()>) {
        let Self {
            writer,
            staged,
            crash_safe,
            header_bytes,
        } = self;
        let (bytes, result) = match writer {
            Writer::Matroska(m) => {
                let (file, result) = m.finish();
                (file.metadata().map(|m| m.len()).unwrap_or(0), result)
            }
            Writer::Mp4(m) => m.finish(),
        };
        let Some(mut staged) = staged else {
            return (bytes, result);
        };
        // A file whose media never reached the disk is removed (dropping `staged`); so is an
        // unfinished one-go file (a replay), which has no index to play by.
        if bytes <= header_bytes || (result.is_err() && !crash_safe) {
            return (bytes, result);
        }
        let placed = staged.place();
        let result = result.and(placed).and_then(|()| staged.sync());
        (bytes, result)
    }
}
