//! Plays a file in headless Chromium's `<video>` element and reports what the page saw.
//!
//! A small HTTP server on 127.0.0.1 inside this process serves the page and the file (with the
//! Range requests browsers use for media); the page POSTs its findings back once 'ended' or
//! 'error' fires, or when its own deadline passes. Chromium gets a fresh profile, runs in its own
//! process group and is killed with that whole group once the result is in or the hard time limit
//! is reached, so no renderer or GPU process outlives a check.

use std::env;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::tool::{Error, Result};

/// Overrides where the browser is looked up (a path to a Chromium or Chrome binary).
pub const BROWSER_ENV: &str = "CHROMIUM";
const CANDIDATES: [&str; 4] = ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"];
/// Per-connection socket timeout, so a stalled connection cannot keep a server thread forever.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Time the page keeps for itself before the hard limit, to report how far playback got.
const PAGE_MARGIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    pub video_width: u32,
    pub video_height: u32,
    /// `duration` of the element; `None` when it was NaN or infinite.
    pub duration_s: Option<f64>,
    pub current_time_s: f64,
    /// The element's `ended` state when the page reported.
    pub ended: bool,
    /// An 'error' event fired on the element.
    pub error_event: bool,
    /// The MediaError code and message, or why `play()` was refused.
    pub error: Option<String>,
    /// The page's own deadline passed before 'ended' or 'error'.
    pub timed_out: bool,
    /// `getVideoPlaybackQuality().totalVideoFrames`.
    pub frames_presented: Option<u64>,
    /// Media events in the order they fired, each with the media time ("playing@0.000").
    pub events: Vec<String>,
}

impl Playback {
    /// Played to the end, and no error of any kind.
    pub fn played_cleanly(&self) -> bool {
        self.ended && !self.error_event && self.error.is_none() && !self.timed_out
    }
}

/// The browser binary: `$CHROMIUM`, else the first of the usual names on PATH.
pub fn find_chromium() -> Result<PathBuf> {
    if let Some(p) = env::var_os(BROWSER_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error(format!("{BROWSER_ENV}={} is not a file", p.display())))
        };
    }
    find_on_path(&CANDIDATES, env::var_os("PATH")).ok_or_else(|| {
        Error(format!(
            "Chromium was not found (looked for {} on PATH, and {BROWSER_ENV} is not set): \
             install it (Debian: `apt-get install chromium`) so the browser playback check can run",
            CANDIDATES.join(", ")
        ))
    })
}

fn find_on_path(names: &[&str], path: Option<OsString>) -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = env::split_paths(&path.unwrap_or_default()).collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Loads `path` in a muted, autoplaying `<video>` and waits for the page's report, at most
/// `limit` in all (the file plays in real time, so allow its duration plus start-up).
pub fn play(path: &Path, limit: Duration) -> Result<Playback> {
    let browser = find_chromium()?;
    let video = fs::read(path).map_err(|e| Error(format!("reading {}: {e}", path.display())))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("webm");
    let mime = match ext.to_ascii_lowercase().as_str() {
        "webm" => "video/webm",
        "mp4" => "video/mp4",
        _ => "video/x-matroska",
    };
    let video_path = format!("/video.{ext}");
    let page_deadline = limit.saturating_sub(PAGE_MARGIN).max(limit / 2);
    let (results, reports) = mpsc::channel();
    let server = Server::start(Site {
        page: page(&video_path, page_deadline),
        video_path,
        video,
        mime,
        results,
    })
    .map_err(|e| Error(format!("starting the page server: {e}")))?;
    let profile = Profile::new()?;
    let mut browser = launch(&browser, &profile, &format!("http://127.0.0.1:{}/", server.port))?;
    let deadline = Instant::now() + limit;
    let outcome = loop {
        match reports.recv_timeout(Duration::from_millis(100)) {
            Ok(body) => break parse_report(&body),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => unreachable!("the server holds a sender"),
        }
        if let Ok(Some(status)) = browser.child.try_wait() {
            break Err(Error(format!(
                "Chromium exited ({status}) before the page reported; its log ends:\n{}",
                profile.log_tail()
            )));
        }
        if Instant::now() >= deadline {
            break Err(Error(format!(
                "no report from the page within {limit:?}; Chromium was killed; its log ends:\n{}",
                profile.log_tail()
            )));
        }
    };
    browser.kill();
    drop(server);
    outcome
}

fn parse_report(body: &str) -> Result<Playback> {
    let v: Value = serde_json::from_str(body).map_err(|e| Error(format!("the page's report ({e}): {body}")))?;
    let count = |key: &str| v[key].as_u64();
    Ok(Playback {
        video_width: count("videoWidth").unwrap_or(0) as u32,
        video_height: count("videoHeight").unwrap_or(0) as u32,
        duration_s: v["duration"].as_f64(),
        current_time_s: v["currentTime"].as_f64().unwrap_or(0.0),
        ended: v["ended"].as_bool().unwrap_or(false),
        error_event: v["errorEvent"].as_bool().unwrap_or(false),
        error: v["error"].as_str().map(str::to_string),
        timed_out: v["timedOut"].as_bool().unwrap_or(false),
        frames_presented: count("framesPresented"),
        events: v["events"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
    })
}

/// The test page. It reports once: on 'ended', on 'error', if `play()` is refused, or when its
/// deadline passes (then with how far playback got). Muted, so autoplay needs no user gesture.
fn page(video_path: &str, deadline: Duration) -> String {
    format!(
        r#"<!doctype html>
<meta charset="utf-8">
<title>MovieWriterAV1 playback check</title>
<video muted autoplay playsinline preload="auto" src="{video_path}"></video>
<script>
const v = document.querySelector('video');
const events = [];
let sent = false;
function report(extra) {{
  if (sent) return;
  sent = true;
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
  const result = Object.assign({{
    videoWidth: v.videoWidth,
    videoHeight: v.videoHeight,
    duration: Number.isFinite(v.duration) ? v.duration : null,
    currentTime: v.currentTime,
    ended: v.ended,
    error: v.error ? `MediaError ${{v.error.code}}: ${{v.error.message}}` : null,
    framesPresented: q ? q.totalVideoFrames : null,
    events,
  }}, extra);
  fetch('/result', {{ method: 'POST', body: JSON.stringify(result) }});
}}
for (const name of ['loadedmetadata', 'canplay', 'playing', 'waiting', 'stalled', 'ended', 'error']) {{
  v.addEventListener(name, () => events.push(`${{name}}@${{v.currentTime.toFixed(3)}}`));
}}
v.addEventListener('ended', () => report({{}}));
v.addEventListener('error', () => report({{ errorEvent: true }}));
v.play().catch((e) => report({{ error: `play() was refused: ${{e}}` }}));
setTimeout(() => report({{ timedOut: true }}), {deadline_ms});
</script>
"#,
        deadline_ms = deadline.as_millis()
    )
}

/// A fresh Chromium profile folder, removed when dropped; it also holds Chromium's log.
struct Profile {
    dir: PathBuf,
}

impl Profile {
    fn new() -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = env::temp_dir().join(format!(
            "mwav1-chromium-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover from a killed earlier run with the same pid would not be fresh.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| Error(format!("creating {}: {e}", dir.display())))?;
        Ok(Self { dir })
    }

    fn log(&self) -> PathBuf {
        self.dir.join("chromium.log")
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log()).unwrap_or_default();
        let start = log.len().saturating_sub(3000);
        log[log.ceil_char_boundary(start)..].to_string()
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        // Best effort: the browser is dead by now; a leftover temp folder harms nothing.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A running browser; its whole process group is killed on `kill` or drop.
struct Browser {
    child: Child,
}

impl Browser {
    fn kill(&mut self) {
        // The child leads its own process group (`process_group(0)`), so -pid names exactly the
        // browser and the helpers it started.
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: kill(2) with a negative pid only sends a signal to that process group.
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.kill();
        }
    }
}

fn launch(browser: &Path, profile: &Profile, url: &str) -> Result<Browser> {
    let log = File::create(profile.log()).map_err(|e| Error(format!("creating Chromium's log: {e}")))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error(format!("creating Chromium's log: {e}")))?;
    let child = Command::new(browser)
        .args([
            "--headless",
            // Chromium refuses to run as root with its sandbox; CI containers run as root.
            "--no-sandbox",
            "--disable-gpu",
            // Containers often have a tiny /dev/shm.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--disable-extensions",
            "--disable-default-apps",
            "--password-store=basic",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            // Keep playback and the page's timers running at full speed in a window nobody sees.
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
        ])
        .arg(format!("--user-data-dir={}", profile.dir.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error(format!("starting {}: {e}", browser.display())))?;
    Ok(Browser { child })
}

struct Site {
    page: String,
    video_path: String,
    video: Vec<u8>,
    mime: &'static str,
    results: Sender<String>,
}

/// Serves `Site` on an ephemeral port of 127.0.0.1 until dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(site: Site) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        // Non-blocking accept lets the loop notice `stop` without a wake-up connection.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let site = Arc::new(site);
        let thread = thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let site = site.clone();
                            // Connection errors only mean the browser went away; it is killed soon.
                            thread::spawn(move || serve(stream, &site));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            }
        });
        Ok(Self {
            port,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    range: Option<String>,
    body: Vec<u8>,
}

fn serve(mut stream: TcpStream, site: &Site) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let req = read_request(&mut stream)?;
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => respond(
            &mut stream,
            "200 OK",
            "text/html; charset=utf-8",
            &[],
            site.page.as_bytes(),
        ),
        ("GET", p) if p == site.video_path => {
            let len = site.video.len();
            match byte_range(req.range.as_deref(), len) {
                Range::Full => respond(&mut stream, "200 OK", site.mime, &[], &site.video),
                Range::Part(start, end) => respond(
                    &mut stream,
                    "206 Partial Content",
                    site.mime,
                    &[format!("Content-Range: bytes {start}-{end}/{len}")],
                    &site.video[start..=end],
                ),
                Range::Unsatisfiable => respond(
                    &mut stream,
                    "416 Range Not Satisfiable",
                    "text/plain",
                    &[format!("Content-Range: bytes */{len}")],
                    b"",
                ),
            }
        }
        ("POST", "/result") => {
            // The receiver is gone only after the check finished; a late report is moot.
            let _ = site.results.send(String::from_utf8_lossy(&req.body).into_owned());
            respond(&mut stream, "204 No Content", "text/plain", &[], b"")
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", &[], b"not found"),
    }
}

fn read_request(stream: &mut TcpStream) -> io::Result<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too large"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default().to_string();
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let length: usize = header("Content-Length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Request {
        method,
        path,
        range: header("Range"),
        body,
    })
}

fn respond(stream: &mut TcpStream, status: &str, mime: &str, extra: &[String], body: &[u8]) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    );
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    Full,
    /// Inclusive byte positions.
    Part(usize, usize),
    Unsatisfiable,
}

/// Reads a single-range `Range` header (RFC 9110 §14.1.2); anything else gets the whole file.
fn byte_range(header: Option<&str>, len: usize) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Full;
    };
    let Some((start, end)) = spec.split_once('-') else {
        return Range::Full;
    };
    let (start, end) = (start.trim(), end.trim());
    let parsed = match (start.parse::<usize>(), end.parse::<usize>()) {
        (Ok(s), Ok(e)) => Some((s, e.min(len.saturating_sub(1)))),
        (Ok(s), Err(_)) if end.is_empty() => Some((s, len.saturating_sub(1))),
        (Err(_), Ok(n)) if start.is_empty() && n > 0 => Some((len.saturating_sub(n), len.saturating_sub(1))),
        _ => None,
    };
    match parsed {
        Some((s, e)) if s < len && s <= e => Range::Part(s, e),
        Some(_) => Range::Unsatisfiable,
        None => Range::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range(None, 100), Range::Full);
        assert_eq!(byte_range(Some("bytes=0-"), 100), Range::Part(0, 99));
        assert_eq!(byte_range(Some("bytes=10-19"), 100), Range::Part(10, 19));
        assert_eq!(byte_range(Some("bytes=90-200"), 100), Range::Part(90, 99));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Range::Part(90, 99));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Range::Unsatisfiable);
        assert_eq!(byte_range(Some("items=1-2"), 100), Range::Full);
    }

    #[test]
    fn browser_is_looked_up_on_path() {
        assert_eq!(find_on_path(&["no-such-browser-mwav1"], env::var_os("PATH")), None);
        assert!(find_on_path(&["sh"], env::var_os("PATH")).is_some());
    }

    #[test]
    fn page_report_is_read() {
        let p = parse_report(
            r#"{"videoWidth":1281,"videoHeight":721,"duration":3.02,"currentTime":3.02,"ended":true,
                "error":null,"framesPresented":90,"events":["playing@0.000","ended@3.020"]}"#,
        )
        .unwrap();
        assert!(p.played_cleanly());
        assert_eq!((p.video_width, p.video_height, p.duration_s), (1281, 721, Some(3.02)));
        assert_eq!(p.events.len(), 2);
        let failed = parse_report(r#"{"duration":null,"errorEvent":true,"error":"MediaError 4: x"}"#).unwrap();
        assert!(!failed.played_cleanly());
        assert_eq!(failed.duration_s, None);
    }
}
