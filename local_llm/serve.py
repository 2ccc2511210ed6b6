"""Serve SmolLM2-135M-Instruct through `transformers serve` on 127.0.0.1, an OpenAI-compatible endpoint.

Usage:
    python -m local_llm.serve [--port 8765]                # until Ctrl-C
    python -m local_llm.serve --port 8765 -- COMMAND ...   # while COMMAND runs; exits with its status
    python -m local_llm.serve --where                       # print the GGUF file and the served folder

The server runs in PROJECT_DIR/data/models/, pinned to the model folder, so the model's name in
requests is `SmolLM2-135M-Instruct` (`rewrites.model`, `judge.model`) and the base URL
http://127.0.0.1:<port>/v1 (`rewrites.base_url`). Its log, one line per request, is
PROJECT_DIR/data/models/serve_<port>.log.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import local_llm
import utils

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765


class Server:
    """`with Server(port) as server:` starts `transformers serve`, waits until it answers /health, and
    stops it on leaving. `server.base_url`, `server.model`; `server.chat_requests()` counts the chat
    requests it has received, from its own access log."""

    def __init__(self, port: int = DEFAULT_PORT, root: Path | None = None, ready_timeout: float = 180.0):
        self.port, self.ready_timeout = port, ready_timeout
        self.folder = local_llm.prepare(root)
        self.root = self.folder.parent
        self.model = local_llm.NAME
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.log = self.root / f"serve_{port}.log"
        self.process = None

    def command(self) -> list[str]:
        script = Path(sys.executable).with_name("transformers")
        head = [str(script)] if script.is_file() else [sys.executable, "-m", "transformers.cli.transformers"]
        return head + ["serve", self.model, "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu",
                       "--log-level", "info"]

    def __enter__(self) -> "Server":
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        self.log_handle = open(self.log, "w")
        self.process = subprocess.Popen(self.command(), cwd=self.root, env=env, stdout=self.log_handle,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.process.poll() is not None:
                self.__exit__()
                tail = self.log.read_text()[-600:]
                raise utils.RateError(f"transformers serve exited with status {self.process.returncode}: {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__()
                    raise utils.RateError(f"transformers serve did not answer on port {self.port} within "
                                          f"{self.ready_timeout:.0f} s (log: {self.log})") from None
                time.sleep(0.5)
        logger.info("serving %s at %s (log %s)", self.model, self.base_url, self.log)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_handle.close()

    def chat_requests(self) -> int:
        return sum("POST /v1/chat/completions" in line for line in self.log.read_text().splitlines())


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(prog="python -m local_llm.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--where", action="store_true", help="print the GGUF file and the served folder, and exit")
    options = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    utils.setup_logging()
    utils.load_env()
    if options.where:
        print(f"gguf file:     {local_llm.gguf_file()}\nserved folder: {local_llm.models_dir() / local_llm.NAME}")
        return
    with Server(options.port) as server:
        print(f"serving {server.model} at {server.base_url}", flush=True)
        if command:
            status = subprocess.call(command)
            if status:
                raise SystemExit(status)  # the server stops on the way out
            return
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
