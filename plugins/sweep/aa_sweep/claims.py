"""Who runs which trial: one row per claimed point in a table beside Optuna's, in the same database.

Inserting a row under a primary key is atomic on every database SQLAlchemy speaks to, so two
workers (threads, processes or machines) never run the same point. A claim whose owner is gone
(a dead process on this host, or no heartbeat for ``stale_s`` seconds) can be taken over.
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
    return eng


def owner_id(worker: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{worker}"


def _alive(owner: str, heartbeat: float, stale_s: float) -> bool:
    host, _, rest = owner.partition(":")
    pid = int(rest.split(":")[0]) if rest.split(":")[0].isdigit() else -1
    if host == socket.gethostname() and pid > 0:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
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
                row = c.execute(sa.select(CLAIMS.c.owner, CLAIMS.c.heartbeat).where(CLAIMS.c.study == self.study, CLAIMS.c.key == key)).first()
                if row is None:
                    continue  # released in between: try the insert again
                if _alive(row.owner, row.heartbeat, self.stale_s):
                    return False
                # a dead owner's claim: delete exactly that row (a concurrent taker deletes nothing and loses the insert)
                c.execute(CLAIMS.delete().where(CLAIMS.c.study == self.study, CLAIMS.c.key == key, CLAIMS.c.owner == row.owner,
                                                CLAIMS.c.heartbeat == row.heartbeat))
        return False

    def beat(self, owner: str) -> None:
        with self.engine.begin() as c:
            c.execute(CLAIMS.update().where(CLAIMS.c.study == self.study, CLAIMS.c.owner == owner).values(heartbeat=time.time()))

    def release(self, key: str, owner: str) -> None:
        with self.engine.begin() as c:
            c.execute(CLAIMS.delete().where(CLAIMS.c.study == self.study, CLAIMS.c.key == key, CLAIMS.c.owner == owner))

    def held_elsewhere(self, keys: set[str], owner_prefix: str) -> int:
        """How many of ``keys`` are claimed by live owners other than this process."""
        with self.engine.begin() as c:
            rows = c.execute(sa.select(CLAIMS.c.key, CLAIMS.c.owner, CLAIMS.c.heartbeat).where(CLAIMS.c.study == self.study)).all()
        return sum(1 for r in rows if r.key in keys and not r.owner.startswith(owner_prefix) and _alive(r.owner, r.heartbeat, self.stale_s))
