"""Who runs which trial: one row per claimed point in a table beside Optuna's, in the same database.

Inserting a row under a primary key is atomic on every database SQLAlchemy speaks to, so two
workers (threads, processes or machines) never run the same point. A claim whose owner is gone
(a dead process on this host, or no heartbeat for ``stale_s`` seconds) can be taken over, unless
the trial process it started is still alive (an orphan of a killed sweep still writing its
folder). Processes are named ``host:pid:start`` (start: the kernel's start time of the process),
so a reused pid is not mistaken for the original.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

_META = sa.MetaData()
CLAIMS = sa.Table(
    "aa_sweep_claims", _META,
    sa.Column("study", sa.String(255), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),  # sha256 of the point's canonical text
    sa.Column("owner", sa.String(255), nullable=False),  # host:pid:worker
    sa.Column("heartbeat", sa.Float, nullable=False),
    sa.Column("trial", sa.String(255), nullable=True),  # host:pid:start of the trial process it runs
)


@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Serialise schema creation between processes starting at the same moment (SQLite: a file lock
    beside the database; other databases create tables transactionally and need none)."""
    path = sa.engine.make_url(url).database if url.startswith("sqlite") else None
    if not path or path == ":memory:":
        yield
        return
    lock = Path(path).with_name(Path(path).name + ".schema-lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def engine_for(url: str) -> sa.Engine:
    kw: dict = {}
    if url.startswith("sqlite"):
        kw["connect_args"] = {"timeout": 120}
    eng = sa.create_engine(url, **kw)
    with schema_lock(url):
        _META.create_all(eng, checkfirst=True)
        if "trial" not in {c["name"] for c in sa.inspect(eng).get_columns(CLAIMS.name)}:  # a study made before 0.1.1
            with eng.begin() as c:
                c.execute(sa.text(f"ALTER TABLE {CLAIMS.name} ADD COLUMN trial VARCHAR(255)"))
    return eng


def process_start(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (clock ticks since boot, Linux); None when it is gone
    (or a zombie) or the system has no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name: field 3 (state) is fields[0]
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has ended; field 22: start time


def process_id(pid: int | None = None) -> str:
    """``host:pid:start`` of a process (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start(pid) or ''}"


def process_alive(ident: str) -> bool | None:
    """Whether the process ``host:pid[:start]`` lives (same pid and start time); None on another host."""
    host, _, rest = ident.partition(":")
    pid_s, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_s.isdigit():
        return None
    pid = int(pid_s)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = process_start(pid)
    if now is None and Path("/proc/self/stat").exists():
        return False  # ended (a zombie waiting to be reaped)
    return not (start and now and now != start)


def owner_id(worker: int) -> str:
    """``host:pid:worker:start`` of one worker thread of this process."""
    host, pid, start = process_id().split(":")
    return f"{host}:{pid}:{worker}:{start}"


def _alive(owner: str, heartbeat: float, stale_s: float, trial: str | None = None) -> bool:
    """Whether a claim still stands: its owner lives (on this host: the process; elsewhere: a recent
    heartbeat), or the trial process it started does."""
    if trial and process_alive(trial):
        return True
    host, _, rest = owner.partition(":")
    parts = rest.split(":")  # pid, worker[, start]
    local = process_alive(f"{host}:{parts[0]}:{parts[2] if len(parts) > 2 else ''}")
    if local is not None:
        return local
    return time.time() - heartbeat < stale_s


class Claims:
    def __init__(self, engine: sa.Engine, study: str, stale_s: float = 300.0):
        self.engine, self.study, self.stale_s = engine, study, stale_s

    def try_claim(self, key: str, owner: str) -> bool:
        """Take ``key`` for ``owner``: True if it was free or its previous owner is gone."""
        now = time.time()
        for _ in range(2):
            try:
                with self.engine.begin() as c:
                    c.execute(CLAIMS.insert().values(study=self.study, key=key, owner=owner, heartbeat=now))
                return True
            except sa.exc.IntegrityError:
                pass
            with self.engine.begin() as c:
                row = c.execute(sa.select(CLAIMS.c.owner, CLAIMS.c.heartbeat, CLAIMS.c.trial)
                                .where(CLAIMS.c.study == self.study, CLAIMS.c.key == key)).first()
                if row is None:
                    continue  # released in between: try the insert again
                if _alive(row.owner, row.heartbeat, self.stale_s, row.trial):
                    return False
                # a dead owner's claim: delete exactly that row (a concurrent taker deletes nothing and loses the insert)
                c.execute(CLAIMS.delete().where(CLAIMS.c.study == self.study, CLAIMS.c.key == key, CLAIMS.c.owner == row.owner,
                                                CLAIMS.c.heartbeat == row.heartbeat))
        return False

    def set_trial(self, key: str, owner: str, trial: str) -> None:
        """Record the trial process (``host:pid:start``) that ``owner`` started for ``key``."""
        with self.engine.begin() as c:
            c.execute(CLAIMS.update().where(CLAIMS.c.study == self.study, CLAIMS.c.key == key, CLAIMS.c.owner == owner)
                      .values(trial=trial))

    def beat(self, owner: str) -> None:
        with self.engine.begin() as c:
            c.execute(CLAIMS.update().where(CLAIMS.c.study == self.study, CLAIMS.c.owner == owner).values(heartbeat=time.time()))

    def release(self, key: str, owner: str) -> None:
        with self.engine.begin() as c:
            c.execute(CLAIMS.delete().where(CLAIMS.c.study == self.study, CLAIMS.c.key == key, CLAIMS.c.owner == owner))

    def held_elsewhere(self, keys: set[str], owner_prefix: str) -> int:
        """How many of ``keys`` are claimed by live owners other than this process."""
        with self.engine.begin() as c:
            rows = c.execute(sa.select(CLAIMS.c.key, CLAIMS.c.owner, CLAIMS.c.heartbeat, CLAIMS.c.trial)
                             .where(CLAIMS.c.study == self.study)).all()
        return sum(1 for r in rows if r.key in keys and not r.owner.startswith(owner_prefix)
                   and _alive(r.owner, r.heartbeat, self.stale_s, r.trial))
