//! The release as a user gets it: only the zips `./dev package` writes into `dist/` (the
//! addon's, and `mwav1`'s for each platform built), unpacked into an empty folder, plus an
//! engine. From them alone this machine runs `mwav1 probe`, `mwav1 hwcheck` (no hardware
//! encoder here: it must name the machine and say plainly that nothing was judged), and
//! demo_project's cutscene as a 2-chunk farm job: `farm plan` → `farm run` → `farm merge`,
//! into a project whose addon came from the release zip.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use movie_writer_av1_tests::engine::{assert_no_loader_errors, godot, godot_run, register_extension, repo, ENGINE};
use movie_writer_av1_tests::farm::{assert_merged, plan_cutscene_with, text};
use movie_writer_av1_tests::tool::run;
use movie_writer_av1_tests::with_time_limit;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const FPS: u32 = 60;
const FRAMES: u64 = 60;
const SIZE: (u32, u32) = (640, 360);

/// The zips of mwav1 for each platform, and the first bytes its binary must start with.
const TOOL_ZIPS: [(&str, &str, &[u8]); 3] = [
    ("linux-x86_64", "mwav1", b"\x7fELF"),
    ("windows-x86_64", "mwav1.exe", b"MZ"),
    ("macos-universal", "mwav1", b"\xca\xfe\xba\xbe"),
];

fn dist(name: &str) -> PathBuf {
    repo().join("dist").join(name)
}

fn unzip(zip: &Path, into: &Path) {
    assert!(zip.is_file(), "{} is missing: run `./dev package` first", zip.display());
    let mut cmd = Command::new("unzip");
    cmd.arg("-q").arg(zip).arg("-d").arg(into);
    let done = run(&mut cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert!(done.status.success(), "unzip {}: {}", zip.display(), done.stderr);
}

/// The names inside a zip.
fn listing(zip: &Path) -> Vec<String> {
    let mut cmd = Command::new("unzip");
    cmd.arg("-Z1").arg(zip);
    let done = run(&mut cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert!(done.status.success(), "unzip -Z1 {}: {}", zip.display(), done.stderr);
    String::from_utf8_lossy(&done.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Each platform whose library is in the addon's zip has its mwav1 zip beside it, holding that
/// platform's binary with the licence and the notices; the addon's zip holds no mwav1 (it
/// would go into exported games).
#[test]
fn every_platform_in_the_release_has_its_mwav1_beside_the_addon() {
    let addon = listing(&dist(&format!("movie_writer_av1-{VERSION}.zip")));
    assert!(
        !addon.iter().any(|n| n.contains("mwav1")),
        "mwav1 is inside the addon's zip: {addon:?}"
    );
    let libraries = [
        ("linux-x86_64", "libmovie_writer_av1.linux.x86_64.so"),
        ("windows-x86_64", "movie_writer_av1.windows.x86_64.dll"),
        ("macos-universal", "libmovie_writer_av1.macos.universal.dylib"),
    ];
    let mut checked = 0;
    for (platform, binary, magic) in TOOL_ZIPS {
        let library = libraries.iter().find(|(p, _)| *p == platform).map(|(_, l)| l).unwrap();
        if !addon.iter().any(|n| n.ends_with(library)) {
            continue;
        }
        let name = format!("mwav1-{VERSION}-{platform}");
        let zip = dist(&format!("{name}.zip"));
        let inside = listing(&zip);
        for f in [
            binary,
            "LICENSE.txt",
            "THIRD_PARTY_NOTICES.txt",
            "licenses/ffmpeg-LGPL-2.1.txt",
        ] {
            assert!(
                inside.contains(&format!("{name}/{f}")),
                "{} lacks {name}/{f}: {inside:?}",
                zip.display()
            );
        }
        let dir = std::env::temp_dir().join(format!("mwav1-release-{}-{platform}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        unzip(&zip, &dir);
        let bytes = fs::read(dir.join(&name).join(binary)).unwrap();
        assert!(bytes.starts_with(magic), "{name}/{binary} is not a {platform} binary");
        let _ = fs::remove_dir_all(&dir);
        checked += 1;
    }
    assert!(checked >= 1, "the addon's zip has no library of a known platform");
    println!("{checked} platform(s): each has its mwav1 zip");
}

/// Whether the file at `path` holds the bytes `marker`.
fn holds(path: &Path, marker: &[u8]) -> bool {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.windows(marker.len()).any(|w| w == marker)
}

/// What users get carries no test-only fault switch, and the libraries (which go into games)
/// no experimental Vulkan Video backend: each package is built on its own, since one Cargo
/// invocation for two packages unifies their features (mwav1 has the Vulkan backend, the
/// tests crate the fault switch). The test build of mwav1 carries both: the check's control.
#[test]
fn the_release_holds_no_test_only_or_experimental_code() {
    let fault = movie_writer_av1_core::pipeline::FAULT_ENV.as_bytes();
    let vulkan = b"vkCreateVideoSessionKHR";
    let test_build = movie_writer_av1_tests::mwav1::binary();
    assert!(
        holds(&test_build, fault) && holds(&test_build, vulkan),
        "the control lacks a marker"
    );
    let root = std::env::temp_dir().join(format!("mwav1-release-markers-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    unzip(&dist(&format!("movie_writer_av1-{VERSION}.zip")), &root);
    let mut problems = Vec::new();
    for entry in fs::read_dir(root.join("addons/movie_writer_av1/bin"))
        .unwrap()
        .flatten()
    {
        let path = entry.path();
        for (marker, what) in [(fault, "the fault switch"), (&vulkan[..], "the Vulkan Video backend")] {
            if holds(&path, marker) {
                problems.push(format!("{} carries {what}", path.display()));
            }
        }
    }
    for (platform, binary, _) in TOOL_ZIPS {
        let name = format!("mwav1-{VERSION}-{platform}");
        let zip = dist(&format!("{name}.zip"));
        if !zip.is_file() {
            continue;
        }
        unzip(&zip, &root);
        let path = root.join(&name).join(binary);
        if holds(&path, fault) {
            problems.push(format!("{} carries the fault switch", path.display()));
        }
    }
    let _ = fs::remove_dir_all(&root);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `mwav1` run from the unpacked release.
fn mwav1(tool: &Path, args: &[&str]) -> Output {
    Command::new(tool).args(args).output().expect("the released mwav1 runs")
}

#[test]
fn mwav1_from_the_release_probes_checks_the_hardware_and_renders_a_farm_job() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let root = std::env::temp_dir().join(format!("mwav1-release-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();

        let name = format!("mwav1-{VERSION}-linux-x86_64");
        unzip(&dist(&format!("{name}.zip")), &root.join("tools"));
        let tool = root.join("tools").join(&name).join("mwav1");

        let probe = mwav1(&tool, &["probe"]);
        assert!(probe.status.success(), "mwav1 probe: {}", text(&probe));
        assert!(text(&probe).contains("SVT-AV1"), "{}", text(&probe));

        let report_dir = root.join("hwcheck");
        let hw = mwav1(
            &tool,
            &["hwcheck", "--no-validation", "--out", report_dir.to_str().unwrap()],
        );
        let said = text(&hw);
        println!("{said}");
        assert!(hw.status.success(), "mwav1 hwcheck: {said}");
        let report = fs::read_to_string(report_dir.join("hwcheck-report.txt")).expect("the report file");
        let machine: Vec<&str> = report
            .lines()
            .skip_while(|l| *l != "== machine")
            .skip(1)
            .take(4)
            .collect();
        for (at, key) in ["os: ", "kernel: ", "cpu: ", "gpu "].iter().enumerate() {
            assert!(
                machine.get(at).is_some_and(|l| l.starts_with(key)),
                "the report's machine lines do not start with {key:?}: {machine:?}"
            );
        }
        assert!(report.contains("nothing was judged"), "no hardware here, yet: {report}");
        assert!(
            !report.contains(" passed"),
            "nothing ran, yet the report counts passes: {report}"
        );

        // A project whose addon comes from the release zip, with demo_project's scenes.
        let game = root.join("game");
        fs::create_dir_all(&game).unwrap();
        for f in ["project.godot", "main.gd", "main.tscn", "cutscene.gd", "cutscene.tscn"] {
            fs::copy(repo().join("demo_project").join(f), game.join(f)).unwrap();
        }
        unzip(&dist(&format!("movie_writer_av1-{VERSION}.zip")), &game);
        register_extension(&game);
        assert_no_loader_errors(&godot_run(&godot, &game, &["--headless", "--import"], false));

        let job = plan_cutscene_with(&tool, 2, &godot, &game, (FRAMES, FPS, SIZE));
        let job_arg = job.to_str().unwrap();
        let rendered = mwav1(&tool, &["farm", "run", job_arg, "--jobs", "1"]);
        assert!(rendered.status.success(), "farm run: {}", text(&rendered));
        let merged = mwav1(&tool, &["farm", "merge", job_arg]);
        assert!(merged.status.success(), "farm merge: {}", text(&merged));
        println!("{}", text(&merged));
        assert_merged(&job, SIZE, FPS, FRAMES);
        let _ = fs::remove_dir_all(&root);
    });
}
