"""The teacher tokenizer with the real MiniLM model (no mocks): embeddings, cache, errors."""
from __future__ import annotations

import sqlite3

import pytest
import torch

from aa_core import UserError
from aa_qa.config import TeacherConfig
from aa_qa.teacher import Teacher

TEXTS = ["How do I bake bread?", "What is a recipe for a loaf of bread?", "The stock market fell sharply today."]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("teacher_cache")


@pytest.fixture(scope="module")
def teacher(cache_dir):
    return Teacher(TeacherConfig(cache_dir=str(cache_dir)))


@pytest.fixture(scope="module")
def first(teacher):
    return teacher.encode(TEXTS)


def test_real_embeddings_are_unit_384d_and_semantic(first):
    assert first.shape == (3, 384) and first.dtype == torch.float32
    assert torch.allclose(first.norm(dim=-1), torch.ones(3), atol=1e-5)
    sims = first @ first.T
    assert sims[0, 1] > 0.5 > sims[0, 2]  # two bread questions vs. the stock market


def test_cache_returns_the_same_vectors_without_the_model(teacher, first, cache_dir):
    fresh = Teacher(TeacherConfig(cache_dir=str(cache_dir)))
    again = fresh.encode(list(reversed(TEXTS)) + [TEXTS[0]])
    assert "_model" not in fresh.__dict__  # everything came from the sqlite cache
    assert torch.equal(again[:3], first.flip(0)) and torch.equal(again[3], first[0])


def test_batching_and_uncached_agree(first):
    t = Teacher(TeacherConfig(cache_dir=None, batch_size=1))
    assert torch.allclose(t.encode(TEXTS), first, atol=1e-5)
    assert t.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        t.encode("one string")


def test_corrupt_cache_is_moved_aside(tmp_path, first):
    (tmp_path / "x").mkdir()
    t = Teacher(TeacherConfig(cache_dir=str(tmp_path / "x")))
    path = t.cache.path
    t.cache.db.close()
    path.write_bytes(b"this is not a sqlite database" * 100)
    t2 = Teacher(TeacherConfig(cache_dir=str(tmp_path / "x")))
    assert t2.cache is not None  # opened on first use: the corrupt file is moved aside then
    assert path.with_name(path.name + ".corrupt").exists()
    t2.cache.put_many({"k": first[0].numpy()})
    assert set(t2.cache.get_many(["k"])) == {"k"}
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR REPLACE INTO emb VALUES ('short', x'00000000')")
    assert t2.cache.get_many(["short"]) == {}  # wrong-sized rows are ignored


def test_missing_model_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        Teacher(TeacherConfig(model=str(tmp_path), cache_dir=None))
