//! The shipped artefacts are portable: the library and `mwav1` need nothing but the C runtime,
//! and no glibc newer than 2.28 (the floor of the official Godot Linux builds), and the release
//! zip, unpacked into a new project as a user would, records a file that passes every check.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use movie_writer_av1_tests::engine::{
    assert_no_loader_errors, godot, godot_run, our_errors, register_extension, repo, COMPATIBILITY, ENGINE,
};
use movie_writer_av1_tests::tool::run;
use movie_writer_av1_tests::{check_recording, mwav1, with_time_limit, Expected};

/// What a portable Linux library may need: the C runtime and nothing else.
const C_RUNTIME: [&str; 7] = [
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "ld-linux-x86-64.so.2",
    "libgcc_s.so.1",
];
const GLIBC_FLOOR: (u32, u32) = (2, 28);

fn shipped_library() -> PathBuf {
    let lib = repo().join("addons/movie_writer_av1/bin/libmovie_writer_av1.linux.x86_64.so");
    assert!(lib.is_file(), "{} is missing: run `./dev build` first", lib.display());
    lib
}

fn tool_output(program: &str, args: &[&str], file: &Path) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args).arg(file);
    let done = run(&mut cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        done.status.success(),
        "{program} {args:?} {} failed: {}",
        file.display(),
        done.stderr
    );
    String::from_utf8_lossy(&done.stdout).into_owned()
}

/// The `NEEDED` entries of `file`'s dynamic section.
fn needed(file: &Path) -> Vec<String> {
    tool_output("readelf", &["-d"], file)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next().map(str::to_string))
        .collect()
}

/// Every `GLIBC_x.y` version any dynamic symbol of `file` asks for.
fn glibc_versions(file: &Path) -> Vec<(u32, u32)> {
    let text = tool_output("objdump", &["-T"], file);
    let mut versions: Vec<(u32, u32)> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

fn assert_portable(file: &Path) {
    let needed = needed(file);
    println!("{}: NEEDED {needed:?}", file.display());
    let foreign: Vec<_> = needed.iter().filter(|n| !C_RUNTIME.contains(&n.as_str())).collect();
    assert!(
        foreign.is_empty(),
        "{} needs more than the C runtime: {foreign:?} (allowed: {C_RUNTIME:?})",
        file.display()
    );
    let versions = glibc_versions(file);
    let newest = versions
        .last()
        .copied()
        .expect("a dynamically linked file names glibc versions");
    println!(
        "{}: newest glibc symbol version {}.{}",
        file.display(),
        newest.0,
        newest.1
    );
    assert!(
        newest <= GLIBC_FLOOR,
        "{} needs GLIBC_{}.{}, newer than the floor {}.{}",
        file.display(),
        newest.0,
        newest.1,
        GLIBC_FLOOR.0,
        GLIBC_FLOOR.1
    );
}

#[test]
fn the_library_needs_only_the_c_runtime_and_glibc_2_28() {
    assert_portable(&shipped_library());
}

#[test]
fn mwav1_needs_only_the_c_runtime_and_glibc_2_28() {
    assert_portable(&mwav1::binary());
}

/// The fault-injection switch is a test-only Cargo feature; the library users get must not
/// contain it. `mwav1`, built with the tests crate, does: that is the check's own control.
#[test]
fn the_shipped_library_has_no_fault_injection() {
    let marker = b"MOVIE_WRITER_AV1_FAIL_AFTER_FRAMES";
    let contains = |path: &Path| {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        bytes.windows(marker.len()).any(|w| w == marker)
    };
    assert!(
        contains(&mwav1::binary()),
        "the test build of mwav1 should carry the switch"
    );
    assert!(
        !contains(&shipped_library()),
        "the shipped library carries the test-only fault switch"
    );
}

/// The checks above must be able to fail: a program linked the usual way on this machine
/// (Debian 12, glibc 2.36) asks for symbols newer than 2.28.
#[test]
fn the_glibc_check_sees_a_newer_symbol() {
    let versions = glibc_versions(Path::new("/usr/bin/ffprobe"));
    assert!(
        versions.last().copied().unwrap_or_default() > GLIBC_FLOOR,
        "{versions:?}"
    );
    assert!(needed(Path::new("/usr/bin/ffprobe"))
        .iter()
        .any(|n| n.starts_with("libavcodec")));
}

/// The library reports the encoders the stack compiles in, with the reason each probe gave.
#[test]
fn mwav1_probe_lists_every_compiled_in_encoder_with_a_reason() {
    let mut cmd = Command::new(mwav1::binary());
    cmd.arg("probe");
    let out = run(&mut cmd, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    for codec in ["av1_nvenc", "av1_vaapi", "av1_qsv", "libsvtav1", "libaom-av1"] {
        // Each backend prints its state line, then "version <library> (<codec>)".
        let at = lines
            .iter()
            .position(|l| l.trim_start().starts_with("version") && l.contains(&format!("({codec})")))
            .unwrap_or_else(|| panic!("`mwav1 probe` does not list {codec}"));
        let state = lines[at - 1];
        assert!(
            !state.contains(" has no ") && !state.contains("not compiled in"),
            "{codec} is not compiled in: {state}"
        );
        let available = state.trim_end().ends_with(" available");
        let reason = state.split_once("unavailable:").map(|(_, why)| why.trim());
        assert!(
            available || reason.is_some_and(|why| !why.is_empty()),
            "{codec}: neither available nor a reason: {state}"
        );
    }
}

fn release_zip() -> PathBuf {
    let version = env!("CARGO_PKG_VERSION");
    let zip = repo().join(format!("dist/movie_writer_av1-{version}.zip"));
    assert!(zip.is_file(), "{} is missing: run `./dev package` first", zip.display());
    zip
}

/// A new project (the demo's scene, no addon), with the release zip unpacked into it as the
/// editor's Asset Library installer would, imported once.
fn project_from_zip(godot: &Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mwav1-zip-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    for f in ["project.godot", "main.gd", "main.tscn"] {
        fs::copy(repo().join("demo_project").join(f), dir.join(f)).unwrap();
    }
    let mut unzip = Command::new("unzip");
    unzip.arg("-q").arg(release_zip()).arg("-d").arg(&dir);
    let done = run(&mut unzip, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert!(done.status.success(), "unzip failed: {}", done.stderr);
    let addon = dir.join("addons/movie_writer_av1");
    for f in [
        "movie_writer_av1.gdextension",
        "plugin.cfg",
        "bin/libmovie_writer_av1.linux.x86_64.so",
        "THIRD_PARTY_NOTICES.txt",
        "LICENSE.txt",
        "licenses/ffmpeg-LGPL-2.1.txt",
    ] {
        assert!(addon.join(f).is_file(), "the zip lacks addons/movie_writer_av1/{f}");
    }
    // The engine's first-import crash (see engine::register_extension) is worked around as a
    // user would: the extension is listed before the first import.
    register_extension(&dir);
    let log = godot_run(godot, &dir, &["--headless", "--import"], false);
    assert_no_loader_errors(&log);
    dir
}

#[test]
fn the_release_zip_records_in_a_new_project() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let dir = project_from_zip(&godot);
        let out = dir.join("movie.webm");
        let log = godot_run(
            &godot,
            &dir,
            &[
                &COMPATIBILITY[..],
                &[
                    "--write-movie",
                    out.to_str().unwrap(),
                    "--fixed-fps",
                    "60",
                    "--quit-after",
                    "90",
                ],
            ]
            .concat(),
            true,
        );
        assert_no_loader_errors(&log);
        assert!(our_errors(&log).is_empty(), "errors of ours: {:#?}", our_errors(&log));
        let mut expected = Expected::unknown_source(1280, 720, 60, Some(90));
        expected.browser = true;
        let report = check_recording(&out, &expected).unwrap_or_else(|e| panic!("{e}"));
        println!("{report}");
        report.assert_ok();
        let _ = fs::remove_dir_all(&dir);
    });
}
