"""Throughput of the `openai` rewriting engine against a local OpenAI-compatible server.

Requests per second, side by side, against the fake server of the tests (tests/fake_openai.py, run
in its own process) answering each chat completion after a fixed latency:
  - engine:     rewriters/openai.py with the cache on (a fresh sqlite cache, so every request is sent
                and every answer committed), retries and failure detection as in a real run;
  - bare:       a plain AsyncOpenAI client, asyncio.gather under a semaphore of the same concurrency;
  - sequential: the same client, one request at a time (fewer requests: it is slow).
Target (issue 4): engine >= 0.8x bare.

Usage:
    python bench/bench_rewrite.py [--requests 2000] [--concurrency 64] [--latency 0.05] [--sequential 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from fake_openai import FakeOpenAI
server = FakeOpenAI(latency=float(sys.argv[2])).start()
print(server.url, flush=True)
sys.stdin.read()
"""


def start_server(latency: float):
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(REPO / "tests"), str(latency)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def prompts(n: int, tag: str) -> list[str]:
    return [f"{tag} {i}: please rewrite this review so that it is more positive. The acting was fine." for i in range(n)]


async def bare(url: str, texts: list[str], concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(text):
        async with semaphore:
            done = await client.chat.completions.create(model="gpt-4o", temperature=0.7,
                                                        messages=[{"role": "user", "content": text}])
            return done.choices[0].message.content

    started = time.perf_counter()
    answers = await asyncio.gather(*(one(text) for text in texts))
    elapsed = time.perf_counter() - started
    await client.close()
    assert all(answers)
    return len(texts) / elapsed


async def sequential(url: str, texts: list[str]) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0)
    started = time.perf_counter()
    for text in texts:
        await client.chat.completions.create(model="gpt-4o", temperature=0.7, messages=[{"role": "user", "content": text}])
    elapsed = time.perf_counter() - started
    await client.close()
    return len(texts) / elapsed


def engine(url: str, texts: list[str], concurrency: int) -> float:
    sys.path.insert(0, str(REPO))
    from rewriters import RewriteRequest
    from rewriters.openai import build

    with tempfile.TemporaryDirectory() as project:
        os.environ["PROJECT_DIR"] = project
        backend = build({}, None, "gpt-4o", 0.7, 0, {"base_url": url, "max_concurrency": concurrency, "cache": True})
        requests = [RewriteRequest(f"r{i}", text, f"text {i}", True) for i, text in enumerate(texts)]
        started = time.perf_counter()
        results = backend.rewrite(requests)
        elapsed = time.perf_counter() - started
        assert all(result.ok for result in results.values()) and len(backend.cache) == len(texts)
    return len(texts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--sequential", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is reported")
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = "bench"
    server, url = start_server(args.latency)
    try:
        asyncio.run(bare(url, prompts(50, "warm-up"), args.concurrency))
        rates = {"engine": [], "bare": []}
        for round_ in range(args.rounds):
            rates["bare"].append(asyncio.run(bare(url, prompts(args.requests, f"bare{round_}"), args.concurrency)))
            rates["engine"].append(engine(url, prompts(args.requests, f"engine{round_}"), args.concurrency))
        seq = asyncio.run(sequential(url, prompts(args.sequential, "seq")))
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    best = {name: max(values) for name, values in rates.items()}
    print(f"{args.requests} requests, concurrency {args.concurrency}, server latency {args.latency * 1000:.0f} ms")
    print(f"{'':12}{'req/s':>10}{'vs bare':>10}")
    for name in ("engine", "bare"):
        print(f"{name:12}{best[name]:10.1f}{best[name] / best['bare']:9.2f}x")
    print(f"{'sequential':12}{seq:10.1f}{seq / best['bare']:9.2f}x")
    print(f"target engine >= 0.8x bare: {'met' if best['engine'] >= 0.8 * best['bare'] else 'NOT met'}")


if __name__ == "__main__":
    main()
