//! Joins checked chunks into one recording without re-encoding a frame.
//!
//! Video packets are copied as they are and retimed onto one clock (frame `i` of the merged
//! file at `i / fps`). Audio is the chunks' PCM, concatenated and encoded once by the same
//! [`AudioEncoder`] a recording uses: a per-chunk encode would put a codec delay (Opus
//! pre-skip, AAC priming) and a padded last packet at every border, i.e. a gap or click. The file
//! is written by the recorder's own muxer ([`Output`]), so Cues (Matroska) and the edit lists
//! (MP4) describe the whole file.
//!
//! The merge writes a hidden file beside the output and renames it into place at the end: a
//! merge that fails leaves any earlier file of that name as it was. An output that is one of
//! the chunks (by name, symlink or hard link) is refused before anything is written.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::chunk::{check_chunks, read_chunk, ChunkInfo, ChunkPacket, Expected};
use movie_writer_av1_core::audio::AudioEncoder;
use movie_writer_av1_core::config::{AudioConfig, Container};
use movie_writer_av1_core::error::{ConfigError, Error, Result};
use movie_writer_av1_core::mux::{
    AudioTrack, Interleaver, MuxPacket, Output, Timing, Track, VideoTrack, TICKS_PER_FRAME,
};
use movie_writer_av1_core::pipeline::AudioShape;

/// What [`merge`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub frames: u64,
    /// Audio samples per channel.
    pub samples: u64,
    pub bytes: u64,
}

/// Checks `chunks` (see [`check_chunks`]; `expected` per chunk when the job knows it) and
/// writes them to `out`, whose extension picks the container: `.webm` and `.mkv` get Opus,
/// `.mp4` AAC. Nothing is written when a chunk fails its check, and `out` is only replaced by a
/// complete merge.
pub fn merge(chunks: &[PathBuf], expected: Option<&[Expected]>, out: &Path) -> Result<Merged> {
    let container = Container::from_path(out)
        .ok_or_else(|| ConfigError::new("the merged file", out.display(), "a path ending in .webm, .mkv or .mp4"))?;
    if chunks.is_empty() {
        return Err(Error::Usage("nothing to merge: no chunk files were given".into()));
    }
    if let Some(i) = chunks.iter().position(|c| same_file(c, out)) {
        return Err(ConfigError::new(
            "the merged file",
            out.display(),
            format!(
                "a file that is not one of the chunks (it is chunk {i}, '{}'): the merge would overwrite what it reads",
                chunks[i].display()
            ),
        )
        .into());
    }
    let infos = check_chunks(chunks, expected)?;
    let tmp = temporary_beside(out);
    let result = write(&infos, container, &tmp)
        .and_then(|m| std::fs::rename(&tmp, out).map(|()| m).map_err(|e| Error::io(out, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether `a` and `b` are one file: the same device and inode on Unix (symlinks and hard
/// links included), the same canonical path elsewhere. A path that does not exist is no file.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A hidden name in `out`'s folder (so the rename stays on one file system), unique to this
/// process.
fn temporary_beside(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.{}.merging", std::process::id()))
}

fn write(infos: &[ChunkInfo], container: Container, out: &Path) -> Result<Merged> {
    let format = &infos[0].format;
    let audio_config = AudioConfig {
        codec: Some(container.default_audio_codec()),
        sample_rate: format.sample_rate,
        channels: format.channels,
        ..AudioConfig::default()
    };
    let mut encoder = AudioEncoder::new(container.default_audio_codec(), &audio_config, format.fps)?;
    let video = VideoTrack {
        coded_width: format.width,
        coded_height: format.height,
        display_width: format.display_width,
        display_height: format.display_height,
        fps: format.fps,
        av1c: format.av1c.clone(),
    };
    let audio = AudioTrack {
        codec: encoder.kind(),
        sample_rate: format.sample_rate,
        channels: format.channels,
        codec_private: encoder.codec_private(),
        delay: encoder.delay(),
        frame_samples: encoder.frame_samples() as u32,
    };
    let file = File::create(out).map_err(|e| Error::io(out, e))?;
    let mut mux = Output::create(out, file, container, &video, &audio, false, &[]).map_err(|e| Error::io(out, e))?;
    let shape = AudioShape::of(&encoder);
    let mut il = Interleaver::default();
    let fps = i64::from(format.fps);
    let mut frame = 0i64;
    for info in infos {
        read_chunk(&info.path, &Expected::frames(info.frames), |_, packet| {
            match packet {
                ChunkPacket::Video { data, keyframe } => {
                    il.push(MuxPacket {
                        track: Track::Video,
                        time: frame_time(frame, fps),
                        keyframe,
                        data: data.to_vec(),
                        discard_padding_ns: None,
                    });
                    frame += 1;
                }
                ChunkPacket::Audio(pcm) => encoder.push_samples(pcm, |p| {
                    il.push(shape.packet(&p, p.data.to_vec()));
                    Ok(())
                })?,
            }
            drain(&mut il, &mut mux, false).map_err(|e| Error::io(out, e))
        })?;
    }
    encoder.finish(|p| {
        il.push(shape.packet(&p, p.data.to_vec()));
        Ok(())
    })?;
    drain(&mut il, &mut mux, true).map_err(|e| Error::io(out, e))?;
    let (bytes, finished) = mux.finish();
    finished.map_err(|e| Error::io(out, e))?;
    Ok(Merged {
        frames: frame as u64,
        samples: encoder.samples_in(),
        bytes,
    })
}

/// Frame `i` on the merged file's clock, as a Movie Maker recording places it.
fn frame_time(i: i64, fps: i64) -> Timing {
    let frame_ms = 1000.0 / fps as f64;
    Timing {
        ts_ms: (i * 1000 + fps / 2) / fps,
        end_ms: (i + 1) as f64 * frame_ms,
        pts: i * TICKS_PER_FRAME,
        duration: TICKS_PER_FRAME,
    }
}

fn drain(il: &mut Interleaver, mux: &mut Output, draining: bool) -> std::io::Result<()> {
    while let Some(p) = il.pop(draining) {
        mux.write(p.track, &p.time, p.keyframe, &p.data, p.discard_padding_ns)?;
    }
    Ok(())
}
