"""A real running cluster for tests: ``dask scheduler`` and ``dask worker`` processes on loopback,
each in a process group of its own (killed whole at the end), optionally over TLS with
certificates made for the test."""

from __future__ import annotations

import csv
import datetime
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from distributed import Client
from distributed.security import Security

from memreplay.execute.scheduler_process import dask_command

__all__ = ["RunningCluster", "TlsCertificates", "make_tls_certificates", "running_cluster", "tasks_csv_rows",
           "worker_environment"]

# The code a test's workloads come from (tests.helpers.sweep_workloads): installed on a real cluster,
# here on the processes' path. Code only: the data they read is never the driver's.
CODE = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}


@dataclass(frozen=True)
class TlsCertificates:
    ca: Path
    cert: Path
    key: Path

    def security(self) -> Security:
        return Security(tls_ca_file=str(self.ca), tls_client_cert=str(self.cert), tls_client_key=str(self.key),
                        require_encryption=True)

    def options(self, prefix: str = "--tls-") -> list[str]:
        return [f"{prefix}ca-file", str(self.ca), f"{prefix}cert", str(self.cert), f"{prefix}key", str(self.key)]


def make_tls_certificates(directory: Path) -> TlsCertificates:
    """A CA and one certificate for 127.0.0.1, signed by it (scheduler, workers and client share it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "memreplay test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    import ipaddress

    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    paths = TlsCertificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths.ca.write_bytes(ca.public_bytes(pem))
    paths.cert.write_bytes(cert.public_bytes(pem))
    paths.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


@dataclass
class RunningCluster:
    address: str
    directory: Path
    tls: TlsCertificates | None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str, memory_limit: str = "1GiB", nthreads: int = 1, cwd: Path | None = None,
                     env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A ``dask worker`` (with its nanny) in ``cwd``, its output in ``<directory>/<name>.log``."""
        command = [*dask_command("worker"), self.address, "--name", name, "--nthreads", str(nthreads),
                   "--memory-limit", memory_limit, "--no-dashboard", "--host", "127.0.0.1"]
        if self.tls:
            command += self.tls.options()
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 (the process writes to it)
        process = subprocess.Popen(command, cwd=cwd or self.directory, env={**os.environ, **CODE, **(env or {})},
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    def client(self) -> Client:
        return Client(self.address, security=self.tls.security() if self.tls else None, timeout=30)

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=timeout)

    def wait_until_idle(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` workers are connected and none is executing a task: what an earlier
        case left running (a task a failed case could not stop) is finished or killed."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                if len(client.scheduler_info(n_workers=-1)["workers"]) >= count:
                    try:  # a worker killed while asked answers with an error: not idle yet
                        executing = client.run(lambda dask_worker: len(dask_worker.state.executing),
                                               on_error="return")
                    except OSError:  # CommClosedError: the scheduler lost the worker mid-broadcast
                        executing = {}
                    if len(executing) >= count and all(value == 0 for value in executing.values()):
                        return
                assert time.monotonic() < deadline, f"the cluster did not settle to {count} idle workers"
                time.sleep(0.2)

    def worker_pids(self) -> dict[str, int]:
        """Each worker process's pid (not its nanny's), by worker name."""
        with self.client() as client:
            info = client.scheduler_info(n_workers=-1)["workers"]
            pids = client.run(os.getpid)
        return {str(info[address]["name"]): pid for address, pid in pids.items()}

    def executing(self, name: str) -> int:
        """How many tasks the worker called ``name`` is executing right now."""
        with self.client() as client:
            info = client.scheduler_info(n_workers=-1)["workers"]
            address = next(a for a, w in info.items() if str(w["name"]) == name)
            return client.run(lambda dask_worker: len(dask_worker.state.executing), workers=[address])[address]

    def stop(self) -> None:
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)


@contextmanager
def running_cluster(directory: Path, workers: dict[str, dict] | None = None,
                    tls: bool = False) -> Iterator[RunningCluster]:
    """A ``dask scheduler`` on loopback and the ``workers`` given (name → start_worker options),
    all up before this yields."""
    directory.mkdir(parents=True, exist_ok=True)
    certificates = make_tls_certificates(directory) if tls else None
    scheduler_file = directory / "scheduler.json"
    command = [*dask_command("scheduler"), "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(scheduler_file)]
    if certificates:
        command += [*certificates.options(), "--protocol", "tls"]
    log = open(directory / "scheduler.log", "wb")  # noqa: SIM115
    scheduler = subprocess.Popen(command, cwd=directory, env={**os.environ, **CODE}, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    cluster = RunningCluster("", directory, certificates, {"scheduler": scheduler})
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert scheduler.poll() is None, (directory / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start in 60 s"
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written whole before the scheduler listens
        cluster.address = json.loads(scheduler_file.read_text())["address"]
        for name, options in (workers or {}).items():
            cluster.start_worker(name, **options)
        if workers:
            cluster.wait_for_workers(len(workers))
        yield cluster
    finally:
        cluster.stop()


def tasks_csv_rows(case_dir: Path) -> list[dict[str, str]]:
    """A case's tasks.csv as written, one dict of strings a row."""
    with open(case_dir / "tasks.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def worker_environment(home: Path, cache: Path | None) -> dict[str, str]:
    """A worker that knows nothing of the driver's files: its own temp directory, and its own
    corpus cache (or none set: then it uses its temp directory)."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    environment = {"TMPDIR": str(home / "tmp"), "MEMREPLAY_CORPORA": str(cache) if cache else ""}
    return environment
