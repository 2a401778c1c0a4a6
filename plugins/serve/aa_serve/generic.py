"""aa-serve's generic handler: any checkpoint whose dataset describes its inputs and predictions
(:class:`aa_core.protocols.ServableDataset`) is served without task code.

Routes: ``POST /v1/predict`` — ``{"inputs": [...], "options": {...}, "model"?}``: a batch of inputs in the
dataset's format (each checked against its ``input_schema()``, then ``parse_input``), run through the
pipeline (``model(inputs, **others)``, dynamically batched with other requests' inputs), answered as
``{"predictions": [...], "model": {"id", "version"}, "batch_sizes": [...], "time_ms"}`` with the dataset's
``prediction`` of each. A malformed input is a 422 whose ``details`` name its JSON path
(``inputs[2][7]``) and what is wrong. ``GET /v1/predict/schema`` gives a model's input schema.

The checkpoint is restored as ``aa inspect`` restores it (its spec's dataset rebuilt from the
checkpoint, never set up); torch and jsonschema load in the model thread.
"""
# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name classes
# built per application (their limits come from the service's settings).
import json
import time
from pathlib import Path
from typing import Any

import attrs
from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from aa_core.plugin import UserError, finite_only

from .api import ServeHost, ServeOption, dataset_name

NAME = "predict"


class ModelRef(BaseModel):
    id: str
    version: str = Field(description="the first 12 hex digits of the sha256 of the checkpoint's weight tensors")


class PredictOut(BaseModel):
    predictions: list[Any] = Field(description="the dataset's prediction of each input, in order (e.g. {\"class\": 7, \"probabilities\": [...]})")
    model: ModelRef
    batch_sizes: list[int] = Field(description="inputs in the forward pass each input ran in")
    time_ms: float = Field(description="time from receiving the request to the answer, in the server")


class SchemaOut(BaseModel):
    model: ModelRef
    dataset: str | None
    input_schema: dict[str, Any] = Field(description="the JSON schema of one input (POST /v1/predict takes a list of them)")
    options: dict[str, Any] = Field(description="the request options /v1/predict takes (none yet)")


@attrs.frozen
class Loaded:
    """A restored checkpoint: its pipeline (eval mode), its dataset and the checker of its input schema."""

    model: Any
    dataset: Any
    schema: dict[str, Any]
    validator: Any


def json_path(loc: list[Any]) -> str:
    """``["inputs", 2, "steps"]`` → ``inputs[2].steps``."""
    out = str(loc[0]) if loc else ""
    for part in loc[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def best_error(errors: list[Any]) -> Any:
    """The schema error worth reporting: the most relevant one, and under a ``oneOf``/``anyOf`` the branch
    the input came closest to (of the input's type, the fewest errors), e.g. "[7] has 7 items" for an image
    whose eighth row is short rather than "[0] is not a number" of the flat-image branch."""
    from jsonschema.exceptions import relevance

    if not errors:
        return None
    error = max(errors, key=relevance)
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        def distance(errs: list[Any]) -> tuple[bool, int]:  # a branch of another type is farthest, then the fewest errors
            return any(e.validator == "type" and not e.relative_path for e in errs), len(errs)

        return best_error(min(branches.values(), key=distance))
    return error


def message(error: Any) -> str:
    """A schema error in a line: the counts of a list that is too short or long, a long value cut short."""
    value = error.instance
    if error.validator in ("minItems", "maxItems") and isinstance(value, list):
        return f"has {len(value)} items; {'at least' if error.validator == 'minItems' else 'at most'} {error.validator_value} are expected"
    text, shown = error.message, repr(value)
    return text.replace(shown, shown[:40] + "…", 1) if len(shown) > 48 else text


def check_input(loaded: Loaded, value: Any, where: list[Any]) -> tuple[Any, dict[str, Any] | None]:
    """(the example ``parse_input`` made of ``value``, None) or (None, the problem: loc, msg, type)."""
    error = best_error(list(loaded.validator.iter_errors(value)))
    if error is not None:
        return None, {"loc": [*where, *error.absolute_path], "msg": message(error), "type": f"schema.{error.validator}"}
    try:
        return loaded.dataset.parse_input(value), None
    except (ValueError, TypeError, UserError) as exc:
        return None, {"loc": where, "msg": exc.render() if isinstance(exc, UserError) else str(exc), "type": "value_error"}


def _batches(examples: list[Any]) -> dict[str, tuple[dict[str, Any], list[int]]]:
    """The examples grouped into forward passes: same shapes of every tensor, same other values (e.g. ``steps``)."""
    import torch

    groups: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for i, ex in enumerate(examples):
        d = ex if isinstance(ex, dict) else {"inputs": ex}
        static = {k: v for k, v in d.items() if not isinstance(v, torch.Tensor)}
        shapes = {k: list(v.shape) for k, v in d.items() if isinstance(v, torch.Tensor)}
        key = json.dumps([shapes, static], sort_keys=True, default=repr)
        groups.setdefault(key, (static, []))[1].append(i)
    return groups


class GenericServing:
    """The generic handler (an :class:`aa_serve.ServeTask`)."""

    def options(self) -> list[ServeOption]:
        return []

    def load(self, checkpoint: Path, metadata: dict[str, Any]) -> Loaded:
        """Restore the checkpoint and rebuild its dataset from its spec; refuse (exit 2) a dataset that does
        not describe its inputs and predictions, naming what it lacks."""
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for

        from aa_core.protocols import ServableDataset
        from aa_core.run import restore

        name = dataset_name(metadata)
        r = restore(checkpoint)
        try:
            dataset = r.ctx.build("dataset")
        except UserError as exc:
            raise UserError(f"checkpoint {checkpoint}: its dataset '{name}' cannot be rebuilt from its spec, so its inputs and "
                            f"predictions cannot be read: {exc.render() if hasattr(exc, 'render') else exc}") from None
        if not isinstance(dataset, ServableDataset):
            missing = [m for m in ("input_schema", "parse_input", "prediction") if not callable(getattr(dataset, m, None))]
            raise UserError(f"checkpoint {checkpoint}: its dataset '{name}' ({type(dataset).__name__}) does not describe its inputs "
                            f"and predictions (it lacks {', '.join(missing)} of aa_core.protocols.ServableDataset), so aa serve's "
                            "generic handler cannot serve it; implement them in the dataset, or install a plugin whose "
                            "aa_serve_handlers hook serves it")
        schema = dataset.input_schema()
        try:
            cls = validator_for(schema)
            cls.check_schema(schema)
        except SchemaError as exc:
            raise UserError(f"checkpoint {checkpoint}: the input_schema() of dataset '{name}' is not a valid JSON schema "
                            f"({exc.message}); a bug in the plugin providing it") from None
        r.model.eval()
        return Loaded(r.model, dataset, schema, cls(schema))

    def predict(self, loaded: Loaded, inputs: list[Any], option: Any) -> list[Any]:
        """The dataset's prediction of each parsed example: one forward pass per group of examples that share
        their tensors' shapes and their other values."""
        import torch

        out: list[Any] = [None] * len(inputs)
        with torch.no_grad():
            for static, index in _batches(inputs).values():
                exs = [inputs[i] if isinstance(inputs[i], dict) else {"inputs": inputs[i]} for i in index]
                batch = {k: torch.stack([e[k] for e in exs]) for k, v in exs[0].items() if isinstance(v, torch.Tensor)}
                x = batch.pop("inputs")
                outputs = loaded.model(x, **batch, **static)
                if not isinstance(outputs, torch.Tensor):
                    raise TypeError(f"the pipeline returned a {type(outputs).__name__}, not a tensor; the generic handler "
                                    "serves pipelines whose forward returns the prediction tensor")
                for j, i in enumerate(index):
                    out[i] = finite_only(loaded.dataset.prediction(outputs[j: j + 1], inputs[i]))
        return out

    def describe(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """``dataset``: the name whose ``input_schema`` /v1/predict takes (``GET /v1/predict/schema``)."""
        return {"dataset": dataset_name(metadata)}

    def register_routes(self, app: FastAPI, host: ServeHost) -> None:
        max_inputs = int(host.settings.max_inputs)

        class PredictRequest(BaseModel):
            model_config = ConfigDict(extra="forbid")
            inputs: list[Any] = Field(min_length=1, max_length=max_inputs,
                                      description="inputs in the format of the model's dataset (GET /v1/predict/schema); null for a "
                                                  "growth task's seed", examples=[[[0.0] * 64]])
            options: dict[str, Any] = Field(default_factory=dict, description="request options (none yet)")
            model: str | None = Field(None, max_length=200, description="model id, version (weights-hash prefix) or id@version; "
                                                                        "default: the first served by this handler")

        errors: dict[int | str, dict[str, Any]] = {404: {"description": "unknown model"},
                                                   422: {"description": "an input not in the dataset's format (details: its JSON path), "
                                                                        "or a model of another task"}}

        @app.post("/v1/predict", response_model=PredictOut, responses=errors)
        async def predict(body: PredictRequest) -> PredictOut:  # PredictRequest: a class built per application
            """Predict a batch of inputs (each joins the model's dynamic batch)."""
            t0 = time.perf_counter()
            m = host.pick(body.model, NAME)
            if body.options:
                names = sorted(body.options)
                raise host.error(422, "unknown_option", f"/v1/predict takes no options; got {', '.join(names)}",
                                 [{"loc": ["options", n], "msg": "unknown option", "type": "unknown_option"} for n in names])
            loaded: Loaded = m.loaded
            examples, problems = [], []
            for i, value in enumerate(body.inputs):
                example, problem = check_input(loaded, value, ["inputs", i])
                if problem is not None:
                    problems.append(problem)
                examples.append(example)
            if problems:
                what = loaded.schema.get("description")
                listed = "; ".join(f"{json_path(p['loc'])}: {p['msg']}" for p in problems[:5])
                more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
                raise host.error(422, "invalid_input", f"{len(problems)} of the {len(examples)} inputs cannot be used: {listed}{more}"
                                 + (f". One input is {what}" if what else "") + " (GET /v1/predict/schema gives the schema)", problems)
            results = await host.predict(m, examples, 0)
            return PredictOut(predictions=[r for r, _ in results], model=ModelRef(id=m.id, version=m.version),
                              batch_sizes=[size for _, size in results], time_ms=(time.perf_counter() - t0) * 1000)

        @app.get("/v1/predict/schema", response_model=SchemaOut, responses={404: {"description": "unknown model"}})
        async def schema(model: str | None = Query(None, max_length=200, description="model id, version or id@version")) -> SchemaOut:
            """The JSON schema of one input of a model served by /v1/predict."""
            m = host.pick(model, NAME)
            return SchemaOut(model=ModelRef(id=m.id, version=m.version), dataset=dataset_name(m.metadata),
                             input_schema=m.loaded.schema, options={})
