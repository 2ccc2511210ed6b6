"""The scoring engine on a GPU with an 8B-shaped reward model: tokens/s, model FLOP utilisation,
padding, and the ratio to transformers' pipeline and to one text per forward pass, in one run.

The model is LlamaForSequenceClassification with Llama-3-8B's configuration (hidden 4096, 32 heads,
8 KV heads, MLP 14336, vocabulary 128256, `--layers` decoder layers, 32 by default as in the real
model: 7.5 B parameters, 15 GB in bf16), built from config with random weights directly on the
GPU in bfloat16; no checkpoint is written or read. It is scored through the `sfairxc` template's
own code (its loader is handed the built model instead of reading one from disk), with a locally
trained BPE tokenizer and chat template: every way tokenises the raw texts, as in a real run (the
token ids differ from Llama-3's, their count per text is what is set). Texts: `--texts` (2,000)
with lognormal token lengths (median 200, sigma 0.8) clipped to 51-1,493, as in
bench/bench_scoring.py.

    engine           scoring.engine.score_texts: the budget derived from the model and the device
                     (scoring/budget.py), chunks of 1,024 texts tokenised in a background thread,
                     pinned inputs, rewards copied back once per chunk
    engine-serial    the same with tokenising in the calling thread (prefetch_windows=0)
    per-text         one text per forward pass (the original RATE code), on a random subsample
    pipeline         transformers' text-classification pipeline, batch_size 32, on a subsample

The slow ways score a seeded random subsample (`--per-text-texts`, `--pipeline-texts`) and stop at
their time cap; ratios compare real tokens per second, so a subsample of the same distribution
compares fairly. MFU = 2 x (parameters without the embedding table) x real tokens/s / the device's
peak dense bf16 FLOP/s (a table by device name; GPU_PEAK_TFLOPS overrides); padding and attention
FLOPs are not counted as useful work. Rewards in bf16 depend slightly on the batch shape, so they
are compared (largest difference printed) but not required to agree to 1e-4; bench_scoring.py
checks that in fp32.

    bash bench/gpu_scoring.sh                 # on a CUDA machine; the whole run is capped at 8 minutes
    bash bench/gpu_scoring.sh --cpu-smoke     # a tiny model on the CPU, to check the script runs
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s; the first name found in the device's name wins.
PEAK_TFLOPS = [("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("GH200", 989.0),
               ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.0), ("A10G", 70.0), ("L4", 121.0), ("A10", 125.0)]
LLAMA3_8B = dict(hidden_size=4096, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8,
                 vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0, rms_norm_eps=1e-5)
SMOKE = dict(hidden_size=64, intermediate_size=224, num_attention_heads=4, num_key_value_heads=2, vocab_size=128256,
             max_position_embeddings=2048, rope_theta=500000.0, rms_norm_eps=1e-5)


def peak_flops(name: str) -> float | None:
    if os.environ.get("GPU_PEAK_TFLOPS"):
        return float(os.environ["GPU_PEAK_TFLOPS"]) * 1e12
    return next((tflops * 1e12 for key, tflops in PEAK_TFLOPS if key in name), None)


@contextlib.contextmanager
def loader_returns(model):
    """transformers' AutoModelForSequenceClassification.from_pretrained hands back `model`."""
    from transformers import AutoModelForSequenceClassification as Auto

    had = "from_pretrained" in Auto.__dict__
    original = Auto.__dict__.get("from_pretrained")
    Auto.from_pretrained = staticmethod(lambda *args, **kwargs: model)
    try:
        yield
    finally:
        if had:
            Auto.from_pretrained = original
        else:
            del Auto.from_pretrained


def build(folder: Path, layers: int, device: str, dtype, smoke: bool):
    """The sfairxc template over an 8B-shaped (or, smoke, tiny) model built from config on `device`."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    import scoring_tiny_models as tiny
    from scoring_templates import sfairxc

    tokenizer = tiny._bpe_tokenizer(2000)
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(**(SMOKE if smoke else LLAMA3_8B), num_hidden_layers=layers, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForSequenceClassification(config).eval()
    finally:
        torch.set_default_dtype(default)
    with loader_returns(model):
        scorer = sfairxc.build({**sfairxc.OPTIONS, "path": str(folder), "device": device,
                                "dtype": str(dtype).replace("torch.", "")})
    return scorer, model, tokenizer


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device: str, fn):
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    synchronize(device)
    started = time.perf_counter()
    result = fn()
    synchronize(device)
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else 0
    return result, seconds, peak


def per_text(model, questions, completions, cap_s: float):
    rewards, started = [], time.perf_counter()
    for q, c in zip(questions, completions):
        rewards.append(model.score_encoded(model.encode([q], [c]))[0])
        if time.perf_counter() - started > cap_s:
            break
    return rewards


def pipeline_scores(pipe, chats, cap_s: float, batch: int):
    rewards, started = [], time.perf_counter()
    for start in range(0, len(chats), 4 * batch):
        out = pipe(chats[start:start + 4 * batch], add_special_tokens=False, batch_size=batch)
        rewards.extend(r["score"] if isinstance(r, dict) else r[0]["score"] for r in out)
        if time.perf_counter() - started > cap_s:
            break
    return rewards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="a tiny model on the CPU, 48 texts")
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=1024, help="scoring.checkpoint_texts")
    parser.add_argument("--per-text-texts", type=int, default=300)
    parser.add_argument("--pipeline-texts", type=int, default=500)
    parser.add_argument("--pipeline-batch", type=int, default=32)
    parser.add_argument("--cap", type=float, default=75.0, help="seconds each slow way may run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch
    from transformers import pipeline

    import bench_scoring
    from scoring import budget, engine

    smoke = args.cpu_smoke
    if smoke:
        args.layers, args.texts, args.per_text_texts, args.pipeline_texts = 2, 48, 24, 24
        device, dtype, name, memory = "cpu", torch.float32, "CPU (smoke run)", None
    else:
        if not torch.cuda.is_available():
            print("gpu_scoring: no CUDA device visible to torch (bash bench/gpu_scoring.sh --cpu-smoke runs on the CPU)")
            return 2
        device, dtype = "cuda", torch.bfloat16
        props = torch.cuda.get_device_properties(0)
        name, memory = torch.cuda.get_device_name(0), props.total_memory
    peak = None if smoke else peak_flops(name)
    began = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="gpu_scoring_"))
    model, torch_model, tokenizer = build(folder, args.layers, device, dtype, smoke)
    params = sum(p.numel() for p in torch_model.parameters())
    dense = params - torch_model.model.embed_tokens.weight.numel()
    print(f"device: {name}" + (f", {memory / 2**30:.1f} GiB" if memory else "") +
          (f", peak dense bf16 {peak / 1e12:.0f} TFLOP/s" if peak else
           ", no MFU (smoke run)" if smoke else ", peak FLOP/s unknown: no MFU (set GPU_PEAK_TFLOPS)")
          + f"; torch {torch.__version__}")
    print(f"model: LlamaForSequenceClassification, {'tiny smoke' if smoke else 'Llama-3-8B'} shape "
          f"(hidden {torch_model.config.hidden_size}, {torch_model.config.num_attention_heads} heads, "
          f"{torch_model.config.num_key_value_heads} KV heads, MLP {torch_model.config.intermediate_size}, vocab "
          f"{torch_model.config.vocab_size}), {args.layers} layers, {params / 1e9:.2f} B parameters "
          f"({dense / 1e9:.2f} B without embeddings), {str(dtype).replace('torch.', '')}, random weights, "
          f"attention {model.info['attention'] or 'sdpa'}; built in {time.perf_counter() - began:.0f} s")

    targets = bench_scoring.long_tailed_lengths(args.texts, seed=0)
    if smoke:
        targets = [min(t, 400) for t in targets]
    completions = bench_scoring.texts_of_lengths(model.encode, targets, seed=0)
    questions = [bench_scoring.QUESTION] * len(completions)
    lengths = [len(e) for e in model.encode(questions, completions)]
    max_tokens, max_texts = budget.engine_settings(model, None, 64, texts_set=False)
    print(f"texts: {len(lengths)}, lognormal {min(lengths)}-{max(lengths)} tokens, mean {sum(lengths) / len(lengths):.0f}; "
          f"engine budget {max_tokens} tokens, <= {max_texts} texts per batch "
          f"({'derived from the model and the device' if not smoke else 'the CPU default'}), chunks of {args.chunk}")

    tokenise_s = timed("cpu", lambda: model.encode(questions, completions))[1]
    engine.score_texts(model, questions[:64], completions[:64], max_tokens=max_tokens, max_texts=max_texts)  # warm-up
    results = {}
    for way, depth in (("engine", None), ("engine-serial", 0)):
        (rewards, stats), seconds, mem = timed(device, lambda: engine.score_texts(
            model, questions, completions, max_tokens=max_tokens, max_texts=max_texts, chunk_texts=args.chunk,
            prefetch_windows=depth))
        results[way] = dict(items=list(range(len(lengths))), rewards=rewards, seconds=seconds, memory=mem,
                            real=stats.tokens, padded=stats.padded)

    rng = random.Random(1)
    subset = sorted(rng.sample(range(len(lengths)), min(args.per_text_texts, len(lengths))))
    per_text(model, questions[:3], completions[:3], 60)  # warm-up
    rewards, seconds, mem = timed(device, lambda: per_text(model, [questions[i] for i in subset],
                                                           [completions[i] for i in subset], args.cap))
    done = subset[:len(rewards)]
    results["per-text"] = dict(items=done, rewards=rewards, seconds=seconds, memory=mem,
                               real=sum(lengths[i] for i in done), padded=sum(lengths[i] for i in done))

    pipe = pipeline("text-classification", model=torch_model, tokenizer=tokenizer, device=torch.device(device),
                    function_to_apply="none")
    chats = [tokenizer.apply_chat_template([{"role": "user", "content": q}, {"role": "assistant", "content": c}],
                                           tokenize=False) for q, c in zip(questions, completions)]
    subset = sorted(random.Random(2).sample(range(len(lengths)), min(args.pipeline_texts, len(lengths))))
    pipeline_scores(pipe, chats[:args.pipeline_batch], 60, args.pipeline_batch)  # warm-up
    rewards, seconds, mem = timed(device, lambda: pipeline_scores(pipe, [chats[i] for i in subset], args.cap,
                                                                  args.pipeline_batch))
    done = subset[:len(rewards)]
    b = args.pipeline_batch
    padded = sum(max(lengths[i] for i in done[k:k + b]) * len(done[k:k + b]) for k in range(0, len(done), b))
    results[f"pipeline-{b}"] = dict(items=done, rewards=rewards, seconds=seconds, memory=mem,
                                    real=sum(lengths[i] for i in done), padded=padded)

    print("\n| way | texts | tokens/s | texts/s | padding | MFU | seconds | peak GPU memory GiB | engine is x faster |")
    print("|---|---|---|---|---|---|---|---|---|")
    rate = {way: r["real"] / r["seconds"] for way, r in results.items()}
    for way, r in results.items():
        mfu = f"{2 * dense * rate[way] / peak:.1%}" if peak else "n/a"
        print(f"| {way} | {len(r['items'])} | {rate[way]:,.0f} | {len(r['items']) / r['seconds']:.1f} | "
              f"{1 - r['real'] / r['padded']:.1%} | {mfu} | {r['seconds']:.2f} | {r['memory'] / 2**30:.1f} | "
              f"{rate['engine'] / rate[way]:.2f}x |")
    reference = results["engine"]["rewards"]
    spread = max(reference) - min(reference)
    for way, r in results.items():
        gap = max((abs(reference[i] - x) for i, x in zip(r["items"], r["rewards"])), default=0.0)
        print(f"largest reward difference, {way} vs engine: {gap:.2e} (rewards span {spread:.2e})")
    print(f"tokenising all {len(lengths)} texts serially: {tokenise_s:.2f} s; the engine's whole run: "
          f"{results['engine']['seconds']:.2f} s (serial tokenising: {results['engine-serial']['seconds']:.2f} s)")
    pipe_way = f"pipeline-{b}"
    print(f"engine vs pipeline: {rate['engine'] / rate[pipe_way]:.2f}x (target >= 1.5x); vs per-text: "
          f"{rate['engine'] / rate['per-text']:.2f}x; MFU "
          + (f"{2 * dense * rate['engine'] / peak:.1%} (target >= 40 %)" if peak else "n/a")
          + f"; whole script {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
