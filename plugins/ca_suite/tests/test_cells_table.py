"""The cells table: one command trains a cell over seeds and writes (or replaces) its CSV row."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from aa_ca import cells_table

SPEC = str(Path(__file__).resolve().parents[3] / "examples" / "ca" / "mnist1d.toml")
TINY = ["--set", "cell.channels=32", "--set", "cell.hidden=48", "--set", "train.steps=10", "--set", "train.eval_every=5"]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_row_written_then_replaced(tmp_path, capsys):
    out = tmp_path / "results.csv"
    args = ["--cell", "mlp", "--spec", SPEC, *TINY, "--seeds", "0,1", "--csv", str(out)]
    cells_table.main(args)
    rows = _rows(out)
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == cells_table.COLUMNS
    assert (row["task"], row["cell"], row["plugin"]) == ("mnist1d", "mlp", "aa-core")
    assert row["params"] == "12762" and row["seeds"] == "0,1"
    assert row["settings"] == "cell.channels=32 cell.hidden=48 train.steps=10 train.eval_every=5"
    per_seed = [float(v) for v in row["test_accuracy_per_seed"].split(";")]
    assert len(per_seed) == 2 and all(0.0 <= v <= 1.0 for v in per_seed)
    mean, lo, hi = (float(row[k]) for k in ("test_accuracy_mean", "test_ci_lo", "test_ci_hi"))
    assert mean == pytest.approx(sum(per_seed) / 2, abs=1e-4) and lo <= mean <= hi
    assert 0.0 <= float(row["val_accuracy_mean"]) <= 1.0 and float(row["cpu_s_per_seed"]) > 0
    assert "--set train.steps=10" in row["command"] and "--cell mlp" in row["command"]

    # another cell's row is kept; the same command again replaces its row instead of adding one
    cells_table.main(["--cell", "gmlp", "--spec", SPEC, "--set", "cell.hidden=248", "--not-run", "a reason", "--csv", str(out)])
    cells_table.main(args)
    rows = _rows(out)
    assert [r["cell"] for r in rows] == ["mlp", "gmlp"]
    assert rows[0]["test_accuracy_per_seed"] == row["test_accuracy_per_seed"]  # seeded: the same result
    assert rows[1]["note"] == "not run: a reason" and rows[1]["plugin"] == "aa-gmlp" and rows[1]["test_accuracy_mean"] == ""

    capsys.readouterr()
    cells_table.main(["--markdown", "--csv", str(out)])
    md = capsys.readouterr().out
    assert row["metric"] == "test_accuracy" and row["budget"] == "12800"
    assert "| mnist1d | [1] mlp | aa-core" in md and "reference" in md and "not run: a reason" in md
    assert row["command"] in md


def test_bad_input_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cells_table.main(["--cell", "no_such_cell", "--spec", SPEC, "--seeds", "0", "--csv", str(tmp_path / "r.csv")])
    assert exc.value.code == 2
    assert "no_such_cell" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()


def test_digits_row_scores_cell_accuracy_against_the_specs_own_budget(tmp_path):
    digits = str(Path(SPEC).with_name("self_classify.toml"))
    out = tmp_path / "results.csv"
    cells_table.main(["--cell", "depthwise", "--spec", digits, "--set", "cell.channels=20", "--set", "cell.hidden=48",
                      "--set", "train.steps=4", "--set", "train.eval_every=2", "--set", "dataset.eval_steps=6",
                      "--seeds", "0", "--csv", str(out)])
    row = _rows(out)[0]
    assert (row["task"], row["metric"], row["budget"]) == ("digits", "test_cell_accuracy", "22500")
    assert row["budget_delta_pct"] == f"{100 * (int(row['params']) / 22500 - 1):+.1f}"
    assert 0.0 <= float(row["test_accuracy_mean"]) <= 1.0
    assert "--spec" in row["command"] and "self_classify.toml" in row["command"]
    with pytest.raises(SystemExit) as exc:
        cells_table.main(["--cell", "mlp", "--spec", digits, "--set", "train.steps=2", "--set", "train.eval_every=2",
                          "--set", "dataset.eval_steps=2", "--metric", "test_nonsense", "--seeds", "0", "--csv", str(out)])
    assert exc.value.code == 2


def test_a_row_with_its_own_propagator_is_paired_against_the_plain_mlp_row():
    def row(cell, settings, per_seed):
        return {**dict.fromkeys(cells_table.COLUMNS, ""), "task": "mnist1d", "cell": cell, "settings": settings,
                "seeds": "0,1,2", "test_accuracy_per_seed": ";".join(map(str, per_seed)),
                "test_accuracy_mean": str(sum(per_seed) / 3), "command": f"cmd {cell} {settings}"}

    plain = row("mlp", "cell.hidden=48", [0.90, 0.92, 0.94])
    hybrid = row("mlp", 'cell.hidden=16 propagator={name="schedule"}', [0.80, 0.83, 0.85])
    assert cells_table.is_reference(plain) and not cells_table.is_reference(hybrid)
    p = cells_table.paired_vs_mlp(hybrid, [hybrid, plain])
    assert p is not None and p["n"] == 3 and p["mean"] == pytest.approx(-0.0933, abs=1e-3)
    md = cells_table.markdown([hybrid, plain])
    assert "| mnist1d | [1] mlp | " in md and "reference" in md.splitlines()[2]
    assert "[2] mlp + schedule propagator" in md and "-9.3 [" in md.splitlines()[3]


def test_seeds_in_parallel_processes_equal_a_sequential_run(tmp_path, capfd):
    """--jobs 2 trains the seeds in two spawned processes; the row equals the one-after-another row,
    and each worker reports every evaluation round as a line (no bars to interleave)."""
    rows = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.csv"
        cells_table.main(["--cell", "mlp", "--spec", SPEC, *TINY, "--seeds", "0,1", "--jobs", jobs, "--csv", str(out)])
        rows[jobs] = _rows(out)[0]
        printed = capfd.readouterr().out
        for seed in (0, 1):
            assert f"seed {seed} round 2/2: loss" in printed, (jobs, printed)
    for key in ("seeds", "test_accuracy_per_seed", "val_accuracy_mean", "test_ci_lo", "test_ci_hi", "command"):
        assert rows["2"][key] == rows["1"][key], key
    with pytest.raises(SystemExit) as exc:
        cells_table.main(["--cell", "mlp", "--spec", SPEC, "--jobs", "0", "--csv", str(tmp_path / "bad.csv")])
    assert exc.value.code == 2


def _stat(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` fields after the command name (state, ppid, ...), or None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _seed_workers(pid: int) -> list[int]:
    """The running spawned multiprocessing workers whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if fields and fields[0] != "Z" and int(fields[1]) == pid and b"spawn_main" in cmdline:
            out.append(int(entry.name))
    return out


def _running(pids: list[int]) -> list[int]:
    return [p for p in pids if (f := _stat(p)) is not None and f[0] != "Z"]


def _two_training_workers(table: subprocess.Popen) -> list[int]:
    """The table's two seed workers, once both are past their initializer and training."""
    import time

    workers: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = _seed_workers(table.pid)
    assert len(workers) == 2, "the two seed workers did not start"
    time.sleep(3)  # past the initializer: training
    return workers


def _still_running_after(workers: list[int], seconds: float = 20) -> list[int]:
    import time

    deadline = time.time() + seconds
    while time.time() < deadline and _running(workers):
        time.sleep(0.2)
    return _running(workers)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_killing_the_table_kills_its_seed_processes(tmp_path):
    """SIGKILL the table's process while two seeds train in workers: the workers die with it."""
    import os
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "aa_ca.cells_table", "--cell", "mlp", "--spec", SPEC, "--set", "train.steps=100000",
           "--seeds", "0,1", "--jobs", "2", "--csv", str(tmp_path / "r.csv")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        workers = _two_training_workers(proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        alive = _still_running_after(workers)
        assert not alive, f"seed workers {alive} outlived the table"
        assert not (tmp_path / "r.csv").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        for w in workers:  # a failed run must not leave them training
            try:
                os.kill(w, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_workers_on_a_terminal_print_lines_not_bars(tmp_path):
    """On a terminal, --jobs workers print a line per round: no progress bars (carriage returns)
    from several processes overwriting one another."""
    import fcntl
    import os
    import struct
    import subprocess
    import sys
    import termios

    main_fd, term_fd = os.openpty()
    fcntl.ioctl(term_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's size: room for bars
    cmd = [sys.executable, "-m", "aa_ca.cells_table", "--cell", "mlp", "--spec", SPEC, *TINY,
           "--seeds", "0,1", "--jobs", "2", "--csv", str(tmp_path / "r.csv")]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=term_fd, stderr=term_fd)
    os.close(term_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 4096)
        except OSError:  # the terminal closed: every process writing to it is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    assert proc.wait(timeout=120) == 0
    printed = b"".join(chunks).decode()
    assert "seed 0 round 2/2: loss" in printed and "seed 1 round 2/2: loss" in printed, printed
    assert "\r" not in printed.replace("\r\n", "\n"), printed


RESUMABLE = ["--cell", "mlp", "--spec", SPEC, "--set", "cell.channels=32", "--set", "cell.hidden=48",
             "--set", "train.steps=60", "--set", "train.eval_every=10", "--seeds", "0"]


def _table(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aa_ca.cells_table", *args], capture_output=True, text=True, timeout=300)


def test_a_killed_row_resumes_with_the_uninterrupted_result(tmp_path):
    """SIGKILL a row with --state-dir after its first round; the rerun resumes there (no round 1 again)
    and writes the row an uninterrupted run writes; a third run reuses the finished seed."""
    import os
    import signal
    import time

    plain = _table([*RESUMABLE, "--csv", str(tmp_path / "plain.csv")])
    assert plain.returncode == 0, plain.stderr
    state, csv_path = tmp_path / "state", tmp_path / "resumed.csv"
    args = [*RESUMABLE, "--csv", str(csv_path), "--state-dir", str(state)]
    proc = subprocess.Popen([sys.executable, "-m", "aa_ca.cells_table", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(state.glob("*/seed-0/last")):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-way"
    assert not csv_path.exists() and not list(state.glob("*/seed-0/result.json"))
    resumed = _table(args)
    assert resumed.returncode == 0, resumed.stderr
    assert "seed 0: resuming from" in resumed.stdout and "seed 0 round 1/6:" not in resumed.stdout, resumed.stdout
    assert "seed 0 round 6/6:" in resumed.stdout
    want = _rows(tmp_path / "plain.csv")[0]
    for key in ("test_accuracy_per_seed", "val_accuracy_mean", "test_accuracy_mean"):
        assert _rows(csv_path)[0][key] == want[key], key
    assert [p.name for p in next(state.glob("*/seed-0")).iterdir() if p.is_dir()] == []  # checkpoints gone once done
    again = _table(args)
    assert again.returncode == 0 and "round" not in again.stdout, again.stdout
    assert _rows(csv_path)[0]["test_accuracy_per_seed"] == want["test_accuracy_per_seed"]


def test_two_runs_of_one_row_at_once_the_second_refuses(tmp_path):
    """A second run of a row whose seed is training in another process exits 2, naming the folder's user."""
    import time

    state = tmp_path / "state"
    args = [*RESUMABLE, "--set", "train.steps=100000", "--csv", str(tmp_path / "r.csv"), "--state-dir", str(state)]
    proc = subprocess.Popen([sys.executable, "-m", "aa_ca.cells_table", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(state.glob("*/seed-0/.lock")):
            time.sleep(0.05)
        time.sleep(1.0)
        second = _table(args)
        assert second.returncode == 2, second.stderr
        assert "is in use by" in second.stderr and "Traceback" not in second.stderr, second.stderr
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "kill-the-table-alone"])
def test_an_interrupt_saves_every_training_seed_and_says_how_to_resume(tmp_path, to_group):
    """SIGINT while two of three seeds train in workers — to the table's process group (Ctrl-C) or to the
    table alone (``kill -INT``; the table passes it on): each training seed saves its state at the step it
    is on, the queued seed never starts, the table exits 130 with the resume advice, no traceback."""
    import os
    import signal
    import time

    state = tmp_path / "state"
    args = [*RESUMABLE, "--seeds", "0,1,2", "--jobs", "2", "--set", "train.steps=100000", "--csv", str(tmp_path / "r.csv"),
            "--state-dir", str(state)]
    proc = subprocess.Popen([sys.executable, "-m", "aa_ca.cells_table", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(state.glob("*/seed-*/last"))) < 2:
            time.sleep(0.05)
        assert len(list(state.glob("*/seed-*/last"))) == 2, "the seeds did not reach their first round"
        (os.killpg if to_group else os.kill)(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert f"interrupted; the seeds' state is in {state}: rerun the same command to resume" in err and "Traceback" not in err, err
    for seed in (0, 1):
        last = (next(state.glob(f"*/seed-{seed}")) / "last").read_text().strip()
        assert last.startswith("step-"), last  # saved at the step the signal arrived, not only at the last round
    assert not list(state.glob("*/seed-2/last")) and "seed 2 round" not in out, out
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_without_a_state_folder_stops_the_seeds_at_once(tmp_path):
    """Ctrl-C (SIGINT to the process group) with nothing to save: the table exits 130 within seconds and
    its seed workers are gone."""
    import os
    import signal

    args = [*RESUMABLE, "--seeds", "0,1,2", "--jobs", "2", "--set", "train.steps=100000", "--csv", str(tmp_path / "r.csv")]
    proc = subprocess.Popen([sys.executable, "-m", "aa_ca.cells_table", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers: list[int] = []
    try:
        workers = _two_training_workers(proc)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        alive = _still_running_after(workers)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for w in _running(workers):
            os.kill(w, signal.SIGKILL)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert not alive and not (tmp_path / "r.csv").exists()
