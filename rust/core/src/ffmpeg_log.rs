//! FFmpeg's log, routed through us, so that a probe can keep what FFmpeg said.
//!
//! With every hardware encoder compiled in, each recording's `auto` selection probes encoders
//! this machine lacks, and FFmpeg reports each failure on the console ("Cannot load
//! libcuda.so.1"), in the game's log, every time. While a probe runs, [`capture`] collects those
//! lines on its own thread instead, and the probe puts them into its reason. Everything else is
//! printed to stderr as FFmpeg's own callback would, at the level `quiet.rs` sets.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::io::Write;
use std::sync::Once;

use ffmpeg_next::ffi;

thread_local! {
    /// The lines of the probe running on this thread, if one is.
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// FFmpeg's messages from every thread that no [`capture`] took, also kept here once
/// [`keep_journal`] is called: `mwav1 hwcheck` puts those of a failed case into its report,
/// the encode thread's included. Off (None) in the extension, which never calls it.
static JOURNAL: parking_lot::Mutex<Option<Vec<String>>> = parking_lot::Mutex::new(None);
/// The journal keeps the newest lines only: a failing encoder can repeat itself every frame.
const JOURNAL_LINES: usize = 200;

/// From now on, keeps FFmpeg's printed messages (see [`take_journal`]) besides printing them.
pub fn keep_journal() {
    install();
    JOURNAL.lock().get_or_insert_with(Vec::new);
}

/// The messages kept since the last call (empty unless [`keep_journal`] was called).
pub fn take_journal() -> Vec<String> {
    JOURNAL.lock().as_mut().map(std::mem::take).unwrap_or_default()
}

/// Routes FFmpeg's log through [`callback`] (once per process).
pub fn install() {
    // SAFETY: the callback is a plain function that lives as long as the process.
    INSTALL.call_once(|| unsafe { ffi::av_log_set_callback(Some(callback)) });
}

/// Runs `f` with FFmpeg's messages on this thread collected instead of printed, and returns
/// them with its result.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    install();
    let outer = CAPTURED.with_borrow_mut(|c| c.replace(Vec::new()));
    let result = f();
    let lines = CAPTURED
        .with_borrow_mut(|c| std::mem::replace(c, outer))
        .unwrap_or_default();
    (result, lines)
}

/// How the bindings pass a `va_list` to a callback: the x86-64 System V ABI's (Linux, macOS) is
/// an array of one struct, so it arrives as a pointer to that struct; Windows' and arm64 macOS's
/// is a plain `char *`.
#[cfg(all(target_arch = "x86_64", not(windows)))]
type VaList = *mut ffi::__va_list_tag;
#[cfg(not(all(target_arch = "x86_64", not(windows))))]
type VaList = ffi::va_list;

unsafe extern "C" fn callback(avcl: *mut c_void, level: c_int, fmt: *const c_char, vl: VaList) {
    // SAFETY: reads FFmpeg's global level; formats the message FFmpeg handed us into our buffer
    // with FFmpeg's own formatter, which consumes `vl` exactly once.
    let text = unsafe {
        if level > ffi::av_log_get_level() {
            return;
        }
        let mut line = [0 as c_char; 1024];
        // No "[CUDA @ 0x…]" context prefix: the probe names the encoder itself.
        let mut print_prefix: c_int = 0;
        ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            vl,
            line.as_mut_ptr(),
            line.len() as c_int,
            &mut print_prefix,
        );
        CStr::from_ptr(line.as_ptr()).to_string_lossy().into_owned()
    };
    let kept = CAPTURED.with_borrow_mut(|c| {
        c.as_mut()
            .map(|lines| lines.push(text.trim_end().to_string()))
            .is_some()
    });
    if !kept {
        if let Some(journal) = JOURNAL.lock().as_mut() {
            if journal.len() == JOURNAL_LINES {
                journal.remove(0);
            }
            journal.push(text.trim_end().to_string());
        }
        // Not eprint!, which panics when stderr is gone (a closed pipe: EPIPE), and a panic
        // cannot leave an extern "C" function: the process, the engine, would abort.
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_keeps_ffmpeg_messages_of_its_thread() {
        let (_, lines) = capture(|| {
            let msg = c"probe says %d\n";
            // SAFETY: a format string with one int argument, as av_log expects.
            unsafe { ffi::av_log(std::ptr::null_mut(), ffi::AV_LOG_ERROR, msg.as_ptr(), 42 as c_int) };
        });
        assert_eq!(lines, ["probe says 42"]);
        let (_, none) = capture(|| ());
        assert!(none.is_empty());
    }

    #[test]
    fn the_journal_keeps_messages_of_other_threads_once_asked() {
        let log = |text: &'static std::ffi::CStr| {
            std::thread::spawn(move || {
                // SAFETY: a format string without arguments.
                unsafe { ffi::av_log(std::ptr::null_mut(), ffi::AV_LOG_ERROR, text.as_ptr()) };
            })
            .join()
            .unwrap();
        };
        log(c"before the journal\n");
        keep_journal();
        log(c"encoder says no\n");
        let kept = take_journal();
        assert!(kept.contains(&"encoder says no".to_string()), "{kept:?}");
        assert!(!kept.iter().any(|l| l.contains("before the journal")), "{kept:?}");
        assert!(take_journal().iter().all(|l| l != "encoder says no"), "taken once");
    }

    /// A message printed while stderr is a pipe nobody reads (EPIPE) is lost, and the process
    /// lives on. Run in a child of this test binary, whose stderr is closed before it logs.
    #[test]
    fn a_message_to_a_closed_stderr_does_not_abort_the_process() {
        const CHILD: &str = "MWAV1_FFMPEG_LOG_CHILD";
        if std::env::var_os(CHILD).is_some() {
            install();
            // Until the parent has closed its end of the pipe.
            std::thread::sleep(std::time::Duration::from_millis(300));
            let msg = c"to a stderr nobody reads\n";
            // SAFETY: a format string without arguments.
            unsafe { ffi::av_log(std::ptr::null_mut(), ffi::AV_LOG_ERROR, msg.as_ptr()) };
            return;
        }
        let name = "ffmpeg_log::tests::a_message_to_a_closed_stderr_does_not_abort_the_process";
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "the child logging to a closed stderr ended with {status}"
        );
    }
}
