"""Spec fuzzing: random TOML documents over the spec schema (wrong types, missing and extra keys,
extreme numbers, unicode) never make `aa check` fail with exit 1 or a traceback — exit 0 or 2 only."""
from __future__ import annotations

import contextlib
import io

import attrs
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aa_core.cli import main
from aa_core.host import PluginHost

HOST = PluginHost()
HOST.load_all()
TABLES: dict[str, list[str]] = {}
for reg in HOST.all_components():
    TABLES.setdefault(reg.component.kind, []).extend(f.name for f in attrs.fields(reg.component.config))
for name, (section, _) in HOST.sections().items():
    TABLES[name] = [f.name for f in attrs.fields(section.config)]
TABLES["run"] = ["tasks", "ask", "output_dir", "checkpoint_dir", "resume", "seed", "threads", "progress", "force"]
NAMES = {kind: HOST.names(kind) for kind in TABLES}

scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, -1, 2, 3, 26, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.lists(st.integers(-3, 50), min_size=3, max_size=3))


@st.composite
def tables(draw, kind: str) -> dict:
    keys = TABLES[kind]
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys))) if keys else []
    table = {k: draw(values) for k in chosen}
    if draw(st.booleans()):
        table[draw(st.text(min_size=1, max_size=8))] = draw(values)  # an unknown (maybe unicode) key
    if kind in NAMES and NAMES[kind] and draw(st.booleans()):
        table["name"] = draw(st.one_of(st.sampled_from(NAMES[kind]), st.text(max_size=8)))
    return table


@st.composite
def documents(draw) -> dict:
    doc: dict = {}
    for kind in draw(st.lists(st.sampled_from(sorted(TABLES)), unique=True, max_size=6)):
        doc[kind] = draw(tables(kind))
    if draw(st.booleans()):
        doc[draw(st.text(min_size=1, max_size=8))] = draw(st.one_of(values, st.just({})))
    doc.setdefault("run", {})["tasks"] = ["check"]
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(documents())
def test_check_exits_0_or_2_without_traceback(tmp_path, doc):
    spec = tmp_path / "fuzz.toml"
    spec.write_text(tomli_w.dumps(doc), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(spec)])
    assert code in (0, 2), f"exit {code} for {doc!r}:\n{err.getvalue()[-3000:]}"
    assert "Traceback" not in err.getvalue()
