"""Q→A data: loaders, dedup, deterministic split, hash, and clear errors for bad files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from aa_core import UserError
from aa_qa.config import DataConfig
from aa_qa.data import deduplicate, load_data, load_pairs, normalise, split_pairs

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def rows(n: int) -> list[dict]:
    return [{"question": f"What is item number {i}?", "answer": f"It is thing {i}."} for i in range(n)]


def test_jsonl_json_array_and_csv_load_the_same(tmp_path):
    data = [{"question": "What is a tensor?", "answer": ["An array with axes", "a multi-dim array"]},
            {"question": "What, exactly, is bias?", "answer": "A constant offset, \"b\"."}]
    a = load_pairs(write_jsonl(tmp_path / "d.jsonl", data))
    (tmp_path / "d.json").write_text(json.dumps(data))
    b = load_pairs(tmp_path / "d.json")
    (tmp_path / "d.csv").write_text('question,answer\nWhat is a tensor?,An array with axes\n"What, exactly, is bias?","A constant offset, ""b""."\n')
    c = load_pairs(tmp_path / "d.csv")
    assert a == b
    assert [p.answer for p in a] == [p.answer for p in c] == ["An array with axes", 'A constant offset, "b".']
    assert a[0].answers == ("An array with axes", "a multi-dim array")


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("bad.jsonl", '{"question": "q1", "answer": "a"}\n{"question": "q2"\n', "line 2"),
        ("bad.jsonl", '{"question": "q1", "answer": 3}\n', '"answer"'),
        ("bad.json", '[{"questoin": "q", "answer": "a"}]', '"question"'),
        ("bad.csv", "q,a\nx,y\n", "'question' and 'answer'"),
        ("bad.txt", "hello", "unknown data format"),
        ("empty.jsonl", "\n", "no question/answer pairs"),
    ],
)
def test_bad_files_name_the_file_and_the_fix(tmp_path, name, content, needle):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(UserError) as exc:
        load_pairs(p)
    msg = exc.value.render()
    assert str(p) in msg and needle in msg


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_pairs(tmp_path / "nope.jsonl")


def test_dedup_by_normalised_question():
    from aa_qa.data import Pair

    pairs = [Pair("What is ML?", "a", ("a",)), Pair("  what is ml ", "b", ("b",)), Pair("What is AI?", "c", ("c",)),
             Pair("what is AI", "C.", ("C.",))]
    kept, removed, conflicting = deduplicate(pairs)
    assert [p.answer for p in kept] == ["a", "c"] and removed == 2 and conflicting == 1  # "C." == "c" once normalised
    merged, _, _ = deduplicate(pairs, merge=True)
    assert merged[0].answers == ("a", "b") and merged[1].answers == ("c",)
    assert normalise("Café, déjà-vu!") == "cafe deja vu"


def test_conflicting_duplicates_are_reported_on_the_console(tmp_path, aa):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [*rows(40), {"question": "What is item number 3?", "answer": "another answer"}]) + "\n")
    spec = tmp_path / "s.toml"
    spec.write_text(f'[data]\npath = "d.jsonl"\n[run]\ntasks = ["train"]\ncheckpoint_dir = "{tmp_path / "ck"}"\n[train]\nepochs = 1\n'
                    '[geometry]\nsize = [2, 2, 2]\n[cell]\nchannels = 2\nhidden = 4\n[propagator]\nsteps = 1\n')
    r = aa("run", str(spec))
    assert r.returncode == 0, r.stderr
    assert "1 duplicate questions removed, 1 of them with a different answer" in r.stdout and 'data.duplicates = "merge"' in r.stdout


def test_split_is_deterministic_and_order_independent(tmp_path):
    pairs = load_pairs(write_jsonl(tmp_path / "d.jsonl", rows(200)))
    a = split_pairs(pairs, [0.8, 0.1, 0.1], seed=3)
    b = split_pairs(list(reversed(pairs)), [0.8, 0.1, 0.1], seed=3)
    assert [sorted(p.question for p in s) for s in a] == [sorted(p.question for p in s) for s in b]
    c = split_pairs(pairs, [0.8, 0.1, 0.1], seed=4)
    assert [p.question for p in a[2]] != [p.question for p in c[2]]
    assert sum(map(len, a)) == 200 and 140 <= len(a[0]) <= 180


def test_load_data_hash_and_no_leak(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", rows(100) + rows(5))  # five duplicates
    cfg = DataConfig(path=str(f))
    d1, d2 = load_data(cfg), load_data(cfg)
    assert d1.hash == d2.hash and d1.duplicates_removed == 5
    assert sum(d1.sizes().values()) == 100
    assert load_data(DataConfig(path=str(f), seed=1)).hash != d1.hash
    qs = [{normalise(p.question) for p in d1.split(s)} for s in ("train", "validation", "test")]
    assert not (qs[0] & qs[1] or qs[0] & qs[2] or qs[1] & qs[2])


def test_separate_files_remove_test_questions_from_train(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", rows(60))
    test = write_jsonl(tmp_path / "test.jsonl", rows(5))  # same questions as train's first five
    d = load_data(DataConfig(train=str(train), test=str(test)))
    assert d.overlap_removed == 5 and len(d.test) == 5
    assert len(d.train) + len(d.validation) == 55 and len(d.validation) > 0


def test_empty_split_is_a_user_error(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", rows(2))
    with pytest.raises(UserError, match="empty"):
        load_data(DataConfig(path=str(f)))


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")
def test_shared_data_loads_as_is():
    nq = load_pairs(SHARED / "nq_open" / "NQ-open.dev.jsonl")
    assert len(nq) == 3610 and all(p.answer for p in nq)
    ds = load_pairs(SHARED / "ds_interviews" / "qa.json")
    assert len(ds) == 152
