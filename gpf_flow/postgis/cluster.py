"""The PostgreSQL cluster gpf-flow runs itself in the store's home (``HOME/postgres``).

``initdb`` on first use, then ``pg_ctl start`` whenever a connection is needed and the server is
not running (after a reboot, a crash or a ``kill -9``: PostgreSQL replays its WAL, committed data
is kept). It listens on a Unix socket in the home only (``listen_addresses = ''``), local
connections are trusted (the socket folder is private). PostgreSQL refuses to run as root: when
we are root the server programs run as the unprivileged ``postgres`` user (``GPF_FLOW_PG_USER``),
which owns ``HOME/postgres``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from gpf_flow.errors import GpfFlowError
from gpf_flow.postgis.binaries import INSTALL_HINT, find_bindir, postgis_installed

SUPERUSER = "gpf_flow"
DATABASE = "postgres"
PORT = 5432
_SOCKET_MAX = 100  # sun_path holds 108 bytes; keep room for ".s.PGSQL.5432.lock"


class PostgresUnavailable(GpfFlowError):
    """PostgreSQL/PostGIS is missing or its server cannot be started."""


class PostgresNotInstalled(PostgresUnavailable):
    """PostgreSQL or PostGIS is not installed on this machine (the GeoPackage store is used)."""


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("GPF_FLOW_PG_USER", "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {name!r} user to run PostgreSQL as",
            hint="create it (adduser --system postgres), set GPF_FLOW_PG_USER, or use --postgres DSN",
        ) from None


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` is a running PostgreSQL server (not a recycled pid of something else)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        state = ""
    return comm in ("postgres", "postmaster") and state not in ("Z", "X")


class EmbeddedCluster:
    """The cluster of one home: ``start``/``stop``/``ensure_running`` and its connection string."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home).expanduser().resolve() / "postgres"
        self.data = self.root / "data"
        self.run_dir = self.root / "run"
        self.logfile = self.root / "server.log"
        self.user = _server_user()
        bindir = find_bindir()
        if bindir is None:
            raise PostgresNotInstalled("PostgreSQL is not installed on this machine", hint=INSTALL_HINT)
        if not postgis_installed(bindir):
            raise PostgresNotInstalled(
                f"PostgreSQL {bindir.parent.name} is installed but PostGIS is not", hint=INSTALL_HINT
            )
        self.bindir = bindir

    # -- paths -----------------------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        """Where the socket is reached: the run folder, or a short link to it when its path is long."""
        if len(str(self.run_dir / f".s.PGSQL.{PORT}.lock")) <= _SOCKET_MAX:
            return self.run_dir
        digest = hashlib.sha1(str(self.run_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"gpf-flow-pg-{digest}"

    @property
    def conninfo(self) -> str:
        """libpq connection string of the running cluster."""
        return psycopg.conninfo.make_conninfo(
            host=str(self.socket_dir), port=PORT, user=SUPERUSER, dbname=DATABASE
        )

    # -- commands --------------------------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
        if self.user is not None:
            env["HOME"] = str(self.root)
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            env=env,
            **kwargs,  # type: ignore[call-overload]
        )

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _make_reachable(self) -> None:
        """Let the server user traverse the home's parents (execute bit only, never read)."""
        if self.user is None:
            return
        for parent in self.root.parents:
            st = parent.stat()
            if st.st_uid == self.user.pw_uid or st.st_mode & stat.S_IXOTH:
                continue
            os.chmod(parent, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root.parent / ".postgres.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _initdb(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self._chown(self.root)
        for _attempt in range(5):
            # Another program may make a parent private again meanwhile (pytest does): retry.
            self._make_reachable()
            out = self._run(
                "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale"
            )
            if out.returncode == 0:
                break
            if self.data.exists():
                shutil.rmtree(self.data, ignore_errors=True)
            time.sleep(0.2)
        if out.returncode != 0:
            raise PostgresUnavailable(
                f"initdb failed in {self.data}: {(out.stderr or out.stdout).strip()[-500:]}",
                hint=f"remove {self.data} if it is a broken cluster, or use --postgres DSN",
            )
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# gpf-flow: socket and settings written at each start\n"
                "include_if_exists = 'gpf_flow.conf'\n"
            )

    def _write_settings(self) -> None:
        self.run_dir.mkdir(exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        self._chown(self.run_dir)
        link = self.socket_dir
        if link != self.run_dir:
            if link.is_symlink() and Path(os.readlink(link)) != self.run_dir:
                link.unlink()
            if not link.is_symlink():
                link.symlink_to(self.run_dir)
        conf = self.data / "gpf_flow.conf"
        sock = str(link).replace("'", "''")
        conf.write_text(
            "listen_addresses = ''\n"
            f"unix_socket_directories = '{sock}'\n"
            "unix_socket_permissions = 0700\n"
            f"port = {PORT}\n"
            "fsync = on\n"
            "max_connections = 50\n"
            "statement_timeout = 0\n",
            encoding="utf-8",
        )
        self._chown(conf)

    def server_pid(self) -> int | None:
        """The running server's pid, or ``None`` (a stale ``postmaster.pid`` counts as not running)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def _clear_stale(self) -> None:
        """Remove the lock files a killed server left (PostgreSQL would refuse a recycled pid)."""
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for lock in self.run_dir.glob(".s.PGSQL.*"):
            lock.unlink(missing_ok=True)

    def _start(self) -> None:
        self._write_settings()
        self._clear_stale()
        self.logfile.touch()
        self._chown(self.logfile)
        last = ""
        for _attempt in range(10):
            self._make_reachable()
            out = self._run(
                "pg_ctl", "start", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60"
            )
            if out.returncode == 0:
                return
            # After a kill -9 the old backends may hold shared memory for a moment.
            last = (out.stderr or out.stdout).strip()
            time.sleep(0.5)
            if self.server_pid() is None:
                self._clear_stale()
        tail = self.logfile.read_text(errors="replace").strip().splitlines()[-5:]
        raise PostgresUnavailable(
            f"the PostgreSQL server in {self.data} did not start: {last} {' / '.join(tail)}",
            hint=f"see {self.logfile}",
        )

    def ensure_running(self) -> str:
        """Create and start the cluster if needed (PostGIS enabled); returns its connection string."""
        if self.server_pid() is not None and self._accepts():
            return self.conninfo
        with self._locked():
            self._make_reachable()
            if not (self.data / "PG_VERSION").is_file():
                self._initdb()
            if self.server_pid() is None:
                self._start()
            deadline = time.monotonic() + 60
            while not self._accepts():
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(
                        f"the PostgreSQL server in {self.data} does not accept connections",
                        hint=f"see {self.logfile}",
                    )
                time.sleep(0.2)
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self.conninfo

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.conninfo, connect_timeout=5):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> bool:
        """Stop the server cleanly (``pg_ctl stop -m fast``); True if one was running."""
        if not (self.data / "PG_VERSION").is_file() or self.server_pid() is None:
            return False
        with self._locked():
            pid = self.server_pid()
            if pid is None:
                return False
            # SIGINT is PostgreSQL's fast shutdown (what ``pg_ctl stop -m fast`` sends); sent
            # directly so that it works even if the home's parents were made private meanwhile.
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 60
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        return not _pid_alive(pid)

    def busy(self) -> bool:
        """True when other clients are connected (another process of this home is using it)."""
        try:
            with psycopg.connect(self.conninfo, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ).fetchone()
        except psycopg.OperationalError:
            return False
        return bool(row and row[0])
