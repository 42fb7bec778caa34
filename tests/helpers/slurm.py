"""A real one-node SLURM for tests: munged, slurmctld and slurmd started in the foreground as
children of the test process, everything of theirs (configuration, munge key and socket, state,
spool, logs, the completed-jobs log) in one directory of the run's own, on ports chosen free, so
that two copies of the suite on one machine each have a SLURM of their own.

No systemd and no cgroups: processes are tracked by their parent (proctrack/linuxproc), tasks
are not bound (task/none) and no accounting is gathered. Memory is not enforced by SLURM, only
scheduled (CR_Core_Memory): a worker's memory limit is its nanny's, as on any Dask cluster.

    cluster = start_slurm(tmp_dir)        # SlurmUnavailable (with its reason) if it cannot be
    subprocess.run(["sbatch", ...], env={**os.environ, **cluster.env})
    cluster.stop()

The ``slurm`` fixture (tests/conftest.py, session-scoped) starts one per test session, or skips
with the reason: ``SLURM: <reason>``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.ports import free_ports

__all__ = ["SlurmCluster", "SlurmUnavailable", "start_slurm"]

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sinfo", "sbatch", "squeue", "scancel", "scontrol", "srun")
START_S = 30  # for the node to be idle; a few seconds on an idle machine
LOG_TAIL = 12


class SlurmUnavailable(Exception):
    """SLURM cannot run here; the message says why, in one line (and a log's tail, if a daemon failed)."""


def _find(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for d in ("/usr/sbin", "/sbin", "/usr/local/sbin")
                                       if (p := Path(d) / name).is_file() and os.access(p, os.X_OK)), None)


def _die_with_parent() -> list[str]:
    """A command prefix: the daemon is sent SIGTERM when the process that started it exits (a
    test run killed hard leaves no daemons behind). ``setpriv`` (util-linux) rather than a
    ``preexec_fn``, which is unsafe in a process with threads, as a test process has."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def _node_line(slurmd: str, hostname: str) -> str:
    """This machine as slurmd sees it (``slurmd -C``): its real CPUs, layout and memory."""
    try:
        out = subprocess.run([slurmd, "-C"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SlurmUnavailable(f"slurmd -C failed: {error}") from None
    line = next((line for line in out.splitlines() if line.startswith("NodeName=")), None)
    if line is None:
        raise SlurmUnavailable(f"slurmd -C printed no NodeName line: {out.strip()[:200]!r}")
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    keep = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
    if not all(k in fields for k in ("CPUs", "RealMemory")):
        raise SlurmUnavailable(f"slurmd -C did not say the CPUs and memory: {line!r}")
    return " ".join([f"NodeName={hostname}", "NodeAddr=127.0.0.1", *(f"{k}={fields[k]}" for k in keep if k in fields),
                     "State=UNKNOWN"])


SLURM_CONF = """\
# A one-node SLURM of one test run; written by tests/helpers/slurm.py
ClusterName=memreplay
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no systemd, no cgroups: processes tracked by parentage, tasks not bound, nothing gathered
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# every finished job, one line each (no slurmdbd here, so no sacct)
JobCompType=jobcomp/filetxt
JobCompLoc={root}/log/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
# cores and memory are both scheduled: a job that asks no memory gets DefMemPerCPU, not the node
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SchedulerType=sched/backfill
ReturnToService=2
SlurmctldTimeout=60
SlurmdTimeout=300
InactiveLimit=0
MinJobAge=600
KillWait=2
Waittime=0
{node}
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    """A running one-node SLURM: ``env`` (SLURM_CONF) points slurm's commands at it."""

    root: Path
    conf: Path
    hostname: str
    env: dict[str, str]
    cpus: int  # the node's, as slurmd -C found them
    memory_mib: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """A slurm command (``sinfo``, ``squeue`` ...) of this cluster."""
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **self.env})

    def queue(self) -> list[str]:
        """The ids of the jobs pending or running."""
        out = self.run("squeue", "--noheader", "--format=%i").stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def finished_jobs(self) -> list[dict[str, str]]:
        """Every job that ended, as the completed-jobs log has it (JobId, Name, JobState, StartTime,
        EndTime, ...), in the order they ended."""
        path = self.root / "log" / "jobcomp.txt"
        if not path.exists():
            return []
        return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in path.read_text().splitlines() if line.strip()]

    def wait_until_idle(self, timeout: float = 30) -> None:
        """No job pending or running (a cluster that closed has cancelled its jobs)."""
        deadline = time.monotonic() + timeout
        while self.queue():
            if time.monotonic() > deadline:
                raise AssertionError(f"SLURM jobs still queued after {timeout} s: {self.queue()}")
            time.sleep(0.2)

    def log_tail(self, name: str, lines: int = LOG_TAIL) -> str:
        path = self.root / "log" / name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    def _ours(self) -> list[int]:
        """Every process left of this cluster's: its environment names this cluster's SLURM_CONF
        (slurmstepd, job scripts and what they started)."""
        mark = f"SLURM_CONF={self.conf}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def stop(self) -> None:
        """Cancel every job, stop the daemons, and kill whatever of this cluster's is left."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            try:
                self.run("scancel", "--user", str(os.geteuid()), timeout=10)
                deadline = time.monotonic() + 10
                while self.queue() and time.monotonic() < deadline:
                    time.sleep(0.2)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in reversed(DAEMONS):  # slurmd, slurmctld, then munged
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for pid in self._ours():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _check_prerequisites() -> dict[str, str]:
    if not sys.platform.startswith("linux"):
        raise SlurmUnavailable(f"needs Linux, this is {sys.platform}")
    missing = [name for name in (*DAEMONS, *CLIENTS) if _find(name) is None]
    if missing:
        raise SlurmUnavailable(f"{', '.join(missing)} not installed "
                               "(apt-get install --no-install-recommends slurm-wlm munge)")
    if os.geteuid() != 0:
        raise SlurmUnavailable("slurmd must run as root to start jobs; this test runs as uid "
                               f"{os.geteuid()}")
    return {name: _find(name) for name in DAEMONS}  # type: ignore[misc]


def start_slurm(tmp_dir: Path) -> SlurmCluster:
    """A one-node SLURM whose every file is under ``tmp_dir`` (made if missing), up and idle; or
    SlurmUnavailable, saying why."""
    daemons = _check_prerequisites()
    root = Path(tmp_dir).resolve()
    for attempt in range(3):
        try:
            return _start(daemons, root if attempt == 0 else root / f"retry-{attempt}")
        except _PortTaken:  # another process bound a port between choosing it and slurm's bind
            continue
    raise SlurmUnavailable("slurmctld or slurmd found its port taken three times")


class _PortTaken(SlurmUnavailable):
    pass


def _start(daemons: dict[str, str], root: Path) -> SlurmCluster:
    # munge's own checks: its socket directory searchable by all, its key private
    for name, mode in (("munge", 0o755), ("munge-key", 0o700), ("state", 0o755), ("spool", 0o755), ("log", 0o755)):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name).chmod(mode)
    key = root / "munge-key" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    hostname = socket.gethostname().split(".")[0]
    ctld_port, slurmd_port = free_ports(2)
    munge_socket = root / "munge" / "munge.socket"
    conf = root / "slurm.conf"
    node = _node_line(daemons["slurmd"], hostname)
    conf.write_text(SLURM_CONF.format(host=hostname, ctld_port=ctld_port, slurmd_port=slurmd_port, root=root,
                                      munge_socket=munge_socket, node=node))
    env = {"SLURM_CONF": str(conf)}
    sizes = dict(part.split("=", 1) for part in node.split())
    cluster = SlurmCluster(root=root, conf=conf, hostname=hostname, env=env, cpus=int(sizes["CPUs"]),
                           memory_mib=int(sizes["RealMemory"]))
    daemon_env = {**os.environ, **env}
    commands = {
        # --force: munged wants every directory above its socket searchable by all, and pytest's
        # temp directories are not (0700); every client of this munged is root, so it need not be
        "munged": [daemons["munged"], "--foreground", "--force", f"--socket={munge_socket}", f"--key-file={key}",
                   f"--log-file={root / 'log' / 'munged.log'}", f"--pid-file={root / 'munge' / 'munged.pid'}",
                   f"--seed-file={root / 'munge-key' / 'munged.seed'}"],
        "slurmctld": [daemons["slurmctld"], "-D", "-f", str(conf)],
        "slurmd": [daemons["slurmd"], "-D", "-f", str(conf)],
    }
    try:
        for name, command in commands.items():
            with open(root / "log" / f"{name}.stderr", "wb") as stderr:
                # a session of their own: a Ctrl-C of the test run reaches the test, whose stop() ends them
                cluster.processes[name] = subprocess.Popen([*_die_with_parent(), *command], env=daemon_env,
                                                           stdin=subprocess.DEVNULL, stdout=stderr,
                                                           stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
            if name == "munged":
                _wait_for(lambda: munge_socket.exists(), cluster, "munged", 10)
        _wait_for(lambda: _node_idle(cluster), cluster, "slurmd", START_S)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _node_idle(cluster: SlurmCluster) -> bool:
    try:
        done = cluster.run("sinfo", "--noheader", "--Node", "--format=%T", timeout=5)
    except subprocess.TimeoutExpired:  # something else answers on the port, or the machine is very busy
        return False
    return done.returncode == 0 and done.stdout.strip() == "idle"


def _wait_for(ready, cluster: SlurmCluster, waiting_on: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for name, process in cluster.processes.items():
            if process.poll() is not None:
                said = _tail(cluster, name)
                error = _PortTaken if "Address already in use" in said else SlurmUnavailable
                raise error(f"{name} exited with code {process.returncode}:\n{said}")
        if ready():
            return
        if time.monotonic() > deadline:
            try:
                state = cluster.run("sinfo", "--noheader", "--Node", "--format=%T %E", timeout=5)
                said = (state.stdout + state.stderr).strip()
            except subprocess.TimeoutExpired:
                said = "no answer in 5 s"
            raise SlurmUnavailable(f"{waiting_on} not ready after {timeout} s (sinfo: {said!r}):\n"
                                   f"{_tail(cluster, waiting_on)}")
        time.sleep(0.1)


def _tail(cluster: SlurmCluster, name: str) -> str:
    return "\n".join(f"{log}: {cluster.log_tail(log)}" for log in (f"{name}.stderr", f"{name}.log"))
