//! The render farm: one Movie Maker recording rendered as frame-range chunks by many engine
//! processes or machines, each chunk checked, and the chunks merged without re-encoding.
//!
//! * [`chunk`]: reads a chunk back (FFmpeg's matroska demuxer) and checks it: complete, the
//!   expected frame count, a keyframe first, every frame decodes (libaom), exact audio length,
//!   and the bitstream judge (`crate::judge`) passes it.
//! * [`merge`]: copies the chunks' video packets onto one clock and encodes their PCM once.
//! * [`job`]: the job description and the folder every runner (local pool, Slurm, OpenJD) reads;
//!   `text`: what a job may write into its scripts.

pub mod chunk;
pub(crate) mod decode;
pub mod job;
pub mod merge;
mod text;

pub use chunk::{check_chunk, check_chunks, ChunkFormat, ChunkInfo, Expected};
pub use job::{ChunkRange, Job, PlanRequest, Split};
pub use merge::{merge, Merged};
