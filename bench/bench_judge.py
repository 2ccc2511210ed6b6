"""What the LLM judge costs: its requests per second through the engine, and the share of
create_dataset.py's time it adds, against a local OpenAI-compatible server.

Two servers, chosen with --server:
  fake     the tests' server (tests/fake_openai.py, its own process), answering after --latency s, many
           requests at once: the engine's own overhead. Judge through the engine (cache, retries,
           parsing, verdicts) against a bare AsyncOpenAI gather of the same questions.
  smollm2  SmolLM2-135M-Instruct through `transformers serve` (local_llm/), one request at a time:
           what a user of a local model sees. Judge through the engine against a bare sequential
           client (the server takes one request at a time, so that is the bare client's best).
Then create_dataset.py on --examples synthetic reviews, as a subprocess, with `judge.method: llm` and
with `judge.method: none`, each with a fresh cache; the share the judge adds is
(t_llm - t_none) / t_llm.

Usage:
    python bench/bench_judge.py [--server fake] [--texts 1000] [--latency 0.05] [--examples 200]
    python bench/bench_judge.py --server smollm2 --texts 40 --examples 10
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
sys.path.insert(0, str(REPO))
SERVER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from fake_openai import FakeOpenAI
server = FakeOpenAI(lambda prompt: "B" if "Which of these" in prompt else prompt.split("\n\nPlease")[0][::-1],
                    latency=float(sys.argv[2])).start()
print(server.url, flush=True)
sys.stdin.read()
"""


def texts(n: int) -> list[str]:
    from template_contract import build

    rows = build("dataset_templates", "synthetic_sentiment").load_rows()
    return [rows[i % len(rows)]["text"] + f" ({i})" for i in range(n)]


def judge_rate(url: str, model: str, items: list[tuple[str, str]], concurrency: int) -> tuple[float, int]:
    """Judgements per second through the engine (a fresh cache), and how many reached a verdict."""
    import utils
    from judges.llm import LLMJudge
    from template_contract import build

    template = build("dataset_templates", "synthetic_sentiment")
    with tempfile.TemporaryDirectory() as project:
        os.environ["PROJECT_DIR"] = project
        settings = {**utils.load_config(None)["rewrites"], "base_url": url, "max_tokens": 10, "logprobs": 5,
                    "max_concurrency": concurrency}
        backend = build("rewriters", "openai", template, model, 0.0, 0, settings, "judge")
        judge = LLMJudge(backend, template, "openai")
        started = time.perf_counter()
        verdicts = judge.judge(items)
        elapsed = time.perf_counter() - started
    return len(items) / elapsed, sum(v.w is not None for v in verdicts.values())


async def bare_rate(url: str, model: str, prompts: list[str], concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0, timeout=600)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(prompt):
        async with semaphore:
            done = await client.chat.completions.create(model=model, temperature=0.0, max_tokens=10,
                                                        messages=[{"role": "user", "content": prompt}])
            return done.choices[0].message.content

    started = time.perf_counter()
    answers = await asyncio.gather(*(one(p) for p in prompts))
    elapsed = time.perf_counter() - started
    await client.close()
    assert all(answers is not None for answers in answers)
    return len(prompts) / elapsed


def phase_seconds(url: str, model: str, examples: int, judge: str) -> float:
    with tempfile.TemporaryDirectory() as project:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(REPO / "create_dataset.py"), "--config", str(REPO / "config.yaml"),
                               "--rewrites.backend=openai", f"--rewrites.base_url={url}", f"--rewrites.model={model}",
                               "--rewrites.temperature=0.0", f"--rewrites.n_examples={examples}", f"--judge.method={judge}",
                               "--rewrites.timeout=600"],
                              env={**os.environ, "PROJECT_DIR": project, "OPENAI_API_KEY": "bench"},
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"create_dataset.py failed:\n{done.stderr[-2000:]}")
    return elapsed


def measure(url: str, model: str, args, concurrency: int) -> None:
    from judges.llm import prompt_for
    from template_contract import build

    template = build("dataset_templates", "synthetic_sentiment")
    batch = texts(args.texts)
    items = [(f"t{i}", text) for i, text in enumerate(batch)]
    bare = asyncio.run(bare_rate(url, model, [prompt_for(template, t + " bare") for t in batch], concurrency))
    engine, decided = judge_rate(url, model, items, concurrency)
    print(f"judge, {len(items)} texts, {args.server} server, at most {concurrency} in flight")
    print(f"{'':22}{'texts/s':>10}{'vs bare':>10}")
    print(f"{'engine (LLMJudge)':22}{engine:10.2f}{engine / bare:9.2f}x   ({decided} of {len(items)} reached a verdict)")
    print(f"{'bare client':22}{bare:10.2f}{1.0:9.2f}x")
    with_judge = phase_seconds(url, model, args.examples, "llm")
    without = phase_seconds(url, model, args.examples, "none")
    print(f"create_dataset.py, {args.examples} examples: judge.method llm {with_judge:.1f} s, none {without:.1f} s; "
          f"the judge adds {100 * (with_judge - without) / with_judge:.0f}% of the phase's time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=("fake", "smollm2"), default="fake")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = "bench"
    sys.path.insert(0, str(REPO / "tests"))
    if args.server == "fake":
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(REPO / "tests"), str(args.latency)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            print(f"fake server latency {args.latency * 1000:.0f} ms")
            measure(server.stdout.readline().strip(), "judge-model", args, args.concurrency)
        finally:
            server.stdin.close()
            server.wait(timeout=10)
        return
    from local_llm.serve import Server

    with Server(8799) as server:  # the model folder is made once, under PROJECT_DIR/data/models
        measure(server.base_url, server.model, args, 1)


if __name__ == "__main__":
    main()
