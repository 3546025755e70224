//! What `mwav1 hwcheck` says about the machine: kernel, CPU, GPU drivers and the libraries the
//! backends load, from files and tools that may or may not be there (each absence is said).

use std::process::Command;

/// The lines of `program args…` (stdout, then stderr) that `keep` picks, or why there are none.
fn tool_lines(program: &str, args: &[&str], keep: impl Fn(&str) -> bool) -> String {
    match Command::new(program).args(args).output() {
        Err(_) => format!("{program}: not installed"),
        Ok(out) => {
            let text = format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| keep(l)).collect();
            if lines.is_empty() {
                format!("{program}: printed nothing useful (exit {})", out.status)
            } else {
                lines.join("\n")
            }
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The distribution's name from os-release (Linux), else the OS's name as Rust knows it.
fn os_name() -> String {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// Each display adapter the kernel knows (Linux: /sys/class/drm), by PCI vendor:device and
/// driver, so a report names the GPU even where no vendor tool is installed.
fn gpus() -> String {
    let Ok(cards) = std::fs::read_dir("/sys/class/drm") else {
        return "unknown: no /sys/class/drm (not Linux, or a container without it)".into();
    };
    let mut found: Vec<String> = cards
        .flatten()
        .filter(|c| {
            let name = c.file_name().to_string_lossy().into_owned();
            name.starts_with("card") && !name.contains('-')
        })
        .filter_map(|c| {
            let device = c.path().join("device");
            let read = |f: &str| {
                std::fs::read_to_string(device.join(f))
                    .ok()
                    .map(|v| v.trim().to_string())
            };
            let driver = std::fs::read_link(device.join("driver"))
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "no driver".into());
            Some(format!("{}:{} ({driver})", read("vendor")?, read("device")?))
        })
        .collect();
    found.sort();
    found.dedup();
    if found.is_empty() {
        "none the kernel shows".into()
    } else {
        found.join(", ")
    }
}

/// The machine section of the report, one fact a line: the OS, CPU and GPUs first.
pub fn describe() -> Vec<String> {
    // /proc is Linux's; elsewhere only the OS's name is known here.
    let kernel = match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        Ok(release) => format!("Linux {}", release.trim()),
        Err(_) => format!("{} (release unknown: no /proc)", std::env::consts::OS),
    };
    let mut out = vec![
        format!("os: {}", os_name()),
        format!("kernel: {kernel}"),
        format!(
            "cpu: {} ({} threads)",
            cpu_model(),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
        format!("gpu (PCI vendor:device, driver): {}", gpus()),
    ];
    out.push(format!(
        "nvidia-smi: {}",
        tool_lines(
            "nvidia-smi",
            &["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            |l| !l.is_empty()
        )
    ));
    out.push(format!(
        "vulkaninfo --summary:\n{}",
        tool_lines("vulkaninfo", &["--summary"], |l| {
            [
                "deviceName",
                "driverName",
                "driverInfo",
                "apiVersion",
                "Vulkan Instance Version",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
    ));
    out.push(format!(
        "vainfo:\n{}",
        tool_lines("vainfo", &[], |l| l.contains("Driver version")
            || l.contains("VAProfileAV1"))
    ));
    out
}
