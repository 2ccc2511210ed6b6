"""Both rewrite passes through the `openai` engine against a local server with long-tailed latency.

The server (its own process, so that the client's CPU is measured alone) answers each chat completion
after a lognormal latency, median 0.2 s or 1 s, sigma 1: a few answers take ten times the median, as
real endpoints' do. The latency of a request is drawn from a hash of its prompt (seeded), so every
design below meets the same latency for the same request. Three designs rewrite the same examples
twice (rewrite, then rewritten rewrite), at the same concurrency:
  - engine:   dataset_templates._rewrites.rewrite_twice through rewriters/openai.py as a real run
              uses it (a fresh sqlite cache so every answer is committed, retries, failure
              detection, progress bars): each rewritten rewrite is queued as soon as its rewrite is
              in, on the same client (rewriters.rewrite_chained);
  - barrier:  the same engine with the passes one after the other (rewriters.two_passes, the design
              before issue 17): the second pass waits for the slowest first answer;
  - bare:     a plain AsyncOpenAI client, one coroutine per example asking twice under one
              asyncio.Semaphore: the same pipelining, nothing else.
Settings: median latency 0.2 s and 1 s, concurrency c = 8, 64 and 256, n = 2c examples (4c requests:
each slot serves about four per run). With sigma 1 the slowest request dominates a run whatever n is
(at 1 s, the slowest of 1,024 draws takes about 30 s), so the bench takes about 15 minutes on two
cores, two thirds of it at 1 s (`--median 0.2` alone: about 4 minutes). Each setting runs `--runs`
times, each run with its own prompts, so its own latencies, the designs in a rotating order. Printed:
the median wall time of each design; the median of the paired speed ratios engine/barrier and
engine/bare; beside engine/barrier, the ratio the same latencies give with no client time at all
(ideal: the earliest free slot takes the next request, first in, first out), to read a ratio against
what its draws allowed; and the client CPU per request (process time over requests sent), the
engine's own being engine minus bare.
Every design holds the same number of requests in flight: the engine's with
`adaptive_concurrency: false`, like the bare semaphore. `--adaptive` runs the engine and the barrier
with adaptive concurrency (a real run's default) instead: the limit starts at 1 and doubles with each
answer, which costs about two median latencies per pass, whatever the number of requests.
Targets (issue 17): engine >= 1.15x barrier and >= 0.95x bare.

Usage:
    python bench/bench_rewrite.py [--runs 3] [--median 0.2 1] [--concurrency 8 64 256] [--scale 1.0] [--adaptive]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import heapq
import inspect
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETTINGS = [(median, concurrency, 2 * concurrency) for median in (0.2, 1.0) for concurrency in (8, 64, 256)]
DESIGNS = ("engine", "barrier", "bare")
MODEL, TEMPERATURE = "bench-model", 0.7

SIGMA, SEED = 1.0, "issue-17"


# What the server answers, and after how long: the server runs these two (their source is sent to
# it), and the bench works out the ideal schedules of the same requests with them.
def latency(prompt: str, median: float, sigma: float, seed: str) -> float:
    return median * math.exp(sigma * random.Random(f"{seed}:{prompt}").gauss(0.0, 1.0))


def answer_text(prompt: str) -> str:
    return f"A rewritten text ({hashlib.sha256(prompt.encode()).hexdigest()[:10]}) of {len(prompt)} characters."


# A minimal HTTP/1.1 server (keep-alive, Content-Length bodies), standard library only.
SERVER = "import hashlib, math, random\n" + inspect.getsource(latency) + inspect.getsource(answer_text) + r"""
import asyncio, json, sys

MEDIAN, SIGMA, SEED = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]


def completion(prompt):
    text = answer_text(prompt)
    return {"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench-model",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": text, "refusal": None}}],
            "usage": {"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": len(text) // 4 + 1,
                      "total_tokens": len(prompt) // 4 + len(text) // 4 + 2}}


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            prompt = json.loads(await reader.readexactly(length))["messages"][-1]["content"]
            await asyncio.sleep(latency(prompt, MEDIAN, SIGMA, SEED))
            body = json.dumps(completion(prompt)).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench closes stdin


asyncio.run(main())
"""


class Template:
    """What rewrite_twice asks of a dataset template."""

    rewrite_check = None

    @staticmethod
    def prompt_for(text: str, w: bool) -> str:
        return f"{text}\n\nPlease adjust this movie review so it has {'positive' if w else 'negative'} sentiment."


def examples(n: int, tag: str) -> list:
    from dataset_templates._sampling import Example

    return [Example(f"{tag}-{i}", bool(i % 2), "q", f"Review {i} ({tag}): the acting was fine, the plot was thin "
                    f"and the ending dragged on for far too long.") for i in range(n)]


@contextlib.contextmanager
def measured(into: dict):
    """Wall seconds and this process's CPU seconds of the block."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)


def engine(url: str, chosen: list, concurrency: int, pipelined: bool, adaptive: bool) -> dict:
    from dataset_templates._rewrites import rewrite_twice
    from rewriters.openai import build

    out: dict = {}
    with tempfile.TemporaryDirectory() as project, open(os.devnull, "w") as quiet:
        os.environ["PROJECT_DIR"] = project
        backend = build({}, None, MODEL, TEMPERATURE, 0, {"base_url": url, "max_concurrency": concurrency,
                                                          "adaptive_concurrency": adaptive})
        backend.pipelines = pipelined
        with contextlib.redirect_stderr(quiet), measured(out):  # the bars are drawn, into /dev/null
            results = rewrite_twice(chosen, Template, backend)
        assert all(result.ok for result in results.values()) and len(backend.cache) == 2 * len(chosen)
    out["texts"] = {ex.id: results[f"{ex.id}:rewritten rewrite"].text for ex in chosen}
    out["requests"] = backend.stats["sent"]
    return out


def bare(url: str, chosen: list, concurrency: int) -> dict:
    import openai

    async def run() -> dict:
        client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0)
        semaphore = asyncio.Semaphore(concurrency)

        async def ask(prompt: str) -> str:
            async with semaphore:
                done = await client.chat.completions.create(model=MODEL, temperature=TEMPERATURE, max_tokens=256,
                                                            messages=[{"role": "user", "content": prompt}])
            return done.choices[0].message.content

        async def both(ex) -> str:
            first = await ask(Template.prompt_for(ex.original, not ex.w))
            return await ask(Template.prompt_for(first, ex.w))

        try:
            seconds = await asyncio.gather(*(both(ex) for ex in chosen))
        finally:
            await client.close()
        return {ex.id: text for ex, text in zip(chosen, seconds)}

    out: dict = {}
    with measured(out):
        out["texts"] = asyncio.run(run())
    out["requests"] = 2 * len(chosen)
    return out


def run_design(design: str, url: str, chosen: list, concurrency: int, adaptive: bool = False) -> dict:
    if design == "bare":
        return bare(url, chosen, concurrency)
    return engine(url, chosen, concurrency, design == "engine", adaptive)


@contextlib.contextmanager
def server(median: float):
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(median), str(SIGMA), SEED], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{process.stdout.readline().strip()}/v1"
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def ideal(chosen: list, concurrency: int, median: float) -> tuple[float, float]:
    """The wall times of the barrier and of the pipelined designs for these examples' latencies, with
    no time spent but the server's: the earliest free slot takes the next request, first in, first out."""
    def latency_of(prompt: str) -> float:
        return latency(prompt, median, SIGMA, SEED)

    firsts = [Template.prompt_for(ex.original, not ex.w) for ex in chosen]
    seconds = [Template.prompt_for(answer_text(prompt), ex.w) for prompt, ex in zip(firsts, chosen)]

    def one_pass(prompts: list[str]) -> float:
        slots = [0.0] * concurrency
        for prompt in prompts:
            heapq.heappush(slots, heapq.heappop(slots) + latency_of(prompt))
        return max(slots)

    queue, running, now, free = collections.deque((0, i) for i in range(len(chosen))), [], 0.0, concurrency
    while queue or running:
        while free and queue:
            rewrite, i = queue.popleft()
            free -= 1
            heapq.heappush(running, (now + latency_of((seconds if rewrite else firsts)[i]), rewrite, i))
        now, rewrite, i = heapq.heappop(running)
        free += 1
        if not rewrite:
            queue.append((1, i))
    return one_pass(firsts) + one_pass(seconds), now


def bench_setting(url: str, median: float, concurrency: int, n: int, runs: int, adaptive: bool) -> dict:
    found: dict = {design: [] for design in DESIGNS}
    for run in range(runs):
        chosen = examples(n, f"{median}-{concurrency}-{run}")
        texts = None
        for design in DESIGNS[run % 3:] + DESIGNS[:run % 3]:
            result = run_design(design, url, chosen, concurrency, adaptive)
            assert texts is None or result["texts"] == texts, f"{design} rewrote differently"
            texts = result["texts"]
            found[design].append(result)
    ideals = [ideal(examples(n, f"{median}-{concurrency}-{run}"), concurrency, median) for run in range(runs)]
    wall = {design: statistics.median(r["wall"] for r in found[design]) for design in DESIGNS}
    cpu = {design: 1000 * statistics.median(r["cpu"] / r["requests"] for r in found[design]) for design in DESIGNS}
    ratio = {other: statistics.median(o["wall"] / e["wall"] for o, e in zip(found[other], found["engine"]))
             for other in ("barrier", "bare")}
    ratio["ideal"] = statistics.median(barrier / pipelined for barrier, pipelined in ideals)
    return {"wall": wall, "cpu": cpu, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--median", type=float, nargs="+", default=[0.2, 1.0], help="median latencies to run, s")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 64, 256])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every setting's n")
    parser.add_argument("--adaptive", action="store_true", help="the engine's designs with adaptive concurrency")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    os.environ["OPENAI_API_KEY"] = "bench"
    started = time.perf_counter()
    print(f"lognormal server latency (sigma 1), both passes, median of {args.runs} runs: wall s, speed ratios, "
          f"client CPU ms per request; engine concurrency {'adaptive' if args.adaptive else 'fixed'}", flush=True)
    print(f"{'median':>6} {'conc':>4} {'n':>5} | {'engine':>7} {'barrier':>7} {'bare':>7} | {'vs barrier':>10} "
          f"{'(ideal)':>7} {'vs bare':>7} | {'CPU engine':>10} {'barrier':>7} {'bare':>5} {'engine own':>10}",
          flush=True)
    worst = {"barrier": float("inf"), "bare": float("inf")}
    with server(0.01) as url:  # imports and first-use costs, paid before anything is timed
        for design in DESIGNS:
            run_design(design, url, examples(16, f"warm-{design}"), 8)
    for median in args.median:
        with server(median) as url:
            for at, concurrency, n in SETTINGS:
                if at != median or concurrency not in args.concurrency:
                    continue
                n = max(1, round(n * args.scale))
                found = bench_setting(url, median, concurrency, n, args.runs, args.adaptive)
                wall, cpu, ratio = found["wall"], found["cpu"], found["ratio"]
                worst = {other: min(worst[other], ratio[other]) for other in worst}
                print(f"{median:5.1f}s {concurrency:4d} {n:5d} | {wall['engine']:7.2f} {wall['barrier']:7.2f} "
                      f"{wall['bare']:7.2f} | {ratio['barrier']:9.2f}x {ratio['ideal']:6.2f}x {ratio['bare']:6.2f}x | {cpu['engine']:10.2f} "
                      f"{cpu['barrier']:7.2f} {cpu['bare']:5.2f} {cpu['engine'] - cpu['bare']:+10.2f}", flush=True)
    print(f"lowest engine/barrier {worst['barrier']:.2f}x (target 1.15x: "
          f"{'met' if worst['barrier'] >= 1.15 else 'NOT met'}), lowest engine/bare {worst['bare']:.2f}x "
          f"(target 0.95x: {'met' if worst['bare'] >= 0.95 else 'NOT met'}); {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
