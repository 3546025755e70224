//! Running the real Godot binary for the engine-in-the-loop tests: finding it (or recording the
//! test as skipped), fresh imported copies of demo_project, runs under Xvfb with a hard time
//! limit, and the log searches every engine test makes (loader errors, errors of ours, leak
//! reports).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Mutex;
use std::time::Duration;

use crate::tool::{describe, run};

pub const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The Compatibility renderer on Mesa's OpenGL: the engine arguments most tests record with.
pub const COMPATIBILITY: [&str; 4] = [
    "--rendering-method",
    "gl_compatibility",
    "--rendering-driver",
    "opengl3",
];

/// Movie Maker arguments on the Compatibility renderer: `out` at `fps`, quitting after
/// `quit_after` frames.
pub fn movie_args(out: &Path, fps: u32, quit_after: u64) -> Vec<String> {
    let mut args: Vec<String> = COMPATIBILITY.iter().map(|s| s.to_string()).collect();
    args.extend([
        "--write-movie".into(),
        out.display().to_string(),
        "--fixed-fps".into(),
        fps.to_string(),
        "--quit-after".into(),
        quit_after.to_string(),
    ]);
    args
}

/// Engine runs are heavy (software rendering plus encoding on 2 cores): one at a time.
pub static ENGINE: Mutex<()> = Mutex::new(());

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The engine: `$GODOT4_BIN`, else the Godot release `./dev` fetches (scripts/engine/godot.sh).
pub fn godot() -> Option<PathBuf> {
    let path = std::env::var_os("GODOT4_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools/bin/godot"));
    if path.is_file() {
        Some(path)
    } else {
        crate::skip::skip(
            &crate::skip::current_test(),
            crate::skip::Need::Engine,
            &format!(
                "no Godot binary at {} (./dev fetches the release; or set GODOT4_BIN)",
                path.display()
            ),
        );
        None
    }
}

/// The extension library the addon loads, as `./dev build` leaves it.
pub fn library() -> PathBuf {
    let lib = repo().join("addons/movie_writer_av1/bin/libmovie_writer_av1.linux.x86_64.so");
    assert!(lib.is_file(), "{} is missing: run `./dev build` first", lib.display());
    lib
}

/// The extension as the workspace build made it, with the core's test-only fault injection
/// (`./dev build` keeps it beside `mwav1`; the shipped library has none).
pub fn fault_injection_library() -> PathBuf {
    let lib = crate::mwav1::binary().with_file_name("libmovie_writer_av1.fault-injection.so");
    assert!(lib.is_file(), "{} is missing: run `./dev build` first", lib.display());
    lib
}

/// Puts [`fault_injection_library`] into `project` in place of the shipped library.
pub fn use_fault_injection_library(project: &Path) {
    let lib = fault_injection_library();
    crate::fault::assert_built_in(&lib);
    fs::copy(
        &lib,
        project.join("addons/movie_writer_av1/bin/libmovie_writer_av1.linux.x86_64.so"),
    )
    .unwrap_or_else(|e| panic!("copying {}: {e}", lib.display()));
}

/// A fresh copy of demo_project (addon included, symlink resolved), optionally without the
/// addon, as a user unpacks it: never opened by the engine.
pub fn fresh_copy(name: &str, with_addon: bool) -> PathBuf {
    library();
    let dir = std::env::temp_dir().join(format!("mwav1-engine-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let status = Command::new("cp")
        .arg("-rL")
        .arg(repo().join("demo_project"))
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(status.success());
    let _ = fs::remove_dir_all(dir.join(".godot"));
    if !with_addon {
        fs::remove_dir_all(dir.join("addons")).unwrap();
        let settings = fs::read_to_string(dir.join("project.godot")).unwrap();
        let without_plugin = settings.split("[editor_plugins]").next().unwrap().to_string();
        fs::write(dir.join("project.godot"), without_plugin).unwrap();
    }
    dir
}

/// The addon's extension file, as a project names it.
pub const EXTENSION: &str = "res://addons/movie_writer_av1/movie_writer_av1.gdextension";

/// Lists the addon's extension in `.godot/extension_list.cfg`, as the engine does after its
/// first scan, so that the engine loads it at start-up rather than mid-scan.
///
/// Why: an editor session that finds a class-registering GDExtension during its first scan and
/// quits soon after (a headless `--import`) crashes with signal 11 at exit in this engine: a
/// documentation callback the editor queued for the extension's classes runs after
/// `EditorHelp::cleanup_doc` has freed the documentation (godotengine/godot#111048, fix
/// proposed in godotengine/godot#123658). A project whose extension list already names the
/// extension does not regenerate the documentation, and exits cleanly.
pub fn register_extension(project: &Path) {
    fs::create_dir_all(project.join(".godot")).unwrap();
    fs::write(project.join(".godot/extension_list.cfg"), format!("{EXTENSION}\n")).unwrap();
}

/// A [`fresh_copy`], imported (exiting cleanly: see [`register_extension`]) and ready to run.
pub fn project(godot: &Path, name: &str, with_addon: bool) -> PathBuf {
    let dir = fresh_copy(name, with_addon);
    if with_addon {
        register_extension(&dir);
    }
    let (log, status) = godot_run_status(godot, &dir, &["--headless", "--import"], false, &[]);
    assert_no_loader_errors(&log);
    assert!(status.success(), "importing {} exited with {status}", dir.display());
    dir
}

/// The `override.cfg` lines that make the engine open a `w`×`h` window, the size Movie Maker
/// records. `--resolution` does not set it on the 4.6.3 release (it records the project's size);
/// the window size override does, on every 4.6 build.
pub fn window_override(w: u32, h: u32) -> String {
    format!("[display]\nwindow/size/window_width_override={w}\nwindow/size/window_height_override={h}\n")
}

/// Adds [`window_override`] to `project`'s `override.cfg`, in place of one written before.
pub fn set_window_size(project: &Path, w: u32, h: u32) {
    let path = project.join("override.cfg");
    let old = fs::read_to_string(&path).unwrap_or_default();
    let mut kept: String = old
        .lines()
        .filter(|l| *l != "[display]" && !l.starts_with("window/size/window_"))
        .map(|l| format!("{l}\n"))
        .collect();
    kept.push_str(&window_override(w, h));
    fs::write(&path, kept).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Runs Godot in `project` and returns everything it printed.
pub fn godot_run(godot: &Path, project: &Path, args: &[&str], display: bool) -> String {
    godot_run_with_env(godot, project, args, display, &[])
}

/// [`godot_run`] with environment variables set for the engine (the test scripts read them).
pub fn godot_run_with_env(
    godot: &Path,
    project: &Path,
    args: &[&str],
    display: bool,
    env: &[(&str, String)],
) -> String {
    godot_run_status(godot, project, args, display, env).0
}

/// The Xvfb screen engine runs get unless they ask for another (see [`godot_run_on_screen`]).
pub const SCREEN: &str = "1280x720x24";

/// [`godot_run_with_env`] that also returns how the engine exited.
pub fn godot_run_status(
    godot: &Path,
    project: &Path,
    args: &[&str],
    display: bool,
    env: &[(&str, String)],
) -> (String, ExitStatus) {
    godot_run_on_screen(godot, project, args, display.then_some(SCREEN), env)
}

/// Runs Godot under Xvfb with a `screen` of "WIDTHxHEIGHTxDEPTH" (a window larger than the
/// screen is shrunk to fit), or with no display for `None`.
pub fn godot_run_on_screen(
    godot: &Path,
    project: &Path,
    args: &[&str],
    screen: Option<&str>,
    env: &[(&str, String)],
) -> (String, ExitStatus) {
    let mut cmd = match screen {
        Some(screen) => {
            let mut c = Command::new("xvfb-run");
            c.args(["-a", "-s", &format!("-screen 0 {screen}")]).arg(godot);
            c
        }
        None => Command::new(godot),
    };
    cmd.arg("--path").arg(project).args(args);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let done = run(&mut cmd, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    let log = format!("{}{}", String::from_utf8_lossy(&done.stdout), done.stderr);
    println!("--- {} ({})\n{log}", describe(&cmd), done.status);
    (log, done.status)
}

/// The engine that `xvfb-run` (process `runner`) started: its child whose command line has
/// `--write-movie`. Found by its parent, not by name: the release `./dev` fetches runs through
/// its own dynamic loader, so its command line starts with the loader's path, not the engine's.
pub fn movie_maker_child(runner: u32) -> Option<u32> {
    let parent_of = |pid: u32| {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid …": the name may hold spaces and parentheses, so read past the last ')'.
        stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<u32>().ok()
    };
    let is_movie_maker = |pid: u32| {
        fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.split(|&b| b == 0).any(|arg| arg == b"--write-movie"))
    };
    fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| parent_of(pid) == Some(runner) && is_movie_maker(pid))
}

pub fn assert_no_loader_errors(log: &str) {
    for bad in [
        "Can't open dynamic library",
        "Failed to load GDExtension",
        "GDExtension dynamic library not found",
        "No GDExtension library found",
        "Can't find movie writer",
        "panicked",
    ] {
        assert!(!log.contains(bad), "the log has '{bad}'");
    }
}

pub fn leak_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("leaked at exit") || l.contains("still in use at exit") || l.contains("Leaked instance"))
        .map(str::to_string)
        .collect()
}

/// Lines that report an error (Godot prints them as "ERROR: …" / "SCRIPT ERROR: …").
pub fn error_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("ERROR:")).collect()
}

/// Error lines of ours: the writer's messages and anything naming the extension.
pub fn our_errors(log: &str) -> Vec<&str> {
    error_lines(log)
        .into_iter()
        .filter(|l| l.contains("MovieWriterAV1") || l.contains("movie_writer_av1") || l.contains("godot-rust"))
        .collect()
}
