"""A second task for `aa serve`, installed by the tests as a real plugin (an ``aa.plugins`` entry point
in a dist-info folder on PYTHONPATH): it claims checkpoints whose spec's dataset is ``echo_rows`` and adds
``POST /v1/echo``, which answers from the checkpoint's weights file (read by its handler's ``load``)."""
# No `from __future__ import annotations`: FastAPI reads the annotations of an endpoint whose classes are local.
from pathlib import Path
from typing import Any

from aa_core.plugin import hookimpl
from aa_serve import ServeHandler, ServeHost


@hookimpl
def aa_serve_handlers() -> list[ServeHandler]:
    return [ServeHandler("echo", "aa_serve_echo:EchoServing", datasets=("echo_rows",), description="reverses text")]


class EchoServing:
    """Loads the names of the checkpoint's tensors; a batch of texts comes back reversed, with the tensor count."""

    def load(self, checkpoint: Path, metadata: dict[str, Any]) -> list[str]:
        from safetensors import safe_open

        with safe_open(str(checkpoint / metadata["weights"]["file"]), framework="pt") as f:
            return sorted(f.keys())

    def predict(self, loaded: list[str], inputs: list[Any], option: int) -> list[dict[str, Any]]:
        return [{"reversed": text[::-1], "tensors": len(loaded)} for text in inputs]

    def describe(self, metadata: dict[str, Any]) -> dict[str, Any]:
        return {"echo": {"tensors": metadata["weights"]["tensors"]}}

    def register_routes(self, app: Any, host: ServeHost) -> None:
        from pydantic import BaseModel

        class EchoIn(BaseModel):
            text: str
            model: str | None = None

        class EchoOut(BaseModel):
            reversed: str
            tensors: int
            model: str
            batch_size: int

        async def echo(body: EchoIn) -> EchoOut:
            m = host.pick(body.model, "echo")
            [(result, size)] = await host.predict(m, [body.text], 0)
            return EchoOut(model=m.id, batch_size=size, **result)

        app.add_api_route("/v1/echo", echo, methods=["POST"], response_model=EchoOut)
