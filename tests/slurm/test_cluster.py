"""Tests for the one-node Slurm test cluster (tests/slurm/cluster.py).

They start a real munged + slurmctld + slurmd on loopback and drive it with
the same client commands Nextflow's Slurm executor uses. When Slurm or munge
is missing, the fixture runs tests/slurm/install.sh (needs root + apt-get).
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cluster import SlurmCluster, missing_binaries  # noqa: E402

pytestmark = pytest.mark.slurm

JOB_TIMEOUT = 60.0  # seconds any single job may take to run on the test cluster


def ensure_slurm_installed() -> None:
    """Install slurm-wlm and munge via install.sh when they are missing."""
    if not missing_binaries():
        return
    proc = subprocess.run(["bash", str(HERE / "install.sh")], capture_output=True, text=True, timeout=900)
    still = missing_binaries()
    if proc.returncode != 0 or still:
        pytest.fail(
            f"tests/slurm/install.sh failed (exit {proc.returncode}); missing: {', '.join(still) or '-'}\n"
            f"{proc.stdout}{proc.stderr}",
            pytrace=False,
        )


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    """Poll predicate() until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(interval)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    ensure_slurm_installed()
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
    assert cluster.processes() == [], f"cluster processes still alive after stop(): {cluster.processes()}"


def sbatch(cluster: SlurmCluster, *args: str) -> str:
    """Submit with sbatch --parsable; return the job id."""
    out = cluster.run("sbatch", "--parsable", *args).stdout.strip()
    job_id = out.split(";")[0]
    assert job_id.isdigit(), f"unexpected sbatch output: {out!r}"
    return job_id


def nextflow_squeue(cluster: SlurmCluster) -> dict[str, str]:
    """The exact status query of Nextflow's Slurm executor, parsed to {id: state}."""
    user = getpass.getuser()
    out = cluster.run("squeue", "--noheader", "-o", "%i %t", "-t", "all", "-u", user).stdout
    states = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def job_state(cluster: SlurmCluster, job_id: str) -> str:
    return cluster.run("squeue", "-h", "-o", "%T", "-t", "all", "-j", job_id, check=False).stdout.strip()


def test_env_points_clients_at_cluster(slurm):
    env = slurm.env()
    assert env["SLURM_CONF"] == str(slurm.conf_path)
    assert env["USER"]
    assert slurm.run("sinfo", "-h", "-o", "%P %T").stdout.split() == ["test*", "idle"]


def test_sbatch_wrap_writes_output(slurm, tmp_path):
    result = tmp_path / "result.txt"
    log = tmp_path / "slurm-%j.out"
    job_id = sbatch(slurm, "-o", str(log), "--wrap", f"echo hello from $SLURM_JOB_ID > {result}")
    wait_for(lambda: result.exists() and result.read_text().strip(), JOB_TIMEOUT, f"job {job_id} to write {result}")
    assert result.read_text().strip() == f"hello from {job_id}"
    wait_for(lambda: job_state(slurm, job_id) == "COMPLETED", JOB_TIMEOUT, f"job {job_id} to complete")


def test_squeue_as_nextflow_sees_job(slurm, tmp_path):
    go = tmp_path / "go"
    job_id = sbatch(
        slurm,
        "-o",
        str(tmp_path / "out"),
        "--wrap",
        f"for i in $(seq 600); do [ -e {go} ] && exit 0; sleep 0.1; done; exit 1",
    )
    # While it runs (or waits) Nextflow must see it as R (or PD) ...
    state = wait_for(lambda: nextflow_squeue(slurm).get(job_id), 10, f"job {job_id} in squeue output")
    assert state in {"PD", "R", "CF"}, f"unexpected state {state!r}"
    wait_for(lambda: nextflow_squeue(slurm).get(job_id) == "R", JOB_TIMEOUT, f"job {job_id} to run")
    go.touch()
    # ... and, with -t all, still as CD once it has completed.
    wait_for(
        lambda: nextflow_squeue(slurm).get(job_id) == "CD",
        JOB_TIMEOUT,
        f"job {job_id} to show as CD; last squeue: {nextflow_squeue(slurm)}",
    )


def test_job_array_runs_all_elements(slurm, tmp_path):
    job_id = sbatch(
        slurm,
        "--array=0-3",
        "-o",
        str(tmp_path / "slurm-%A_%a.out"),
        "--wrap",
        f"echo $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID > {tmp_path}/task-$SLURM_ARRAY_TASK_ID.txt",
    )
    files = [tmp_path / f"task-{i}.txt" for i in range(4)]
    wait_for(
        lambda: all(f.exists() and f.read_text().strip() for f in files),
        JOB_TIMEOUT,
        f"all 4 elements of array job {job_id}",
    )
    assert [f.read_text().split() for f in files] == [[job_id, str(i)] for i in range(4)]
    wait_for(
        lambda: all(nextflow_squeue(slurm).get(f"{job_id}_{i}") == "CD" for i in range(4)),
        JOB_TIMEOUT,
        f"array elements {job_id}_0..3 to show as CD; last squeue: {nextflow_squeue(slurm)}",
    )


def test_cpus_and_memory_are_honoured(slurm, tmp_path):
    result = tmp_path / "res.txt"
    job_id = sbatch(
        slurm,
        "-c",
        "1",
        "--mem",
        "100",
        "-o",
        str(tmp_path / "out"),
        "--wrap",
        f"echo $SLURM_CPUS_PER_TASK $SLURM_MEM_PER_NODE > {result}",
    )
    wait_for(lambda: result.exists() and result.read_text().strip(), JOB_TIMEOUT, f"job {job_id} to write {result}")
    assert result.read_text().split() == ["1", "100"]
    show = slurm.run("scontrol", "show", "job", job_id).stdout
    assert "NumCPUs=1 " in show, show
    assert "mem=100M" in show, show


def test_more_memory_than_node_is_rejected(slurm):
    """--mem is enforced against RealMemory (CR_Core_Memory), not ignored."""
    proc = slurm.run("sbatch", "--mem", str(slurm.node["RealMemory"] * 4), "--wrap", "true", check=False)
    assert proc.returncode != 0, proc.stdout
    assert "memory" in proc.stderr.lower() or "configuration" in proc.stderr.lower(), proc.stderr


def test_stop_leaves_no_process(tmp_path):
    ensure_slurm_installed()
    cluster = SlurmCluster(tmp_path / "c")
    with cluster:
        daemons = cluster.pids()
        assert all(daemons.values()), f"missing pid files: {daemons}"
        # A running job, so that slurmstepd and the job's processes exist too.
        job_id = sbatch(cluster, "-o", str(tmp_path / "out"), "--wrap", "sleep 300")
        wait_for(lambda: job_state(cluster, job_id) == "RUNNING", JOB_TIMEOUT, f"job {job_id} to run")
        before = cluster.processes()
        assert set(daemons.values()) <= set(before)
    assert cluster.processes() == [], f"still alive after stop(): {cluster.processes()}"
    for name, pid in daemons.items():
        assert not _alive(pid), f"{name} (pid {pid}) still alive after stop()"
    for pid in before:
        assert not _alive(pid), f"cluster process {pid} still alive after stop()"
    leftovers = [cmd for cmd in _cmdlines() if str(cluster.base) in cmd]
    assert leftovers == [], f"processes mentioning {cluster.base} still alive: {leftovers}"
    cluster.stop()  # idempotent


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _cmdlines() -> list[str]:
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit() and _alive(int(e)):
            try:
                out.append(Path(f"/proc/{e}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return out
