//! Runs external tools under a hard time limit, so a hung tool fails a check instead of hanging
//! the test run (and CI) forever.

use std::fmt;
use std::io::{self, Read};
use std::panic;
use std::process::{ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Why a check could not be made at all: a tool is missing, hung, or printed something unreadable.
/// (What a check finds wrong with a file is a problem in its report, not an `Error`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// `cmd` ran to its end but failed: its command line, exit status and what it printed.
    pub fn failed<T>(cmd: &Command, done: &Finished<T>) -> Self {
        Self(format!(
            "`{}` failed ({}): {}",
            describe(cmd),
            done.status,
            done.stderr.trim()
        ))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// A tool that ran to its end (whatever its exit status).
#[derive(Debug)]
pub struct Finished<T> {
    pub status: ExitStatus,
    pub stdout: T,
    pub stderr: String,
}

/// The command line as one would type it, for error messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Turns a failed spawn into an error that says what to install.
pub fn spawn_error(cmd: &Command, e: io::Error) -> Error {
    let program = cmd.get_program().to_string_lossy();
    if e.kind() == io::ErrorKind::NotFound {
        Error(format!(
            "`{program}` was not found on PATH: install it (Debian: ffmpeg, mkvtoolnix, chromium)"
        ))
    } else {
        Error(format!("could not start `{}`: {e}", describe(cmd)))
    }
}

/// Runs `cmd` to its end and collects stdout and stderr.
pub fn run(cmd: &mut Command, limit: Duration) -> Result<Finished<Vec<u8>>> {
    run_streaming(cmd, limit, |out| {
        let mut bytes = Vec::new();
        out.read_to_end(&mut bytes)?;
        Ok(bytes)
    })
}

/// Runs `cmd`, handing its stdout to `consume` while it runs (decoded video is too large to
/// buffer whole). The tool is killed once `limit` has passed. Whatever `consume` leaves unread is
/// drained, so the tool never blocks on a full pipe.
pub fn run_streaming<T: Send>(
    cmd: &mut Command,
    limit: Duration,
    consume: impl FnOnce(&mut ChildStdout) -> io::Result<T> + Send,
) -> Result<Finished<T>> {
    run_with_io(cmd, limit, |_| Ok(()), |_, out| consume(out))
}

/// [`run_streaming`] that also feeds the tool's stdin from `feed` (on a thread of its own, so
/// a tool that reads and writes at once never blocks), and hands `consume` the tool's process id
/// as well. The input ends when `feed` returns; a tool that stops reading early is not an error.
pub fn run_with_io<T: Send>(
    cmd: &mut Command,
    limit: Duration,
    feed: impl FnOnce(&mut ChildStdin) -> io::Result<()> + Send,
    consume: impl FnOnce(u32, &mut ChildStdout) -> io::Result<T> + Send,
) -> Result<Finished<T>> {
    let line = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(cmd, e))?;
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let deadline = Instant::now() + limit;
    thread::scope(|s| {
        let writer = s.spawn(move || match feed(&mut stdin) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
            _ => Ok(()),
        });
        let reader = s.spawn(move || {
            let value = consume(pid, &mut stdout);
            io::copy(&mut stdout, &mut io::sink()).and(value)
        });
        let err_reader = s.spawn(move || {
            let mut bytes = Vec::new();
            // A read error only truncates the diagnostics; the exit status still tells.
            let _ = stderr.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    // Killing closes the pipes, which ends the writer and both readers.
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(Error(format!("`{line}` ran longer than {limit:?} and was killed")));
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => break Err(Error(format!("waiting for `{line}`: {e}"))),
            }
        };
        let written = writer.join().unwrap_or_else(|p| panic::resume_unwind(p));
        let stdout = reader.join().unwrap_or_else(|p| panic::resume_unwind(p));
        let stderr = err_reader.join().unwrap_or_else(|p| panic::resume_unwind(p));
        let status = status?;
        written.map_err(|e| Error(format!("writing the input of `{line}`: {e}")))?;
        let stdout = stdout.map_err(|e| Error(format!("reading the output of `{line}`: {e}")))?;
        Ok(Finished { status, stdout, stderr })
    })
}

/// Runs `cmd` and returns its stdout as text, failing unless it exits successfully.
pub fn run_text(cmd: &mut Command, limit: Duration) -> Result<String> {
    let done = run(cmd, limit)?;
    if !done.status.success() {
        return Err(Error::failed(cmd, &done));
    }
    String::from_utf8(done.stdout).map_err(|e| Error(format!("`{}` printed invalid UTF-8: {e}", describe(cmd))))
}

/// Runs `body` on its own thread and fails (panics) if it has not finished within `limit`, so
/// each test has a hard bound on time. A panic in `body` is passed on unchanged. The external
/// tools `body` starts have their own limits, so nothing is left running for long after a timeout.
pub fn with_time_limit<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    // The worker takes the test's name, so its panic messages say which test failed.
    let name = thread::current().name().unwrap_or("time-limited").to_string();
    let worker = thread::Builder::new()
        .name(name)
        .spawn(move || {
            let value = body();
            let _ = done.send(());
            value
        })
        .expect("spawn the test's worker thread");
    match finished.recv_timeout(limit) {
        // Disconnected: `body` panicked before it could report; `join` carries the panic.
        Ok(()) | Err(RecvTimeoutError::Disconnected) => worker.join().unwrap_or_else(|p| panic::resume_unwind(p)),
        Err(RecvTimeoutError::Timeout) => panic!("the test ran longer than its limit of {limit:?}"),
    }
}

/// FFmpeg's options for a stream and container that say BT.709 with limited range, as every
/// recording of ours does: files made by FFmpeg to stand in for ours carry them.
pub const FFMPEG_BT709: [&str; 8] = [
    "-color_primaries",
    "bt709",
    "-color_trc",
    "bt709",
    "-colorspace",
    "bt709",
    "-color_range",
    "tv",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_tool_is_killed_at_its_limit() {
        let started = Instant::now();
        let e = run(Command::new("sleep").arg("30"), Duration::from_millis(300)).unwrap_err();
        assert!(e.0.contains("ran longer than"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_missing_tool_says_what_to_install() {
        let e = run(&mut Command::new("no-such-tool-mwav1"), Duration::from_secs(5)).unwrap_err();
        assert!(e.0.contains("was not found on PATH: install it"), "{e}");
    }

    #[test]
    fn output_and_status_come_back() {
        let done = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(done.stdout, b"out\n");
        assert_eq!(done.stderr, "err\n");
        assert_eq!(done.status.code(), Some(3));
    }

    #[test]
    fn time_limit_fails_a_slow_body_and_passes_a_fast_one() {
        assert_eq!(with_time_limit(Duration::from_secs(5), || 7), 7);
        let slow = panic::catch_unwind(|| {
            with_time_limit(Duration::from_millis(100), || thread::sleep(Duration::from_secs(2)))
        });
        assert!(slow.is_err());
    }
}
