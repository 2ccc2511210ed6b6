"""The `http` scoring template against a bare batched client, on a stand-in reward server.

The server (tests/fake_reward_server.py, in its own process so that its CPU does not share the
client's GIL) answers each request after a fixed latency, 20 ms by default. Two ways score the same
N texts with the same requests (`texts_per_request` texts each, `concurrency` in flight):
  - template: scoring.engine.score_texts through scoring_templates/http.py, as phase 2 calls it
              (the engine's chunks, a checkpoint on disk, the text cap the template asks for);
  - bare:     one httpx2.Client and a thread pool of `concurrency`, every request submitted at once,
              the rewards read from the answers; nothing else.
The ways alternate, `--runs` times each; the medians and the throughput ratio template/bare are
printed (target: >= 0.8). The rewards of both must be equal.

Usage:
    python bench/bench_http_scoring.py [--n 8000] [--runs 5] [--latency 0.02] [--texts-per-request 32] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")  # the engine's bar would time the terminal too


def texts(n: int) -> list[str]:
    return [f"Answer {i}: " + "a fairly ordinary sentence about the film. " * (1 + i % 7) for i in range(n)]


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_reward_server.py"), "--latency",
                                str(latency)], stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def run_template(url: str, completions: list[str], per_request: int, slots: int) -> tuple[float, list[float]]:
    import utils
    from scoring import budget, engine
    from scoring_templates import http

    options = utils.merge_options({"base_url": url, "api": "pooling", "model": "bench", "texts_per_request": per_request,
                                   "concurrency": slots}, http.OPTIONS, "scoring.model_options", {}, http.CHECKS)
    model = http.build(options)
    tokens, max_texts = budget.engine_settings(model, None, 64, texts_set=False)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        rewards, _ = engine.score_texts(model, [""] * len(completions), completions, max_tokens=tokens,
                                        max_texts=max_texts, checkpoint=engine.Checkpoint(Path(folder) / "c.jsonl"),
                                        chunk_texts=1024)
        seconds = time.perf_counter() - started
    model.close()
    return seconds, rewards


def run_bare(url: str, completions: list[str], per_request: int, slots: int) -> tuple[float, list[float]]:
    import httpx2

    client = httpx2.Client(timeout=60, limits=httpx2.Limits(max_connections=slots, max_keepalive_connections=slots))

    def one(batch):
        data = client.post(f"{url}/pooling", json={"model": "bench", "input": batch}).json()["data"]
        return [item["data"][0] for item in sorted(data, key=lambda item: item["index"])]

    with ThreadPoolExecutor(slots) as pool:
        started = time.perf_counter()
        parts = list(pool.map(one, [completions[k:k + per_request] for k in range(0, len(completions), per_request)]))
        seconds = time.perf_counter() - started
    client.close()
    return seconds, [r for part in parts for r in part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--texts-per-request", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    completions = texts(args.n)
    server, url = start_server(args.latency)
    ways = {"template": run_template, "bare": run_bare}
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    try:
        run_bare(url, completions[:256], args.texts_per_request, args.concurrency)  # warm the server's threads
        reference = None
        for run in range(args.runs):
            for name in (list(ways) if run % 2 == 0 else list(ways)[::-1]):
                took, rewards = ways[name](url, completions, args.texts_per_request, args.concurrency)
                if reference is None:
                    reference = rewards
                elif rewards != reference:
                    sys.exit(f"{name}: the rewards differ from the first run's")
                seconds[name].append(took)
                print(f"run {run + 1} {name:8s} {took:6.3f} s  {args.n / took:8.0f} texts/s", flush=True)
    finally:
        server.terminate()
        server.wait()

    requests = -(-args.n // args.texts_per_request)
    ideal = -(-requests // args.concurrency) * args.latency
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"\n{args.n} texts, {requests} requests of {args.texts_per_request}, concurrency {args.concurrency}, "
          f"latency {args.latency * 1000:g} ms (latency alone: {ideal:.2f} s)")
    for name, value in median.items():
        print(f"{name:8s} median {value:6.3f} s  {args.n / value:8.0f} texts/s")
    ratio = median["bare"] / median["template"]
    print(f"throughput template / bare: {ratio:.2f}x (target >= 0.8)")


if __name__ == "__main__":
    main()
