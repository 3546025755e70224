//! Reading a media file back through FFmpeg's demuxers (mov for the MP4 rewrite, matroska for
//! the render farm's chunks): packets as they are stored, without copying their data.

use std::ffi::CString;
use std::io;
use std::path::Path;
use std::ptr;

use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;

fn ff_io(what: &str, rc: i32) -> io::Error {
    io::Error::other(format!("{what}: {}", ffmpeg::Error::from(rc)))
}

/// The path as FFmpeg's file protocol takes it: the OS's bytes on Unix; UTF-8 on Windows, which
/// FFmpeg widens to UTF-16 for the OS.
pub fn c_path(path: &Path) -> io::Result<CString> {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    #[cfg(windows)]
    let bytes = path
        .to_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path is not valid Unicode"))?
        .as_bytes();
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte"))
}

/// An opened input; closed and freed on drop.
pub struct Demuxer {
    ctx: *mut ffi::AVFormatContext,
}

impl Demuxer {
    /// Opens `path` and reads its stream headers.
    pub fn open(path: &Path) -> io::Result<Self> {
        let cpath = c_path(path)?;
        let mut ctx = ptr::null_mut();
        // SAFETY: FFmpeg allocates and opens the context; on failure it frees it.
        let rc = unsafe { ffi::avformat_open_input(&mut ctx, cpath.as_ptr(), ptr::null(), ptr::null_mut()) };
        if rc < 0 {
            return Err(ff_io(&format!("cannot read '{}'", path.display()), rc));
        }
        Ok(Self { ctx })
    }

    /// The file's streams, owned by the demuxer: valid while it lives.
    pub fn streams(&self) -> Vec<*mut ffi::AVStream> {
        // SAFETY: streams holds nb_streams valid pointers.
        unsafe {
            (0..(*self.ctx).nb_streams as usize)
                .map(|i| *(*self.ctx).streams.add(i))
                .collect()
        }
    }

    /// The file's global tag `key` (Matroska: a SimpleTag of a Tag without targets), as text.
    pub fn metadata(&self, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        // SAFETY: ctx is open; av_dict_get accepts a null dictionary; the entry's value is a
        // C string owned by the dictionary, copied before it can change.
        unsafe {
            let entry = ffi::av_dict_get((*self.ctx).metadata, key.as_ptr(), ptr::null(), 0);
            (!entry.is_null()).then(|| std::ffi::CStr::from_ptr((*entry).value).to_string_lossy().into_owned())
        }
    }

    /// The file's duration as its header states it (Matroska: the Segment's Duration), in µs.
    pub fn duration_us(&self) -> Option<i64> {
        // SAFETY: ctx is open.
        let d = unsafe { (*self.ctx).duration };
        (d != ffi::AV_NOPTS_VALUE).then_some(d)
    }

    /// Reads the next packet into `packet`; false at the end of the file.
    ///
    /// # Safety
    /// `packet` comes from `av_packet_alloc` and is blank (unreferenced since its last use).
    pub unsafe fn read_into(&mut self, packet: *mut ffi::AVPacket) -> io::Result<bool> {
        // SAFETY: ctx is open and `packet` is an allocated, blank packet.
        let rc = unsafe { ffi::av_read_frame(self.ctx, packet) };
        if rc == ffi::AVERROR_EOF {
            return Ok(false);
        }
        if rc < 0 {
            return Err(ff_io("reading", rc));
        }
        Ok(true)
    }
}

impl Drop for Demuxer {
    fn drop(&mut self) {
        // SAFETY: the context was opened by FFmpeg in `open`.
        unsafe { ffi::avformat_close_input(&mut self.ctx) };
    }
}
