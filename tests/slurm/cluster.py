"""A real one-node Slurm cluster on loopback, for tests.

Standard library only. Starts munged, slurmctld and slurmd with every file
(key, sockets, config, state, spool, logs, pid files) under one base
directory, so several clusters can coexist and nothing in /etc is used.

Library use (e.g. from a pytest fixture)::

    with SlurmCluster(tmp_dir) as cluster:
        subprocess.run(["sbatch", "--wrap", "true"], env=cluster.env(), check=True)

Command line, for manual use::

    python tests/slurm/cluster.py start DIR   # prints `export SLURM_CONF=...`
    python tests/slurm/cluster.py stop DIR

Needs the Debian packages slurm-wlm and munge (see install.sh beside this
file). Tested with Slurm 22.05 (Debian 12) running as root.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["SlurmCluster", "SlurmClusterError", "missing_binaries"]

# Binaries the cluster needs; daemons live in /usr/sbin, which a non-root
# PATH may not include, so that is searched too.
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("munge", "sbatch", "squeue", "sinfo", "scancel")
_EXTRA_PATH = ("/usr/sbin", "/sbin", "/usr/local/sbin")

# Environment variable set in the daemons' environment; everything they
# spawn (slurmstepd, slurmscriptd) inherits it, which lets stop() find
# leftovers of *this* cluster without touching anything else.
MARKER_VAR = "SLURM_TEST_CLUSTER_DIR"

# Unix socket paths are limited to 108 bytes (including the NUL).
_MAX_SOCKET_PATH = 100

# Prefixes of variables that Slurm clients read as input; dropped from env()
# so that a test run inside a real Slurm job does not leak into this cluster.
_SLURM_ENV_PREFIXES = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_", "SINFO_", "SCANCEL_")


class SlurmClusterError(RuntimeError):
    """The cluster could not be started or stopped; message has the details."""


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in _EXTRA_PATH:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def missing_binaries() -> list[str]:
    """Names of the Slurm/munge binaries that are not installed."""
    return [b for b in DAEMONS + CLIENTS if _which(b) is None]


def _free_ports(n: int) -> list[int]:
    """n distinct TCP ports that are free on 127.0.0.1 right now."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _pid_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        # Field 3, after "(comm)", is the state; comm may contain spaces.
        return stat[stat.rindex(")") + 2] not in "ZX"
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"  <cannot read {path}: {e}>"
    if not text:
        return f"  <{path} is empty>"
    return "\n".join("  " + ln for ln in text[-lines:])


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class SlurmCluster:
    """A one-node Slurm cluster (munged + slurmctld + slurmd) under base_dir.

    start() brings it up and waits until the node is idle; stop() tears it
    down (cancel all jobs, SIGTERM, bounded wait, SIGKILL) and may be called
    any number of times. env() gives the environment for clients (sbatch,
    squeue, scancel, nextflow) so that they talk to this cluster.
    """

    def __init__(
        self,
        base_dir: str | os.PathLike,
        *,
        cluster_name: str = "nftest",
        partition: str = "test",
        start_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        max_array_size: int = 10001,
    ) -> None:
        self.base = Path(base_dir).resolve()
        self.cluster_name = cluster_name
        self.partition = partition
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.max_array_size = max_array_size
        self.user = getpass.getuser()

        b = self.base
        self.conf_path = b / "slurm.conf"
        self.plugstack_path = b / "plugstack.conf"
        self.state_dir = b / "state"
        self.spool_dir = b / "spool"
        self.log_dir = b / "log"
        self.run_dir = b / "run"
        self.munge_dir = b / "munge"
        self.munge_key = self.munge_dir / "munge.key"
        self.munge_pid = self.run_dir / "munged.pid"
        self.munge_log = self.log_dir / "munged.log"
        self.munge_seed = self.munge_dir / "munged.seed"
        self.slurmctld_pid = self.run_dir / "slurmctld.pid"
        self.slurmd_pid = self.run_dir / "slurmd.pid"
        self.slurmctld_log = self.log_dir / "slurmctld.log"
        self.slurmd_log = self.log_dir / "slurmd.log"
        self.info_path = b / "cluster.json"
        # Set by start() (or loaded from cluster.json by stop()).
        self.munge_socket: Path = self.munge_dir / "munge.socket"
        self._short_socket_dir: Path | None = None
        self.ports: dict[str, int] = {}
        self.node: dict[str, int] = {}
        self._started = False

    # ------------------------------------------------------------------ api

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for Slurm clients / nextflow using this cluster.

        A copy of `base` (default os.environ) with stray SLURM_*/SBATCH_*...
        input variables removed, SLURM_CONF pointing at this cluster, the
        sbin directories on PATH and USER set (Nextflow passes `-u <user>`
        to squeue; some CI containers have no USER).
        """
        env = dict(os.environ if base is None else base)
        for k in list(env):
            if k.startswith(_SLURM_ENV_PREFIXES):
                del env[k]
        env["SLURM_CONF"] = str(self.conf_path)
        path = env.get("PATH", os.defpath).split(os.pathsep)
        path += [d for d in _EXTRA_PATH if d not in path]
        env["PATH"] = os.pathsep.join(path)
        env.setdefault("USER", self.user)
        return env

    def start(self) -> SlurmCluster:
        """Start munged, slurmctld and slurmd; wait until the node is idle."""
        if self._started:
            return self
        missing = missing_binaries()
        if missing:
            raise SlurmClusterError(
                f"missing binaries: {', '.join(missing)}; run `bash tests/slurm/install.sh` "
                "(as root) or install the Debian packages slurm-wlm and munge"
            )
        t0 = time.monotonic()
        # A cluster left running in this base dir (e.g. by the CLI) would
        # hold the munge socket and pid files: stop it first.
        self.stop()
        self._started = True  # so that a failed start can still be stopped
        try:
            self._prepare_dirs()
            self._start_munged()
            self._write_config()
            self._start_slurm()
            self._wait_idle(deadline=t0 + self.start_timeout)
        except BaseException:
            try:
                self.stop()
            except Exception:  # keep the original error
                pass
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Cancel all jobs and stop slurmd, slurmctld, munged. Idempotent."""
        self._load_info()
        t0 = time.monotonic()
        if _pid_alive(_read_pid(self.slurmctld_pid) or -1):
            self._cancel_all_jobs()
        # slurmd first (it talks to slurmctld on the way down), munged last
        # (both use it for authentication while shutting down).
        self._terminate("slurmd", self.slurmd_pid)
        self._terminate("slurmctld", self.slurmctld_pid)
        # slurmstepd, slurmscriptd, job processes; munged goes last.
        self._kill_leftovers(keep={_read_pid(self.munge_pid) or -1})
        self._terminate("munged", self.munge_pid)
        self._kill_leftovers()
        if self._short_socket_dir is not None:
            shutil.rmtree(self._short_socket_dir, ignore_errors=True)
        self._started = False
        self.stop_seconds = time.monotonic() - t0

    def pids(self) -> dict[str, int | None]:
        """pids of the daemons according to their pid files (None if absent)."""
        return {
            "munged": _read_pid(self.munge_pid),
            "slurmctld": _read_pid(self.slurmctld_pid),
            "slurmd": _read_pid(self.slurmd_pid),
        }

    def processes(self) -> list[int]:
        """Live processes of this cluster: daemons and everything they spawned."""
        found = {p for p in self.pids().values() if p and _pid_alive(p) and self._is_ours(p)}
        found.update(self._marked_pids())
        return sorted(found)

    def run(self, *args: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster (text output)."""
        try:
            return subprocess.run(
                list(args), env=self.env(), capture_output=True, text=True, timeout=timeout, check=check
            )
        except subprocess.CalledProcessError as e:
            raise SlurmClusterError(
                f"{' '.join(args)} failed with exit {e.returncode}:\n{e.stdout}{e.stderr}"
            ) from None
        except subprocess.TimeoutExpired:
            raise SlurmClusterError(f"{' '.join(args)} did not finish within {timeout} s") from None

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -------------------------------------------------------------- helpers

    def _prepare_dirs(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        for d in (self.state_dir, self.spool_dir, self.log_dir, self.run_dir, self.munge_dir):
            d.mkdir(parents=True, exist_ok=True)
        # Fresh state each start: a test cluster should not recover old jobs.
        for d in (self.state_dir, self.spool_dir):
            for p in d.iterdir():
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        for p in (self.munge_pid, self.slurmctld_pid, self.slurmd_pid):
            p.unlink(missing_ok=True)
        # Logs of a previous run would confuse the tails in error messages.
        for p in self.log_dir.iterdir():
            if p.is_file():
                p.write_text("")

    def _start_munged(self) -> None:
        # Key: 1 KiB of random data, mode 0400, owned by us (we run munged).
        if self.munge_key.exists():
            self.munge_key.chmod(0o600)
            self.munge_key.unlink()
        subprocess.run(
            ["dd", "if=/dev/urandom", f"of={self.munge_key}", "bs=1024", "count=1"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        os.chmod(self.munge_key, 0o400)
        os.chmod(self.munge_dir, 0o755)

        sock = self.munge_dir / "munge.socket"
        if len(str(sock)) > _MAX_SOCKET_PATH:
            self._short_socket_dir = Path(tempfile.mkdtemp(prefix="munge-"))
            os.chmod(self._short_socket_dir, 0o755)
            sock = self._short_socket_dir / "munge.socket"
        self.munge_socket = sock
        for p in (sock, Path(str(sock) + ".lock")):
            p.unlink(missing_ok=True)
        self._save_info()

        cmd = [
            _which("munged") or "munged",
            # --force: munged refuses socket dirs that are not o+x all the way
            # up (pytest's tmp dirs are 0700); we are the only client anyway.
            "--force",
            f"--socket={sock}",
            f"--key-file={self.munge_key}",
            f"--pid-file={self.munge_pid}",
            f"--log-file={self.munge_log}",
            f"--seed-file={self.munge_seed}",
            "--num-threads=2",
        ]
        # munged forks and its parent exits once the socket is ready.
        out = self._run_daemon("munged", cmd)
        if out.returncode != 0 or not sock.exists():
            raise SlurmClusterError(
                f"munged failed to start (exit {out.returncode}):\n{out.stdout}{out.stderr}\n"
                f"{self.munge_log}:\n{_tail(self.munge_log)}"
            )
        # Round-trip a credential to prove munged works.
        munge = subprocess.run([_which("munge") or "munge", "-n", "-S", str(sock)], capture_output=True, timeout=10)
        unmunge = subprocess.run(
            [_which("unmunge") or "unmunge", "-S", str(sock)],
            input=munge.stdout,
            capture_output=True,
            timeout=10,
        )
        if munge.returncode != 0 or unmunge.returncode != 0:
            raise SlurmClusterError(
                "munged started but a munge/unmunge round trip failed:\n"
                f"{munge.stderr.decode(errors='replace')}{unmunge.stderr.decode(errors='replace')}\n"
                f"{self.munge_log}:\n{_tail(self.munge_log)}"
            )

    def _detect_node(self) -> dict[str, int]:
        """CPU topology and memory from `slurmd -C`, falling back to nproc/meminfo."""
        node: dict[str, int] = {}
        try:
            out = subprocess.run(
                [_which("slurmd") or "slurmd", "-C"], capture_output=True, text=True, timeout=30
            ).stdout
            for key in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory"):
                m = re.search(rf"\b{key}=(\d+)", out)
                if m:
                    node[key] = int(m.group(1))
        except (OSError, subprocess.SubprocessError):
            pass
        if "CPUs" not in node:
            node = {"CPUs": os.cpu_count() or 1}
        if "RealMemory" not in node:
            try:
                meminfo = Path("/proc/meminfo").read_text()
                node["RealMemory"] = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1)) // 1024
            except (OSError, AttributeError):
                node["RealMemory"] = 1024
        real = node["RealMemory"]
        # A bit below the real value, or slurmd reports "low RealMemory" and
        # the node is drained.
        node["RealMemory"] = max(real - max(256, real // 20), min(real, 256))
        return node

    def _write_config(self) -> None:
        self.node = self._detect_node()
        ctld_port, slurmd_port = _free_ports(2)
        self.ports = {"slurmctld": ctld_port, "slurmd": slurmd_port}
        self._save_info()
        n = self.node
        topo = " ".join(
            f"{k}={n[k]}" for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore") if k in n
        )
        # Memory given to jobs that do not ask for any; without it a job
        # without --mem would be given the whole node (CR_Core_Memory).
        def_mem = max(1, min(1024, n["RealMemory"] // n["CPUs"]))
        slurm_user = "root" if os.geteuid() == 0 else self.user
        self.plugstack_path.write_text("# empty: no SPANK plugins\n")
        conf = f"""\
# Generated by tests/slurm/cluster.py: a one-node test cluster on loopback.
ClusterName={self.cluster_name}
SlurmctldHost=localhost
SlurmUser={slurm_user}
SlurmdUser={slurm_user}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
# Bind to 127.0.0.1 (SlurmctldHost, NodeAddr) instead of all interfaces.
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
StateSaveLocation={self.state_dir}
SlurmdSpoolDir={self.spool_dir}
SlurmctldPidFile={self.slurmctld_pid}
SlurmdPidFile={self.slurmd_pid}
SlurmctldLogFile={self.slurmctld_log}
SlurmdLogFile={self.slurmd_log}
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig={self.plugstack_path}
# No cgroups (none in containers without systemd).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={def_mem}
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1,sched_min_interval=100000
MaxArraySize={self.max_array_size}
MaxJobCount={max(10000, 2 * self.max_array_size)}
# No accounting, no job completion log.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# Keep finished jobs visible to `squeue -t all` for 5 minutes.
MinJobAge=300
KillWait=2
InactiveLimit=0
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 {topo} RealMemory={n["RealMemory"]} State=UNKNOWN
PartitionName={self.partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
        self.conf_path.write_text(conf)

    def _daemon_env(self) -> dict[str, str]:
        env = self.env()
        env[MARKER_VAR] = str(self.base)
        return env

    def _run_daemon(self, name: str, cmd: list[str]) -> subprocess.CompletedProcess:
        """Run a self-daemonizing command; its parent exits quickly."""
        out_file = self.log_dir / f"{name}.stdout"
        with open(out_file, "w") as out:
            try:
                proc = subprocess.run(
                    cmd,
                    env=self._daemon_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=30,
                    cwd=self.base,
                    start_new_session=True,
                )
            except subprocess.TimeoutExpired:
                raise SlurmClusterError(f"{name} did not daemonize within 30 s: {' '.join(cmd)}") from None
        return subprocess.CompletedProcess(cmd, proc.returncode, out_file.read_text(errors="replace"), "")

    def _start_slurm(self) -> None:
        conf = str(self.conf_path)
        # -c: clear any previous state; -i would ignore errors reading it.
        ctld = self._run_daemon("slurmctld", [_which("slurmctld") or "slurmctld", "-f", conf, "-c"])
        if ctld.returncode != 0:
            raise SlurmClusterError(self._failure("slurmctld failed to start", ctld.stdout))
        slurmd = self._run_daemon("slurmd", [_which("slurmd") or "slurmd", "-f", conf, "-N", "localhost"])
        if slurmd.returncode != 0:
            raise SlurmClusterError(self._failure("slurmd failed to start", slurmd.stdout))

    def _failure(self, what: str, extra: str = "") -> str:
        parts = [f"{what} (config {self.conf_path})"]
        if extra.strip():
            parts.append(extra.strip())
        for name, log in (("slurmctld", self.slurmctld_log), ("slurmd", self.slurmd_log), ("munged", self.munge_log)):
            parts.append(f"--- tail of {name} log {log}:\n{_tail(log)}")
            stdout = self.log_dir / f"{name}.stdout"
            if stdout.exists() and stdout.stat().st_size:
                parts.append(f"--- {stdout}:\n{_tail(stdout)}")
        return "\n".join(parts)

    def _wait_idle(self, deadline: float) -> None:
        last = ""
        while True:
            for name, pidf in (("slurmctld", self.slurmctld_pid), ("slurmd", self.slurmd_pid)):
                pid = _read_pid(pidf)
                if pid is not None and not _pid_alive(pid):
                    raise SlurmClusterError(self._failure(f"{name} (pid {pid}) died during startup"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SlurmClusterError(
                    self._failure(
                        f"node did not become idle within {self.start_timeout:.0f} s "
                        f"(last `sinfo -h -o %T`: {last.strip() or 'no output'})"
                    )
                )
            try:
                out = subprocess.run(
                    [_which("sinfo") or "sinfo", "-h", "-o", "%T"],
                    env=self.env(),
                    capture_output=True,
                    text=True,
                    timeout=min(10.0, max(1.0, remaining)),
                )
                last = out.stdout + out.stderr
                states = out.stdout.split()
                if out.returncode == 0 and states and all(s == "idle" for s in states):
                    return
            except subprocess.TimeoutExpired:
                last = "sinfo timed out"
            time.sleep(0.2)

    def _cancel_all_jobs(self) -> None:
        env = self.env()
        try:
            subprocess.run(
                [_which("scancel") or "scancel", "--quiet", f"--partition={self.partition}"],
                env=env,
                capture_output=True,
                timeout=10,
            )
            # Wait (bounded) for running jobs to go away so that slurmd's
            # steps are torn down by Slurm itself.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                out = subprocess.run(
                    [_which("squeue") or "squeue", "-h", "-o", "%i", "-t", "PD,R,CG,S,CF,RQ,RS,RF,SE,SO,ST"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=10,
                )
                if out.returncode != 0 or not out.stdout.strip():
                    return
                time.sleep(0.2)
        except (OSError, subprocess.SubprocessError):
            pass

    def _terminate(self, name: str, pid_file: Path) -> None:
        pid = _read_pid(pid_file)
        if pid is None or not _pid_alive(pid) or not self._is_ours(pid):
            return
        self._signal_and_wait([pid], name)

    def _signal_and_wait(self, pids: list[int], what: str) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
            time.sleep(0.05)
        alive = [p for p in pids if _pid_alive(p)]
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_pid_alive(p) for p in alive):
            time.sleep(0.05)
        still = [p for p in alive if _pid_alive(p)]
        if still:
            raise SlurmClusterError(f"{what}: pids {still} survived SIGKILL")

    def _is_ours(self, pid: int) -> bool:
        """Guard against a recycled pid: the process must belong to this cluster."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return True  # no /proc: trust the pid file
        return (
            str(self.base) in cmdline
            or (self._short_socket_dir is not None and str(self._short_socket_dir) in cmdline)
            or pid in self._marked_pids()
        )

    def _marked_pids(self) -> set[int]:
        """Processes whose environment carries this cluster's marker."""
        needle = f"{MARKER_VAR}={self.base}\0".encode()
        me = os.getpid()
        found = set()
        try:
            entries = os.listdir("/proc")
        except OSError:
            return found
        for e in entries:
            if not e.isdigit() or int(e) == me:
                continue
            try:
                with open(f"/proc/{e}/environ", "rb") as f:
                    if needle in f.read() + b"\0" and _pid_alive(int(e)):
                        found.add(int(e))
            except OSError:
                continue
        return found

    def _kill_leftovers(self, keep: set[int] = frozenset()) -> None:
        pids = sorted(self._marked_pids() - set(keep))
        if pids:
            self._signal_and_wait(pids, "leftover cluster processes")

    def _save_info(self) -> None:
        info = {
            "munge_socket": str(self.munge_socket),
            "short_socket_dir": str(self._short_socket_dir) if self._short_socket_dir else None,
            "ports": self.ports,
        }
        self.info_path.write_text(json.dumps(info, indent=2) + "\n")

    def _load_info(self) -> None:
        try:
            info = json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            return
        self.munge_socket = Path(info.get("munge_socket") or self.munge_socket)
        if info.get("short_socket_dir"):
            self._short_socket_dir = Path(info["short_socket_dir"])
        self.ports = info.get("ports") or self.ports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start or stop a one-node Slurm test cluster under DIR.")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("dir", help="base directory for config, state, logs and sockets")
    args = parser.parse_args(argv)
    cluster = SlurmCluster(args.dir)
    try:
        if args.action == "start":
            cluster.start()
            print(f"export SLURM_CONF={cluster.conf_path}")
            if "USER" not in os.environ:
                print(f"export USER={cluster.user}")
            print(
                f"# cluster up in {cluster.start_seconds:.1f} s; stop with: {sys.argv[0]} stop {args.dir}",
                file=sys.stderr,
            )
        else:
            cluster.stop()
            print(f"# cluster stopped in {cluster.stop_seconds:.1f} s", file=sys.stderr)
    except SlurmClusterError as e:
        print(f"cluster.py {args.action}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
