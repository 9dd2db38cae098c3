"""attnflow explore: how fast the server streams frames, and how fast the page draws them.

Targets (issue: explore): the server streams n = 2000, d = 3 at ≥ 30 frames/s on one core; the page
renders n = 10⁴ points at ≥ 30 fps in headless Chromium (the browser's own frame timing,
``requestAnimationFrame``). The server runs in a fresh process with one torch thread; a WebSocket
client counts the frames of a playing simulation over ``--seconds``; the page test loads the app in
Debian's Chromium (software WebGL) and reads the page's own frame-rate estimate. Medians of
``--repeats`` windows.

    python benchmarks/bench_explore.py            # writes its section of docs/benchmarks.md
    python benchmarks/bench_explore.py --quick    # shorter windows, prints only
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import threading
import time

from _report import load_note, machine_line, pin_threads, run_worker, update_section


def start_server() -> tuple[object, str]:
    import uvicorn

    from attnflow.explore import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"127.0.0.1:{sock.getsockname()[1]}"


def stream_rates(params: dict, seconds: float, repeats: int) -> list[float]:
    """Frames per second received from a playing simulation, one window per repeat."""
    from websockets.sync.client import connect

    server, address = start_server()
    rates = []
    with connect(f"ws://{address}/ws/particles", max_size=None) as ws:
        ws.send(json.dumps({"type": "reset", "params": params}))
        ws.recv()
        ws.send(json.dumps({"type": "play", "params": {}}))
        for _ in range(3):  # warm-up (the fused kernel compiles on first use)
            ws.recv()
        for _ in range(repeats):
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                json.loads(ws.recv())
                count += 1
            rates.append(count / (time.perf_counter() - start))
    server.should_exit = True
    return rates


def page_rates(n: int, seconds: float, repeats: int) -> list[float]:
    """The page's own render frame rate (requestAnimationFrame) with ``n`` points, one per window."""
    from playwright.sync_api import sync_playwright

    server, address = start_server()
    rates = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.set_default_timeout(120_000)
        page.goto(f"http://{address}/")
        page.wait_for_function("window.attnflowExplore && window.attnflowExplore.received > 0")
        page.fill("#n", str(n))
        page.dispatch_event("#n", "change")
        page.wait_for_function(f"window.attnflowExplore.cloud.count === {n}")
        page.eval_on_selector("#play", "el => el.click()")
        for _ in range(repeats):
            time.sleep(seconds)
            rates.append(page.evaluate("window.attnflowExplore.cloud.fps()"))
        browser.close()
    server.should_exit = True
    return rates


def worker(kind: str, seconds: float, repeats: int) -> None:
    pin_threads(1)
    if kind == "page":
        rates = page_rates(10_000, seconds, repeats)
    else:
        method, steps = kind.split(":")
        params = {"n": 2000, "d": 3, "beta": 4.0, "method": method, "steps_per_frame": int(steps)}
        rates = stream_rates(params, seconds, repeats)
    print(json.dumps(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows, print only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.seconds = 3, 1.5
    if args.worker:
        worker(args.worker, args.seconds, args.repeats)
        return
    cases = {"euler:1": "server, euler, 1 step per frame", "rk4:1": "server, rk4, 1 step per frame"}
    rows = []
    for kind, label in [*cases.items(), ("page", "page, n = 10⁴ points, software WebGL")]:
        rates = run_worker(__file__, kind, "--repeats", str(args.repeats), "--seconds", str(args.seconds))
        rows.append((label, statistics.median(rates), min(rates), max(rates)))
    lines = [
        "## explore: frames streamed by the server and drawn by the page",
        "",
        "`python benchmarks/bench_explore.py`: the server (one torch thread) plays n = 2000, d = 3, β = 4 "
        "and a WebSocket client counts frames (each frame carries the cloud; energy and cluster count are "
        f"measured while their cost stays under a quarter of the stepping time); the page plays n = 10⁴ "
        f"in headless Chromium. Median of {args.repeats} "
        f"windows of {args.seconds:g} s (the server caps itself at 60 frames/s). Targets: ≥ 30 both.",
        "",
        "| what | frames/s (median) | min | max |",
        "|---|---:|---:|---:|",
        *(f"| {label} | {median:.1f} | {low:.1f} | {high:.1f} |" for label, median, low, high in rows),
    ]
    lines += ["", f"{machine_line()} {load_note()}"]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        update_section("explore", text)


if __name__ == "__main__":
    main()
