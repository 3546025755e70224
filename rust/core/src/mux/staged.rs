//! A new recording is written beside its final name (`take1.webm.starting`) and moved onto it
//! once media has reached the disk, so a recording that fails before (an encoder that does not
//! open, a full disk at the first cluster) leaves a file already at that name untouched. The
//! move happens early, at the first cluster or fragment, not at the end: a recording killed
//! mid-way must still be found, playable, at its own name.
//!
//! A process killed before its first cluster leaves the `.starting` file behind (a header and no
//! media); the next recording to that name overwrites it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Appended to the final name while a recording has no media on disk yet.
pub const STAGING_SUFFIX: &str = ".starting";

pub struct StagedFile {
    /// The file, until the muxer takes it (an MP4 is opened again by path, by FFmpeg).
    file: Option<File>,
    path: PathBuf,
    staging: PathBuf,
    placed: bool,
}

impl StagedFile {
    /// Creates the staging file for `path`. An existing file at `path` is not touched, only
    /// checked to be writable, so that a read-only file is refused now rather than replaced
    /// later (a rename needs only the folder's permission).
    pub fn create(path: &Path) -> io::Result<Self> {
        if path.exists() {
            OpenOptions::new().write(true).open(path)?;
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(STAGING_SUFFIX);
        let staging = path.with_file_name(name);
        let file = File::create(&staging)?;
        Ok(Self {
            file: Some(file),
            path: path.to_path_buf(),
            staging,
            placed: false,
        })
    }

    /// The open file, once: the muxer writes through it.
    pub fn take_file(&mut self) -> Option<File> {
        self.file.take()
    }

    /// Where the file is now: its staging name until [`StagedFile::place`], then its own.
    pub fn current(&self) -> &Path {
        if self.placed {
            &self.path
        } else {
            &self.staging
        }
    }

    pub fn is_placed(&self) -> bool {
        self.placed
    }

    /// Moves the file onto its final name, replacing what was there; later calls do nothing.
    pub fn place(&mut self) -> io::Result<()> {
        if !self.placed {
            fs::rename(&self.staging, &self.path)?;
            self.placed = true;
        }
        Ok(())
    }

    /// After a finished recording: the file's bytes and its name in the folder reach the disk,
    /// so a power cut after "done" finds the whole file.
    pub fn sync(&self) -> io::Result<()> {
        OpenOptions::new().write(true).open(self.current())?.sync_all()?;
        sync_folder(self.current())
    }
}

impl Drop for StagedFile {
    /// A file never placed holds no media: it goes, and whatever was at the final name stays.
    fn drop(&mut self) {
        if !self.placed {
            // Closed first: Windows cannot remove an open file.
            drop(self.file.take());
            let _ = fs::remove_file(&self.staging);
        }
    }
}

/// Makes a rename or a new name in the folder of `path` durable.
#[cfg(unix)]
pub fn sync_folder(path: &Path) -> io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(folder)?.sync_all()
}

/// Windows cannot open a folder as a file; NTFS journals the rename itself.
#[cfg(not(unix))]
pub fn sync_folder(_: &Path) -> io::Result<()> {
    Ok(())
}
