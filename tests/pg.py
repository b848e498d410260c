"""A real PostgreSQL server for tests.

``start_postgres()`` returns ``(url, stop)``. When ``AIED_TEST_POSTGRES_URL`` is set (the CI
script starts a server and sets it) that URL is used and ``stop`` does nothing. Otherwise a
throwaway cluster is created with ``initdb`` in a temporary directory and started with
``pg_ctl`` on a free port of 127.0.0.1 with trust authentication; ``stop`` shuts it down and
removes the directory. As root the cluster runs as the ``postgres`` user (initdb refuses root).

Nothing here skips: if the server cannot start, :class:`PostgresUnavailableError` says why.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ENV_URL = "AIED_TEST_POSTGRES_URL"
SERVICE_USER = "postgres"


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server could be found or started for the tests."""


def _bin_dir() -> Path:
    """Find the directory holding initdb/pg_ctl (PATH first, then Debian's layout)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    )
    for cand in reversed(candidates):
        if (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    msg = (
        "PostgreSQL binaries (initdb, pg_ctl) not found on PATH nor in "
        "/usr/lib/postgresql/*/bin; install them (apt-get install -y postgresql) or set "
        f"{ENV_URL} to a running server"
    )
    raise PostgresUnavailableError(msg)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(cmd: list[str], *, as_user: str | None) -> subprocess.CompletedProcess[str]:
    if as_user is not None:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _checked(cmd: list[str], *, as_user: str | None, what: str, log: Path | None = None) -> None:
    proc = _run(cmd, as_user=as_user)
    if proc.returncode != 0:
        tail = ""
        if log is not None and log.exists():
            tail = "\n--- server log ---\n" + log.read_text(errors="replace")[-4000:]
        msg = (
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"{proc.stdout}\n{proc.stderr}{tail}"
        )
        raise PostgresUnavailableError(msg)


def start_postgres() -> tuple[str, Callable[[], None]]:
    """Return a URL of a running PostgreSQL server and a function that stops it.

    Returns:
        ``(url, stop)``: a ``postgresql+psycopg://`` URL of a superuser connection to the
        ``postgres`` database, and a callable that stops the server (a no-op when the URL came
        from ``AIED_TEST_POSTGRES_URL``).

    Raises:
        PostgresUnavailableError: binaries missing, initdb or pg_ctl failed.
    """
    env_url = os.environ.get(ENV_URL)
    if env_url:
        return env_url, lambda: None

    bin_dir = _bin_dir()
    as_user: str | None = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam(SERVICE_USER)
        except KeyError as exc:
            msg = f"running as root and there is no {SERVICE_USER!r} user to run initdb as"
            raise PostgresUnavailableError(msg) from exc
        as_user = SERVICE_USER
    root = Path(tempfile.mkdtemp(prefix="aied-pg-"))
    data, sock, log = root / "data", root / "sock", root / "server.log"
    sock.mkdir()
    if as_user is not None:
        for path in (root, sock):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    try:
        _checked(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            as_user=as_user, what="initdb",
        )
        options = (
            f"-p {port} -k {sock} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=50"
        )
        _checked(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
             "-w", "-t", "60", "start"],
            as_user=as_user, what="pg_ctl start", log=log,
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise

    def stop() -> None:
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
             as_user=as_user)
        shutil.rmtree(root, ignore_errors=True)

    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop


@contextlib.contextmanager
def fresh_database(
    server_url: str, *, prefix: str = "aied_test", template: str | None = None
) -> Iterator[str]:
    """Create a database on the server, yield its URL, drop it afterwards.

    Args:
        server_url: URL of a superuser (or CREATEDB) connection to the server.
        prefix: Prefix of the database name (a random suffix is appended).
        template: Database to copy (it must have no open connections); empty when None.

    Yields:
        The URL of the new database (same credentials, psycopg driver).
    """
    url = make_url(server_url)
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
