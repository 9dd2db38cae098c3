"""``attnflow explore``: watch tokens cluster, live, in the browser.

A local web app (Starlette on uvicorn) streams frames of the library's own simulation over a
WebSocket to a page drawn with three.js, with live energy and cluster-count plots and the current
field's equation rendered by KaTeX; a real model's layers and a sweep store's phase diagram are two
more views. The front end is built from npm packages into the package (``make assets``); nothing is
fetched at run time. In notebooks the same renderer draws :func:`attnflow.viz.show`.
"""

from attnflow.explore.server import create_app
from attnflow.explore.session import BOUNDS, DEFAULTS, Frame, ParticleSession, check_params

__all__ = ["BOUNDS", "DEFAULTS", "Frame", "ParticleSession", "check_params", "create_app", "serve"]


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    sweep: str | None = None,
    model: object = None,
    open_browser: bool = True,
    announce: object = print,
) -> None:
    """Serve the app until Ctrl-C: a free port when ``port`` is 0; the URL is announced (and opened)."""
    import socket
    import webbrowser

    import uvicorn

    app = create_app(sweep=sweep, model=model)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections wait in the backlog until uvicorn serves them: the URL works at once
    bound = sock.getsockname()[1]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound}/"
    announce(f"attnflow explore: {url}  (Ctrl-C stops it)")
    if open_browser:
        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
