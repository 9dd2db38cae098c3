"""The explore web app: a Starlette (ASGI) application served by uvicorn.

Routes:

- ``GET /``: the page (built front end, shipped in the package: no CDN).
- ``GET /api/config``: parameter defaults and bounds, and which optional views are on.
- ``WS /ws/particles``: one live simulation per connection. The page sends JSON commands
  (``{"type": "reset" | "update" | "play" | "pause" | "step", "params": {...}}``); the server answers
  with frames (:meth:`attnflow.explore.session.Frame.to_message`) and one-line ``error`` messages.
  Each step runs in a worker thread, off the event loop; a closed connection stops its simulation.
- ``GET /api/sweep`` and ``GET /api/sweep/run?index=K``: the sweep store named on the command line
  (its grid and results, and the simulation parameters of one run to replay).
- ``POST /api/model``: the model named on the command line traced on a prompt: every layer's tokens
  projected onto a sphere, with the lens's top token per layer.

No file is read that the command line did not name.
"""

from __future__ import annotations

import asyncio
import contextlib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from attnflow.dynamics import NORMALIZATIONS
from attnflow.explore.session import BOUNDS, DEFAULTS, ParticleSession

#: Frames per second the server aims at while playing (it sends as fast as it computes, up to this).
MAX_FPS = 60.0


def assets_dir() -> Path:
    """The built front end (``make assets`` writes it; the wheel ships it)."""
    folder = Path(str(resources.files("attnflow.viz") / "assets" / "frontend"))
    if not (folder / "explore.js").exists():
        raise FileNotFoundError(
            f"the explore front end is not built ({folder} has no explore.js): run `make assets` "
            "(needs Node.js and npm) or install attnflow from a wheel"
        )
    return folder


def create_app(sweep: str | Path | None = None, model: Any = None) -> Starlette:
    """The ASGI application.

    Args:
        sweep: a sweep store to show (the only file the sweep view reads), or ``None``.
        model: a loaded :class:`attnflow.lm.LanguageModel` for the model view, or ``None``.
    """
    assets = assets_dir()
    sweep_view = _SweepView(Path(sweep)) if sweep is not None else None

    async def page(request: Request) -> FileResponse:
        return FileResponse(assets / "index.html")

    async def config(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "defaults": DEFAULTS,
                "bounds": {k: list(v) for k, v in BOUNDS.items()},
                "variants": ["SA", "USA", "hardmax"],
                "normalizations": list(NORMALIZATIONS),
                "methods": ["euler", "rk4"],
                "sweep": sweep_view is not None,
                "model": getattr(model, "name", None) if model is not None else None,
            }
        )

    async def sweep_summary(request: Request) -> JSONResponse:
        if sweep_view is None:
            return JSONResponse({"error": "no sweep store was named (attnflow explore --sweep STORE)"}, 404)
        return JSONResponse(await asyncio.to_thread(sweep_view.summary))

    async def sweep_run(request: Request) -> JSONResponse:
        if sweep_view is None:
            return JSONResponse({"error": "no sweep store was named (attnflow explore --sweep STORE)"}, 404)
        try:
            index = int(request.query_params.get("index", ""))
            return JSONResponse(await asyncio.to_thread(sweep_view.run_params, index))
        except (ValueError, IndexError) as err:
            return JSONResponse({"error": f"index: {err}"}, 400)

    async def model_trace(request: Request) -> JSONResponse:
        if model is None:
            return JSONResponse({"error": "no model was named (attnflow explore --model NAME)"}, 404)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": 'the request body must be JSON: {"prompt": "..."}'}, 400)
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > 2000:
            return JSONResponse({"error": "prompt must be non-empty text of at most 2000 characters"}, 400)
        from attnflow.explore.model import trace_layers

        return JSONResponse(await asyncio.to_thread(trace_layers, model, prompt))

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/config", config),
            Route("/api/sweep", sweep_summary),
            Route("/api/sweep/run", sweep_run),
            Route("/api/model", model_trace, methods=["POST"]),
            WebSocketRoute("/ws/particles", particles),
            # KaTeX's style sheet and fonts: the copy vendored for the report (one copy in the package).
            Mount("/static/katex", StaticFiles(directory=assets.parent / "katex"), name="katex"),
            Mount("/static", StaticFiles(directory=assets), name="static"),
        ]
    )


async def particles(websocket: WebSocket) -> None:
    """One live simulation for one page: commands in, frames out, until the page goes."""
    await websocket.accept()
    session: ParticleSession | None = None
    playing = asyncio.Event()
    wake = asyncio.Event()
    closed = False
    lock = asyncio.Lock()  # one thread touches the session at a time

    async def send(message: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.send_json(message)

    async def run_session(call: Any, *args: Any) -> None:
        async with lock:
            frame = await asyncio.to_thread(call, *args)
        await send(frame.to_message())

    async def receive() -> None:
        nonlocal session, closed
        try:
            while True:
                message = await websocket.receive_json()
                kind = message.get("type") if isinstance(message, dict) else None
                params = message.get("params", {}) if isinstance(message, dict) else {}
                try:
                    if not isinstance(params, dict):
                        raise ValueError("params must be an object of parameter values")
                    if kind == "reset" or (session is None and kind in ("update", "play", "step")):
                        candidate = await asyncio.to_thread(ParticleSession, params)
                        async with lock:
                            session = candidate
                        await send(session.frame().to_message())
                    elif kind == "update":
                        async with lock:
                            await asyncio.to_thread(session.update, params)
                    elif kind not in ("play", "pause", "step"):
                        raise ValueError(f"unknown command {kind!r}; use reset, update, play, pause or step")
                    if kind == "play":
                        playing.set()
                    elif kind == "pause":
                        playing.clear()
                    elif kind == "step" and session is not None:
                        playing.clear()
                        await run_session(session.advance)
                    wake.set()
                except (ValueError, TypeError) as err:
                    await send({"type": "error", "message": str(err)})
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            closed = True
            wake.set()

    async def stream() -> None:
        loop = asyncio.get_running_loop()
        while not closed:
            if not playing.is_set() or session is None:
                wake.clear()
                await wake.wait()
                continue
            started = loop.time()
            await run_session(session.advance)
            await asyncio.sleep(max(0.0, 1 / MAX_FPS - (loop.time() - started)))

    receiver = asyncio.create_task(receive())
    try:
        await stream()
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver


class _SweepView:
    """The sweep store named on the command line: its grid, results and runs."""

    def __init__(self, path: Path) -> None:
        import json

        from attnflow.sweep import load_results

        self.path = path
        self.results = load_results(path)
        self.spec = json.loads(self.results.attrs.get("spec", "{}"))
        # The swept dimensions are those of the per-run status (plus the seeds).
        self.dims = [d for d in self.results["run_status"].dims if d != "seed"]

    def summary(self) -> dict[str, Any]:
        """The grid's coordinates and every numeric value on it (mean over seeds; the last entry of any
        further dimension, e.g. the final time of a time series)."""
        ds = self.results
        values = {}
        for name, array in ds.data_vars.items():
            if array.dtype.kind not in "biuf" or not set(self.dims) <= set(array.dims):
                continue
            extra = [d for d in array.dims if d not in self.dims and d != "seed"]
            reduced = array.isel({d: -1 for d in extra})
            reduced = reduced.mean("seed") if "seed" in reduced.dims else reduced
            label = name + (f" (last {', '.join(extra)})" if extra else "")
            grid = np.asarray(reduced.transpose(*self.dims), dtype=float)
            values[label] = np.where(np.isfinite(grid), grid, None).tolist()
        return {
            "path": str(self.path),
            "dims": self.dims,
            "coords": {d: np.asarray(ds[d]).tolist() for d in self.dims},
            "values": values,
        }

    def run_params(self, index: int) -> dict[str, Any]:
        """The simulation parameters of grid cell ``index`` (row-major over the swept dimensions), with
        the first replicate's seed: enough to replay the run."""
        shape = [self.results.sizes[d] for d in self.dims]
        if not 0 <= index < int(np.prod(shape)):
            raise IndexError(f"must be in [0, {int(np.prod(shape)) - 1}], got {index}")
        position = np.unravel_index(index, shape)
        params = dict(self.spec.get("params", {}))
        params.update(
            {d: np.asarray(self.results[d])[k].item() for d, k in zip(self.dims, position, strict=True)}
        )
        if "seed" in self.results.dims:
            params["seed"] = int(self.results["seed"][0])
        return params
