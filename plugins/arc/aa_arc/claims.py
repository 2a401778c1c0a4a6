"""Several ``aa run`` workers sharing one split: who predicts which task, in a database (``arc.claims``).

One row per claimed task in the table ``aa_arc_claims``, keyed by ``(study, task_id)`` (SQLAlchemy
Core; any database it speaks to — a SQLite file on a shared disk, PostgreSQL, ...). Inserting a row
under a primary key is atomic, so two workers never both train a task: a worker inserts a group's
rows in one transaction before training the group, and trains only the tasks whose rows it got.
A finished task's row is marked ``done`` (after its prediction is on disk) and is never taken again.

A ``claimed`` row whose owner is gone is taken over (deleting exactly that row, so of two takers one
wins): the owner is the process ``host:pid:start`` (start: the kernel's start time, so a reused pid
is not mistaken for it) and its worker name. On the owner's own host a dead process is seen at
once — a rerun of a killed worker (same name, same host) takes its claims back immediately, as does
any other worker on that host. From another host the owner is gone once its heartbeat (refreshed
every :data:`BEAT_S` seconds by a thread) is older than :data:`SAME_WORKER_STALE_S` for the same
worker name (that worker restarted on another machine) or :data:`STALE_S` for another worker.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Any

import sqlalchemy as sa

from aa_sweep.claims import process_alive, process_id, schema_lock  # the study runner's owner identity and schema lock

BEAT_S = 20.0
SAME_WORKER_STALE_S = 90.0
STALE_S = 600.0
REPORT = "__report__"  # the row held while a worker writes the results (one worker at a time)

_META = sa.MetaData()
CLAIMS = sa.Table(
    "aa_arc_claims", _META,
    sa.Column("study", sa.String(255), primary_key=True),
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("worker", sa.String(255), nullable=False),  # arc.worker
    sa.Column("owner", sa.String(255), nullable=False),  # host:pid:start of the process holding it
    sa.Column("state", sa.String(16), nullable=False),  # claimed | done
    sa.Column("heartbeat", sa.Float, nullable=False),
)


def default_worker() -> str:
    """A worker's default name: the host's (a rerun on the same machine continues its claims)."""
    return socket.gethostname()


class TaskClaims:
    """This process's claims on one study's tasks, as worker ``worker``."""

    def __init__(self, url: str, study: str, worker: str):
        kw: dict[str, Any] = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
        self.engine = sa.create_engine(url, **kw)
        with schema_lock(url):
            _META.create_all(self.engine, checkfirst=True)
        self.study, self.worker, self.owner = study, worker, process_id()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _row(self, task_id: str) -> dict[str, Any]:
        return {"study": self.study, "task_id": task_id, "worker": self.worker, "owner": self.owner, "state": "claimed",
                "heartbeat": time.time()}

    def claim(self, task_ids: list[str]) -> list[str]:
        """The tasks of ``task_ids`` this worker now holds: all of them in one transaction when none is taken,
        else each one that is free or whose owner is gone."""
        if not task_ids:
            return []
        try:
            with self.engine.begin() as c:
                c.execute(CLAIMS.insert(), [self._row(t) for t in task_ids])
            return list(task_ids)
        except sa.exc.IntegrityError:
            pass
        return [t for t in task_ids if self.try_claim(t)]

    def try_claim(self, task_id: str) -> bool:
        for _ in range(2):
            try:
                with self.engine.begin() as c:
                    c.execute(CLAIMS.insert().values(**self._row(task_id)))
                return True
            except sa.exc.IntegrityError:
                pass
            with self.engine.begin() as c:
                row = c.execute(sa.select(CLAIMS).where(CLAIMS.c.study == self.study, CLAIMS.c.task_id == task_id)).first()
                if row is None:
                    continue  # released in between: insert again
                if row.state == "done" or not self._gone(row):
                    return False
                # a dead owner's claim: delete exactly that row (of two takers, one deletes it and wins)
                gone = c.execute(CLAIMS.delete().where(CLAIMS.c.study == self.study, CLAIMS.c.task_id == task_id,
                                                       CLAIMS.c.owner == row.owner, CLAIMS.c.heartbeat == row.heartbeat))
                if gone.rowcount != 1:
                    return False
                c.execute(CLAIMS.insert().values(**self._row(task_id)))
                return True
        return False

    def _gone(self, row: Any) -> bool:
        alive = process_alive(row.owner)
        if alive is not None:
            return not alive
        limit = SAME_WORKER_STALE_S if row.worker == self.worker else STALE_S
        return time.time() - row.heartbeat > limit

    def done(self, task_ids: list[str]) -> None:
        """Mark these tasks finished (their predictions are on disk)."""
        if task_ids:
            with self.engine.begin() as c:
                c.execute(CLAIMS.update().where(CLAIMS.c.study == self.study, CLAIMS.c.task_id.in_(task_ids),
                                                CLAIMS.c.owner == self.owner).values(state="done", heartbeat=time.time()))

    def release(self, task_ids: list[str] | None = None) -> None:
        """Give back this process's unfinished claims (all of them, or these)."""
        q = CLAIMS.delete().where(CLAIMS.c.study == self.study, CLAIMS.c.owner == self.owner, CLAIMS.c.state == "claimed")
        if task_ids is not None:
            q = q.where(CLAIMS.c.task_id.in_(task_ids))
        with self.engine.begin() as c:
            c.execute(q)

    def held_elsewhere(self, task_ids: set[str]) -> dict[str, str]:
        """task id → worker, for the tasks of ``task_ids`` other live processes hold unfinished."""
        with self.engine.begin() as c:
            rows = c.execute(sa.select(CLAIMS).where(CLAIMS.c.study == self.study, CLAIMS.c.state == "claimed")).all()
        return {r.task_id: r.worker for r in rows if r.task_id in task_ids and r.owner != self.owner and not self._gone(r)}

    def states(self) -> dict[str, tuple[str, str]]:
        """task id → (worker, state) for every row of the study."""
        with self.engine.begin() as c:
            rows = c.execute(sa.select(CLAIMS).where(CLAIMS.c.study == self.study)).all()
        return {r.task_id: (r.worker, r.state) for r in rows if r.task_id != REPORT}

    def start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(BEAT_S):
                try:
                    with self.engine.begin() as c:
                        c.execute(CLAIMS.update().where(CLAIMS.c.study == self.study, CLAIMS.c.owner == self.owner,
                                                        CLAIMS.c.state == "claimed").values(heartbeat=time.time()))
                except sa.exc.SQLAlchemyError:
                    pass  # the next beat tries again

        self._beat = threading.Thread(target=beat, daemon=True, name="aa-arc-heartbeat")
        self._beat.start()

    def close(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(5)
        self.engine.dispose()
