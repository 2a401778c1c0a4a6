"""What a sweep varies: ``--param KEY=V1|V2`` values, ``--case`` override bundles and seeds.

Values stay the text given on the command line; each becomes a ``--set KEY=VALUE`` of a normal
``aa run`` (validated there like any override). A *point* is one combination plus a seed.
"""
from __future__ import annotations

import hashlib
import itertools
import json

import attrs

from aa_core.plugin import UserError


@attrs.frozen
class Range:
    """A numeric search range ``lo..hi`` (``log:lo..hi`` on a log scale; integers stay integers)."""

    lo: float
    hi: float
    log: bool = False
    integer: bool = False


REFERENCE = "reference"  # the case label of a study's reference row (another spec, the same seeds)


@attrs.frozen
class Space:
    params: dict[str, tuple[str, ...] | Range]
    cases: dict[str, tuple[str, ...]]  # case label → its overrides
    seeds: tuple[int, ...]
    seed_key: str = "train.seed"
    reference: bool = False  # a reference row: the reference spec once per seed
    matched: dict[str, tuple[str, ...]] = attrs.field(factory=dict)  # configuration label → overrides of the budget match

    def configs(self) -> list[dict[str, str]]:
        """Every configuration (a point without its seed), the reference first."""
        return list({point_key(config_of(p)): config_of(p) for p in self.grid()}.values())

    def grid(self) -> list[dict[str, str]]:
        """The reference × seeds (when there is one), then every combination of cases × params × seeds
        (ranges are not allowed in a grid)."""
        return ([{"case": REFERENCE, "seed": str(s)} for s in self.seeds] if self.reference else []) + self._product()

    def _product(self) -> list[dict[str, str]]:
        axes: list[tuple[str, tuple[str, ...]]] = []
        if self.cases:
            axes.append(("case", tuple(self.cases)))
        for k, v in self.params.items():
            if isinstance(v, Range):
                raise UserError(f"--param {k}: a range ({v.lo}..{v.hi}) needs --search tpe or random, not a grid; give values as V1|V2|…")
            axes.append((k, v))
        axes.append(("seed", tuple(str(s) for s in self.seeds)))
        return [dict(zip([a for a, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]

    def config_overrides(self, config: dict[str, str]) -> list[str]:
        """The ``--set`` overrides of a configuration: case bundle, params, then the budget match."""
        out = list(self.cases.get(config.get("case", ""), ()))
        out += [f"{k}={v}" for k, v in config.items() if k not in ("case", "seed")]
        return out + list(self.matched.get(label(config_of(config)), ()))

    def overrides(self, point: dict[str, str]) -> list[str]:
        """The ``--set`` overrides of a point (its configuration's, then the seed)."""
        return [*self.config_overrides(point), f"{self.seed_key}={point['seed']}"]

    def fingerprint(self) -> str:
        blob = json.dumps({"params": {k: (attrs.asdict(v) if isinstance(v, Range) else list(v)) for k, v in self.params.items()},
                           "cases": {k: list(v) for k, v in self.cases.items()}, "seeds": list(self.seeds), "seed_key": self.seed_key,
                           **({"reference": True} if self.reference else {}),
                           **({"matched": {k: list(v) for k, v in self.matched.items()}} if self.matched else {})},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def point_key(point: dict[str, str]) -> str:
    """Canonical text of a point (sorted JSON)."""
    return json.dumps(point, sort_keys=True, ensure_ascii=False)


def config_of(point: dict[str, str]) -> dict[str, str]:
    """The point without its seed: what the seeds are repeats of."""
    return {k: v for k, v in point.items() if k != "seed"}


def label(config: dict[str, str]) -> str:
    """A configuration's name in tables: its case's label, then its params as KEY=VALUE."""
    parts = [v if k == "case" else f"{k}={v}" for k, v in config.items() if k != "seed"]
    return ", ".join(parts) or "(spec as is)"


def _range(key: str, text: str) -> Range:
    log = text.startswith("log:")
    body = text[4:] if log else text
    lo_s, _, hi_s = body.partition("..")
    try:
        lo, hi = float(lo_s), float(hi_s)
    except ValueError:
        raise UserError(f"--param {key}={text}: a range is LO..HI or log:LO..HI with numbers, e.g. --param train.lr=log:1e-4..1e-2") from None
    if not lo < hi or (log and lo <= 0):
        raise UserError(f"--param {key}={text}: need LO < HI (and LO > 0 on a log scale)")
    integer = all(s.strip().lstrip("-").isdigit() for s in (lo_s, hi_s))
    return Range(lo, hi, log, integer)


def parse_seeds(text: str | int) -> list[int]:
    """``--seeds 5`` (seeds 0–4) or ``--seeds 0,3,7`` (exactly those)."""
    if isinstance(text, int):
        return list(range(text))
    try:
        values = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds {text!r}: give a count (--seeds 5: seeds 0–4) or a comma-separated list (--seeds 0,1,2)") from None
    if "," not in str(text) and len(values) == 1:
        return list(range(values[0]))
    return values


def parse(params: list[str], cases: list[str], seeds: int | list[int] | str, seed_key: str = "train.seed", reference: bool = False) -> Space:
    """``--param KEY=V1|V2|…`` (or a range ``LO..HI``), ``--case 'LABEL: KEY=V; KEY=V'`` and the seeds."""
    out: dict[str, tuple[str, ...] | Range] = {}
    for text in params:
        key, sep, values = text.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UserError(f"--param {text!r}: expected KEY.PATH=V1|V2|… (or KEY.PATH=LO..HI for a search), e.g. --param cell.name='mlp|gmlp'")
        if key in out:
            raise UserError(f"--param {key} is given twice; list all its values in one --param {key}=V1|V2")
        if key in ("case", "seed"):
            raise UserError(f"--param {key}: 'case' and 'seed' are reserved names; use --case and --seeds")
        if ".." in values and "|" not in values and not values.strip().startswith(("[", '"', "'")):
            out[key] = _range(key, values.strip())
        else:
            out[key] = tuple(v.strip() for v in values.split("|"))
    case_map: dict[str, tuple[str, ...]] = {}
    for text in cases:
        name, sep, body = text.partition(":")
        sets = tuple(s.strip() for s in body.split(";") if s.strip())
        if not sep or not name.strip() or not sets or any("=" not in s for s in sets):
            raise UserError(f"--case {text!r}: expected 'LABEL: KEY=VALUE; KEY=VALUE', e.g. --case 'cube: geometry.size=[8,8,8]; cell.channels=16'")
        if name.strip() in case_map:
            raise UserError(f"--case {name.strip()!r} is given twice")
        if name.strip() == REFERENCE:
            raise UserError(f"--case {REFERENCE}: the label is reserved for the --reference spec's row; name the case otherwise")
        case_map[name.strip()] = sets
    seed_list = list(seeds) if isinstance(seeds, list) else parse_seeds(seeds)
    if not seed_list:
        raise UserError("--seeds: need at least one seed")
    return Space(out, case_map, tuple(seed_list), seed_key, reference)


@attrs.frozen
class Objective:
    """What a sweep optimises: a metric the runs report (``None``: the one each run selects on) and a direction."""

    key: str | None
    direction: str  # "maximize" | "minimize"

    def __str__(self) -> str:
        return self.key or "the selected metric"


def parse_objective(text: str | None, train: object | None = None) -> Objective:
    """``KEY[:max|min]`` → :class:`Objective`. Without a direction: the spec's ``train.mode`` when KEY is its
    ``train.select_on``, else ``min`` for names ending in ``loss`` or ``error`` and ``max`` otherwise (the rule of
    ``train.mode = "auto"``). Without KEY: the spec's ``train.select_on`` (``None`` when the spec leaves it to the task)."""
    select_on = getattr(train, "select_on", None)
    key, _, way = (text or "").partition(":")
    key = key.strip() or str(select_on or "")
    if way and way not in ("max", "min"):
        raise UserError(f"--objective {text}: the direction after ':' must be max or min, e.g. --objective val_accuracy:max")
    if not key:
        return Objective(None, "maximize" if not way else {"max": "maximize", "min": "minimize"}[way])
    if way:
        return Objective(key, "maximize" if way == "max" else "minimize")
    if key == select_on and train is not None and hasattr(train, "direction"):
        return Objective(key, "maximize" if train.direction(key) > 0 else "minimize")
    return Objective(key, "minimize" if key.endswith(("loss", "error")) else "maximize")
