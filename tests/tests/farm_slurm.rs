//! `mwav1 farm submit` on a real Slurm cluster: Debian's slurmctld, slurmd and munge, started
//! here as a one-node cluster (tests/src/slurm.rs) and stopped afterwards, run the 4-chunk job as
//! an `sbatch --array` with the merge queued `--dependency=afterok`. The job renders demo_project's
//! seekable cutscene with the real engine (see `engine.rs` for when engine tests are skipped),
//! each array task on its own Xvfb display, numbered by the task. Without Slurm installed, or
//! without the cgroup filesystem its slurmd needs, the test is counted as skipped.

use std::process::Command;
use std::time::Duration;

use movie_writer_av1_tests::engine::{godot, project, ENGINE};
use movie_writer_av1_tests::farm::{assert_merged, plan_cutscene, text};
use movie_writer_av1_tests::skip::{current_test, skip, Need};
use movie_writer_av1_tests::slurm::{cgroups_mounted, installed, Cluster};
use movie_writer_av1_tests::{mwav1, with_time_limit};

const FPS: u32 = 60;
const FRAMES: u64 = 120;
const SIZE: (u32, u32) = (640, 360);

#[test]
fn slurm_array_renders_every_chunk_and_the_dependent_job_merges() {
    if !installed() {
        skip(
            &current_test(),
            Need::Tool("slurm"),
            "slurmctld, slurmd, munged or sbatch is not installed",
        );
        return;
    }
    if !cgroups_mounted() {
        skip(
            &current_test(),
            Need::Tool("slurm"),
            "no cgroup filesystem is mounted under /sys/fs/cgroup, and Debian 12's slurmd does not \
             start without one (a chroot that binds /sys without its submounts has none)",
        );
        return;
    }
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(900), move || {
        let project = project(&godot, "slurm", true);
        let job = plan_cutscene(&godot, &project, FRAMES, FPS, SIZE);
        // munged wants a short socket path in a folder only its user writes: /tmp, not the target dir.
        let dir = std::env::temp_dir().join(format!("mwav1-slurm-{}", std::process::id()));
        let cluster = Cluster::start(&dir).unwrap_or_else(|e| panic!("starting the cluster: {e}"));
        let submit = Command::new(mwav1::binary())
            .args(["farm", "submit"])
            .arg(&job)
            .arg("--wait")
            .env("SLURM_CONF", &cluster.conf)
            .output()
            .expect("mwav1 runs");
        let out = text(&submit);
        println!("{out}");
        assert!(
            submit.status.success(),
            "farm submit --wait: {out}\nslurmctld log:\n{}",
            std::fs::read_to_string(dir.join("slurmctld.log")).unwrap_or_default()
        );
        assert!(out.contains("submitted the chunk array as Slurm job"), "{out}");
        assert_merged(&job, SIZE, FPS, FRAMES);
        drop(cluster);
        let _ = std::fs::remove_dir_all(&dir);
    });
}
