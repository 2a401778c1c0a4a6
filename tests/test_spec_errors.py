"""Malformed specs: exit code 2, every problem named by key path, no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from aa_core import SpecError, UserError
from aa_core.spec import apply_overrides, validate

BAD = sorted((Path(__file__).parent / "specs" / "bad").glob("*.toml"))


def expected(path: Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect:")
    return [s.strip() for s in first.removeprefix("# expect:").split(",")]


@pytest.mark.parametrize("spec", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_exits_2_naming_key(aa, spec):
    r = aa("check", str(spec))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    for key in expected(spec):
        assert key in r.stderr, f"{key!r} not in:\n{r.stderr}"
    assert spec.name in r.stderr  # the file is named


def test_all_errors_of_one_file_in_one_run(aa):
    spec = Path(__file__).parent / "specs" / "bad" / "many_errors.toml"
    r = aa("check", str(spec))
    assert "6 problems" in r.stderr


def test_set_override_is_validated(aa, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text("[cell]\nchannels = 4\n")
    r = aa("check", str(spec), "--set", "cell.hidden=lots", "--set", "geometry.size=[2,2,0]")
    assert r.returncode == 2
    assert "cell.hidden" in r.stderr and "geometry.size" in r.stderr


def test_bad_set_syntax(aa, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text("")
    r = aa("check", str(spec), "--set", "nonsense")
    assert r.returncode == 2 and "KEY.PATH=VALUE" in r.stderr


def test_missing_file(aa):
    r = aa("check", "no/such/spec.toml")
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr


def test_override_values_parse_as_toml():
    raw = apply_overrides({}, ["geometry.size=[2,3,4]", "cell.activation=gelu", "run.progress=false"])
    assert raw == {"geometry": {"size": [2, 3, 4]}, "cell": {"activation": "gelu"}, "run": {"progress": False}}


def test_validate_accepts_defaults_and_strict_types():
    spec = validate({"geometry": {"size": [3, 3, 3]}, "cell": {"channels": 4}})
    assert spec.config("cell").channels == 4
    with pytest.raises(SpecError) as e:
        validate({"cell": {"channels": 4.0}})  # a float is not an int
    assert "cell.channels" in str(e.value.problems[0])
    with pytest.raises(UserError):
        validate({"cell": {"channels": True}})


def test_resolved_spec_round_trips_and_hash_is_stable():
    a = validate({"geometry": {"size": [3, 3, 3]}})
    b = validate(a.resolved())
    assert a.model_hash() == b.model_hash()
    c = validate({"geometry": {"size": [3, 3, 4]}})
    assert c.model_hash() != a.model_hash()
