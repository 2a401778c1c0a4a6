"""Malformed specs: exit code 2, every problem named by key path, no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from aa_core import SpecError, UserError
from aa_core.spec import apply_overrides, validate

BAD = sorted((Path(__file__).parent / "specs" / "bad").glob("*.toml"))
REPO = Path(__file__).resolve().parents[1]


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


def test_an_invalid_dataset_key_is_the_only_problem(aa, tmp_path):
    """A [dataset] table that fails validation is not also reported missing ("needs a dataset") by the tasks."""
    r = aa("run", str(REPO / "examples" / "digits.toml"), "--set", "dataset.bogus=1", "--set", f"run.checkpoint_dir={tmp_path}/ck",
           "--set", f"run.output_dir={tmp_path}/runs", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "1 problem in spec" in r.stderr and "dataset.bogus: unknown key" in r.stderr, r.stderr
    assert "needs a dataset" not in r.stderr and not (tmp_path / "ck").exists()
    r = aa("check", str(REPO / "examples" / "digits.toml"), "--set", "dataset.name=nosuch")
    assert r.returncode == 2 and "1 problem in spec" in r.stderr and "dataset.name: unknown dataset 'nosuch'" in r.stderr, r.stderr
    spec = tmp_path / "no_dataset.toml"  # a dataset that is really missing is still reported
    spec.write_text('[cell]\nchannels = 4\n\n[run]\ntasks = ["train"]\n')
    r = aa("check", str(spec))
    assert r.returncode == 2 and "task 'train' of run.tasks needs a dataset" in r.stderr, r.stderr


def test_a_spec_saved_with_a_utf8_byte_order_mark_is_read(aa, tmp_path):
    """Some Windows editors start UTF-8 files with a BOM: tomllib alone calls it an invalid statement."""
    spec = tmp_path / "digits.toml"
    spec.write_bytes(b"\xef\xbb\xbf" + (REPO / "examples" / "digits.toml").read_bytes())
    r = aa("check", str(spec), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Invalid statement" not in r.stderr


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
