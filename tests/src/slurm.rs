//! A one-node Slurm cluster started for one test: munged with its own key and socket, slurmctld
//! and slurmd from a generated slurm.conf, all state, spool and logs in a folder of its own,
//! running as the current user. The daemons are stopped when the cluster is dropped, also when
//! the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::tool::{self, Error, Result};

pub struct Cluster {
    pub dir: PathBuf,
    /// The `SLURM_CONF` the clients (sbatch, sinfo) must be given.
    pub conf: PathBuf,
}

/// Whether Slurm's daemons and munge are installed.
pub fn installed() -> bool {
    ["slurmctld", "slurmd", "munged", "sbatch"]
        .iter()
        .all(|p| which(p).is_some())
}

/// Whether a cgroup filesystem is mounted under /sys/fs/cgroup. Debian 12's slurmd (22.05)
/// refuses to start without one ("cgroup filesystem not mounted"), whatever the plugins
/// chosen; a chroot that binds /sys without its submounts has none.
pub fn cgroups_mounted() -> bool {
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE SUPER
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
        info.lines().any(|line| {
            let mount_point = line.split(' ').nth(4).unwrap_or("");
            let fs_type = line.split(" - ").nth(1).and_then(|t| t.split(' ').next()).unwrap_or("");
            mount_point.starts_with("/sys/fs/cgroup") && fs_type.starts_with("cgroup")
        })
    })
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

impl Cluster {
    /// Starts the cluster in `dir` (emptied first); ports are derived from the process id so
    /// that test runs on one machine do not collide.
    pub fn start(dir: &Path) -> Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        for sub in ["state", "spool"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| Error(format!("{}: {e}", dir.display())))?;
        }
        let cluster = Self {
            dir: dir.to_path_buf(),
            conf: dir.join("slurm.conf"),
        };
        let key = dir.join("munge.key");
        std::fs::write(&key, read_urandom(1024)?).map_err(|e| Error(e.to_string()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).map_err(|e| Error(e.to_string()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error(e.to_string()))?;
        let d = dir.display();
        daemon(
            Command::new(which("munged").expect("installed")).args([
                format!("--socket={d}/munge.socket"),
                format!("--key-file={d}/munge.key"),
                format!("--pid-file={d}/munged.pid"),
                format!("--log-file={d}/munged.log"),
                format!("--seed-file={d}/munged.seed"),
                "--force".into(),
            ]),
            &dir.join("munged.log"),
        )?;
        let host = tool::run_text(Command::new("hostname").arg("-s"), Duration::from_secs(10))?;
        let port = 20_000 + (std::process::id() % 20_000) as u16 * 2;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let user = tool::run_text(Command::new("id").arg("-un"), Duration::from_secs(10))?;
        let conf = format!(
            "ClusterName=mwav1test\nSlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={port}\nSlurmdPort={}\n\
             SlurmUser={user}\nSlurmdUser={user}\nAuthType=auth/munge\nCredType=cred/munge\n\
             AuthInfo=socket={d}/munge.socket\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             SwitchType=switch/none\nMpiDefault=none\nSelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\n\
             ReturnToService=2\nStateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\nJobCompType=jobcomp/none\n\
             AccountingStorageType=accounting_storage/none\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN\nPartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            port + 1,
            host = host.trim(),
            user = user.trim(),
        );
        std::fs::write(&cluster.conf, conf).map_err(|e| Error(e.to_string()))?;
        daemon(cluster.command("slurmctld").arg("-i"), &dir.join("slurmctld.log"))?;
        daemon(&mut cluster.command("slurmd"), &dir.join("slurmd.log"))?;
        // Ready when the node is idle.
        let started = Instant::now();
        loop {
            let state = tool::run_text(
                cluster.command("sinfo").args(["-h", "-o", "%t"]),
                Duration::from_secs(20),
            )
            .unwrap_or_default();
            if state.trim() == "idle" {
                return Ok(cluster);
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(Error(format!(
                    "the one-node cluster did not come up (sinfo: {state:?}); logs in {d}"
                )));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// A Slurm command (daemon or client) that uses this cluster's configuration.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(which(program).unwrap_or_else(|| program.into()));
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }
}

fn read_urandom(n: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| Error(e.to_string()))?;
    Ok(buf)
}

/// Runs a daemon's start command, which forks and returns; a failure quotes the end of the
/// daemon's log, where the daemons write why (their exit says nothing).
fn daemon(cmd: &mut Command, log: &Path) -> Result<()> {
    let done = tool::run(cmd, Duration::from_secs(30))?;
    if !done.status.success() {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error(format!(
            "{}\nits log ends:\n{}",
            Error::failed(cmd, &done).0,
            tail.join("\n")
        )));
    }
    Ok(())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Only the daemons this cluster started, by their pid files.
        for name in ["slurmd", "slurmctld", "munged"] {
            let pid_file = self.dir.join(format!("{name}.pid"));
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            {
                // SAFETY: a plain signal to a process this cluster started.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                let gone = Instant::now();
                while Path::new(&format!("/proc/{pid}")).exists() && gone.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}
