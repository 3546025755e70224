//! The Windows build (`./dev build-windows`, cross-built here with zig against mingw-w64): the
//! DLL and `mwav1.exe` import nothing but Windows' own DLLs, the DLL exports the entry point
//! the `.gdextension` names, and, where wine is installed, `mwav1.exe` probes and records a file
//! that passes every check. No Windows machine and no Godot on Windows run here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use movie_writer_av1_tests::engine::repo;
use movie_writer_av1_tests::record::SceneSpec;
use movie_writer_av1_tests::skip::{current_test, skip, Need};
use movie_writer_av1_tests::tool::run;
use movie_writer_av1_tests::{check_recording, Expected};

/// The DLLs the Windows build may import, each with what needs it (as imported by the build of
/// 2026-11-30). All ship with Windows 10 and 11, as does the Universal C runtime, whose
/// `api-ms-win-crt-*` sets zig's mingw-w64 target links and which are allowed besides these.
const SYSTEM_DLLS: [(&str, &str); 7] = [
    (
        "kernel32.dll",
        "Win32 base API (files, threads, LoadLibrary for nvcuda.dll and Vulkan)",
    ),
    ("ntdll.dll", "Rust's std (NtCreateFile, NtWriteFile)"),
    (
        "api-ms-win-core-synch-l1-2-0.dll",
        "Rust's std (WaitOnAddress for its locks, Windows 8+)",
    ),
    (
        "bcryptprimitives.dll",
        "Rust's std (ProcessPrng for HashMap seeds, Windows 10+)",
    ),
    ("bcrypt.dll", "FFmpeg's libavutil (BCryptGenRandom for random seeds)"),
    ("ws2_32.dll", "Rust's std (its socket support)"),
    ("userenv.dll", "Rust's std (the home directory)"),
];

fn release_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR lies inside the target dir (below the host triple's folder when the
    // tests are built with --target); the Windows build lies beside that folder.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let windows = |dir: &Path| dir.join("x86_64-pc-windows-gnu/release");
    tmp.ancestors()
        .skip(1)
        .find(|dir| windows(dir).is_dir())
        .map_or_else(|| windows(tmp.parent().expect("the target dir")), windows)
}

/// `file` if it exists, or a counted skip that says how to make it.
fn built(file: PathBuf) -> Option<PathBuf> {
    if file.is_file() {
        return Some(file);
    }
    skip(
        &current_test(),
        Need::Build("windows"),
        &format!("{} is not built: run ./dev build-windows", file.display()),
    );
    None
}

fn windows_dll() -> Option<PathBuf> {
    built(repo().join("addons/movie_writer_av1/bin/movie_writer_av1.windows.x86_64.dll"))
}

fn mwav1_exe() -> Option<PathBuf> {
    built(release_dir().join("mwav1.exe"))
}

/// `objdump -p`: the PE headers, import and export tables.
fn pe_headers(file: &Path) -> String {
    let mut cmd = Command::new("objdump");
    cmd.arg("-p").arg(file);
    let out = run(&mut cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "objdump -p {}: {}", file.display(), out.stderr);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DLLs `file` imports, as `objdump -p` names them ("DLL Name: KERNEL32.dll").
fn imported_dlls(file: &Path) -> Vec<String> {
    pe_headers(file)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DLL Name:"))
        .map(|n| n.trim().to_string())
        .collect()
}

fn is_system_dll(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("api-ms-win-crt-") || SYSTEM_DLLS.iter().any(|(dll, _)| *dll == name)
}

fn assert_imports_system_dlls_only(file: &Path) {
    let dlls = imported_dlls(file);
    println!("{}: imports {dlls:?}", file.display());
    // The parser's own control: every Windows program imports KERNEL32.
    assert!(
        dlls.iter().any(|d| d.eq_ignore_ascii_case("kernel32.dll")),
        "no KERNEL32.dll among {dlls:?}: objdump's output was not understood"
    );
    let foreign: Vec<_> = dlls.iter().filter(|d| !is_system_dll(d)).collect();
    assert!(
        foreign.is_empty(),
        "{} imports DLLs that Windows does not ship: {foreign:?}",
        file.display()
    );
}

#[test]
fn the_windows_dll_imports_only_system_dlls() {
    if let Some(dll) = windows_dll() {
        assert_imports_system_dlls_only(&dll);
    }
}

#[test]
fn mwav1_exe_imports_only_system_dlls() {
    if let Some(exe) = mwav1_exe() {
        assert_imports_system_dlls_only(&exe);
    }
}

/// The `.gdextension` names `gdext_rust_init`; the engine finds it through the export table.
#[test]
fn the_windows_dll_exports_the_entry_point() {
    let Some(dll) = windows_dll() else { return };
    let headers = pe_headers(&dll);
    let exports: Vec<&str> = headers
        .split("[Ordinal/Name Pointer] Table")
        .nth(1)
        .unwrap_or_else(|| panic!("{} has no export table", dll.display()))
        .lines()
        .filter_map(|l| l.trim().strip_prefix('[')?.split_once(']').map(|(_, name)| name.trim()))
        .take_while(|name| !name.is_empty())
        .collect();
    // Everything the static libraries define is exported too (mingw's default with no .def).
    println!("{} exports {} names", dll.display(), exports.len());
    assert!(
        exports.contains(&"gdext_rust_init"),
        "no gdext_rust_init among {exports:?}"
    );
    let extension = std::fs::read_to_string(repo().join("addons/movie_writer_av1/movie_writer_av1.gdextension"))
        .expect("the .gdextension");
    assert!(
        extension.contains("windows.release.x86_64 = \"bin/movie_writer_av1.windows.x86_64.dll\""),
        "the .gdextension does not name the Windows DLL"
    );
}

/// wine's 64-bit loader: Debian's wine64 package puts it outside PATH.
fn wine() -> Option<PathBuf> {
    let found = ["/usr/bin/wine64", "/usr/lib/wine/wine64", "/usr/bin/wine"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        skip(
            &current_test(),
            Need::Tool("wine"),
            "wine is not installed (Debian: apt-get install wine64)",
        );
    }
    found
}

/// One wine program at a time: the first run makes the prefix, and a second one started
/// meanwhile fails half-way into it ("failed to open rundll32.exe", exit status 53).
static WINE: Mutex<()> = Mutex::new(());

/// Runs `exe args…` under wine in a prefix of its own below the target dir (made on first use),
/// and returns what it printed; panics if it fails.
fn under_wine(wine: &Path, exe: &Path, args: &[&str], limit: Duration) -> String {
    let _one = WINE.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = release_dir().join("wine-prefix");
    let mut cmd = Command::new(wine);
    cmd.arg(exe)
        .args(args)
        .env("WINEPREFIX", &prefix)
        .env("WINEDEBUG", "-all")
        // No Mono or Gecko installer dialogs when the prefix is made: nothing here needs them.
        // bcryptprimitives: ours (tests/wine/bcryptprimitives.c), as wine 8.0 has none.
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=;bcryptprimitives=n");
    let first = run(&mut cmd, limit).unwrap_or_else(|e| panic!("{e}"));
    // The first run makes the prefix; the stand-in DLL goes into it, and the program runs again.
    let out = if install_prng_stand_in(&prefix) {
        run(&mut cmd, limit).unwrap_or_else(|e| panic!("{e}"))
    } else {
        first
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wine {} {args:?} failed ({}):\n{stdout}\n{}",
        exe.display(),
        out.status,
        out.stderr
    );
    stdout
}

/// Builds tests/wine/bcryptprimitives.c with zig (`$ZIG`, which `./dev` sets) into the prefix's
/// system32, once; says whether it did so now.
fn install_prng_stand_in(prefix: &Path) -> bool {
    let dll = prefix.join("drive_c/windows/system32/bcryptprimitives.dll");
    if dll.is_file() {
        return false;
    }
    let zig = std::env::var_os("ZIG").expect("$ZIG (the zig binary; ./dev sets it)");
    let mut cmd = Command::new(zig);
    cmd.args(["cc", "-target", "x86_64-windows-gnu", "-shared", "-o"])
        .arg(&dll)
        .arg(repo().join("tests/wine/bcryptprimitives.c"))
        .arg("-ladvapi32");
    let out = run(&mut cmd, Duration::from_secs(600)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "building the ProcessPrng stand-in: {}",
        out.stderr
    );
    true
}

/// A Unix path as a Windows program under wine sees it: wine maps drive Z: to /.
fn wine_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// The probe runs FFmpeg's and SVT-AV1's own code on Windows' API (as wine provides it): the
/// software encoders open a session, and the Linux-only backends say why they are absent.
#[test]
fn mwav1_exe_probes_under_wine() {
    let (Some(exe), Some(wine)) = (mwav1_exe(), wine()) else {
        return;
    };
    let text = under_wine(&wine, &exe, &["probe"], Duration::from_secs(300));
    println!("{text}");
    // Each state line is the backend's name padded to 28 columns, then its state.
    let state = |name: &str| {
        text.lines()
            .find(|l| l.get(..28).map(str::trim_end) == Some(name))
            .unwrap_or_else(|| panic!("`mwav1 probe` does not list {name}"))
    };
    for software in ["SVT-AV1 (software)", "libaom (software)"] {
        assert!(
            state(software).trim_end().ends_with(" available"),
            "{}",
            state(software)
        );
    }
    assert!(
        state("VA-API (FFmpeg av1_vaapi)").contains("not available on this OS"),
        "{}",
        state("VA-API (FFmpeg av1_vaapi)")
    );
    assert!(
        state("NVENC").contains("not available on this OS"),
        "{}",
        state("NVENC")
    );
    // av1_nvenc is compiled in: its reason is FFmpeg's (no nvcuda.dll under wine), not "has no".
    let nvenc = state("NVENC (FFmpeg av1_nvenc)");
    assert!(!nvenc.contains(" has no "), "{nvenc}");
}

/// A real encode by the Windows binary: SVT-AV1 video and Opus audio into WebM, written through
/// Windows' file API, then every file check here (ffprobe, mkvmerge, libdav1d, SSIM, audio).
#[test]
fn mwav1_exe_records_a_file_that_passes_every_check_under_wine() {
    let (Some(exe), Some(wine)) = (mwav1_exe(), wine()) else {
        return;
    };
    let spec = SceneSpec {
        width: 320,
        height: 180,
        fps: 30,
        frames: 60,
        seed: 7,
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portable_windows");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("scene.webm");
    let _ = std::fs::remove_file(&out);
    let printed = under_wine(
        &wine,
        &exe,
        &[
            "record",
            "--out",
            &wine_path(&out),
            "--size",
            &format!("{}x{}", spec.width, spec.height),
            "--fps",
            &spec.fps.to_string(),
            "--frames",
            &spec.frames.to_string(),
            "--seed",
            &spec.seed.to_string(),
            "--backend",
            "svt_av1",
        ],
        Duration::from_secs(600),
    );
    println!("{printed}");
    let report = check_recording(&out, &Expected::scene(spec)).unwrap_or_else(|e| panic!("{e}"));
    println!("{report}");
    report.assert_ok();
}
