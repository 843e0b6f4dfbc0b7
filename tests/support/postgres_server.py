"""A real, throwaway PostgreSQL server (Debian's package) on a loopback port, in a folder of its own.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user the package made.
The database `portaria` and a user with a password are created, as an installation would have them; the URL
carries that password, as PORTARIA_DATABASE_URL would.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.net import free_port

PASSWORD = "portaria-test-pw"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: these tests need it (apt-get install postgresql)")
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="portaria-pg-"))
        self.data = self.root / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql://portaria:{PASSWORD}@127.0.0.1:{self.port}/portaria"

    def _run(self, *command: str, stdin: str | None = None) -> None:
        result = subprocess.run(
            [*self._as, *command], input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")

    def start(self) -> None:
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "30",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on",
            "start",
        )
        self.started = True
        if not (self.root / ".created").exists():
            sql = f"CREATE USER portaria PASSWORD '{PASSWORD}' CREATEDB;\nCREATE DATABASE portaria OWNER portaria;\n"
            self._run(
                str(self.bin / "psql"),
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-f",
                "-",
                stdin=sql,
            )
            (self.root / ".created").touch()

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.started = False

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
