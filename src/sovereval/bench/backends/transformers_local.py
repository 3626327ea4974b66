"""Local transformers backend: ``hf:/path/to/model_dir[?gguf_file=x.gguf&dtype=float32]``.

torch and transformers are imported lazily (extra ``hf``). A GGUF checkpoint is de-quantised
once into a safetensors copy in the cache directory (keyed by the file's SHA-256), because
transformers' own GGUF path needs ``accelerate`` and spends ~20 s per load re-parsing the file;
the cached copy loads in well under a second and is what both our engine and
lm-evaluation-harness read in the agreement test.

All model work runs on one worker thread (a model is not re-entrant), under
``torch.inference_mode``. Log-likelihood requests that arrive while the worker is busy are
batched together: questions are packed one row each (see :mod:`sovereval.bench.loglik`) and
rows are grouped by length under a token budget, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import platformdirs

from sovereval.bench import loglik as packing
from sovereval.bench.backends.base import (
    Completion,
    GenerateParams,
    LoglikRequest,
    LoglikResult,
    Message,
    ModelURI,
)
from sovereval.errors import BackendError, InputError, NotFoundError, require


def default_cache_dir() -> Path:
    env = os.environ.get("SOVEREVAL_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("sovereval", appauthor=False))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert_gguf(model_dir: Path, gguf_file: str, cache_dir: Path) -> Path:
    """De-quantise ``model_dir/gguf_file`` into a safetensors model directory, once.

    The copy lives at ``cache_dir/gguf/<sha256 prefix>``; it is written to a temporary
    directory and renamed, so a crash never leaves a half-written copy behind.
    """
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    gguf_utils = require("transformers.modeling_gguf_pytorch_utils", "hf")
    src = model_dir / gguf_file
    if not src.is_file():
        raise NotFoundError(f"GGUF file {src} does not exist; check the model URI's gguf_file")
    target = cache_dir / "gguf" / _sha256_file(src)[:24]
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        config = transformers.AutoConfig.from_pretrained(model_dir, gguf_file=gguf_file)  # type: ignore[attr-defined]
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_file)  # type: ignore[attr-defined]
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[attr-defined]
        state = gguf_utils.load_gguf_checkpoint(str(src), return_tensors=True, model_to_load=model)  # type: ignore[attr-defined]
        model.load_state_dict(state["tensors"], strict=False)
        model.tie_weights()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process converted it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


class TransformersBackend:
    """A causal LM loaded in-process with transformers."""

    def __init__(
        self,
        model_dir: Path,
        *,
        gguf_file: str | None = None,
        dtype: str = "float32",
        cache_dir: Path | None = None,
        max_batch_tokens: int = 4096,
        num_threads: int | None = None,
    ) -> None:
        torch: Any = require("torch", "hf")
        transformers: Any = require("transformers", "hf")
        self.torch = torch
        if not model_dir.is_dir():
            raise NotFoundError(f"model directory {model_dir} does not exist; check the hf: URI")
        self._uri = f"hf:{model_dir}" + (f"?gguf_file={gguf_file}" if gguf_file else "")
        load_dir = (
            convert_gguf(model_dir, gguf_file, cache_dir or default_cache_dir())
            if gguf_file
            else model_dir
        )
        self.load_dir = load_dir
        if num_threads:
            self.torch.set_num_threads(num_threads)
        try:
            torch_dtype = getattr(self.torch, dtype)
        except AttributeError as exc:
            raise InputError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16") from exc
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(load_dir)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(load_dir, dtype=torch_dtype)
        self.model.eval()
        self.max_length = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        self.max_batch_tokens = max_batch_tokens
        tok = self.tokenizer
        prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.prefix_token_id = int(prefix if prefix is not None else 0)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sovereval-hf")
        self._pending: list[tuple[list[LoglikRequest], asyncio.Future[list[LoglikResult]]]] = []
        self._drain_task: asyncio.Task[None] | None = None

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def supports_loglik(self) -> bool:
        return True

    @property
    def context_window(self) -> int:
        """The model's declared context window (``max_position_embeddings``)."""
        return self.max_length

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in this model's tokenizer (no special tokens): sizes the
        long-context haystacks."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    # -- tokenisation (lm-eval's HFLM.tok_encode with default special-token handling) --

    def encode(self, text: str) -> list[int]:
        tok = self.tokenizer
        bos = tok.bos_token
        if bos and text.startswith(bos):
            return list(tok.encode(text, add_special_tokens=False))
        return list(tok.encode(text))

    # -- generation ------------------------------------------------------------------

    def _generate_sync(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        torch = self.torch
        chat = [{"role": m.role, "content": m.content} for m in messages]
        if self.tokenizer.chat_template:
            prompt = self.tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, tokenize=False
            )
        else:
            prompt = "\n".join(m.content for m in messages) + "\n"
        ids = self.tokenizer.encode(prompt, add_special_tokens=False, return_tensors="pt")
        kwargs: dict[str, Any] = {"max_new_tokens": params.max_tokens}
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature)
            if params.seed is not None:
                torch.manual_seed(params.seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        eos = self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                pad_token_id=eos,
                **kwargs,
            )
        new = out[0, ids.shape[1] :].tolist()
        finish = "length"
        if eos is not None and eos in new:
            new = new[: new.index(eos)]
            finish = "stop"
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        for stop in params.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, finish = text[:cut], "stop"
        return Completion(
            text=text,
            prompt_tokens=int(ids.shape[1]),
            completion_tokens=len(new),
            finish_reason=finish,
        )

    async def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._generate_sync, messages, params)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"local model {self.uri} failed to generate: {exc}") from exc

    # -- log-likelihood ----------------------------------------------------------------

    def loglik_sync(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        """Score requests in packed, length-batched forward passes (blocking)."""
        torch = self.torch
        groups = packing.build_groups(
            self.encode,
            [(r.context, r.continuation) for r in requests],
            prefix_token_id=self.prefix_token_id,
            max_length=self.max_length,
        )
        rows = [packing.pack(g) for g in groups]
        results: list[LoglikResult | None] = [None] * len(requests)
        base = (
            self.model.get_decoder()
            if hasattr(self.model, "get_decoder")
            else self.model.base_model
        )
        head = self.model.get_output_embeddings()
        with torch.inference_mode():
            for batch in packing.batches_by_length(rows, self.max_batch_tokens):
                self._score_batch(
                    base, head, [rows[i] for i in batch], [groups[i] for i in batch], results
                )
        return [r for r in results if r is not None]

    def _score_batch(
        self,
        base: Any,
        head: Any,
        rows: list[packing.PackedRow],
        groups: list[packing.Group],
        results: list[LoglikResult | None],
    ) -> None:
        torch = self.torch
        width = max(len(r.tokens) for r in rows)
        n = len(rows)
        pad = self.prefix_token_id
        tokens = torch.full((n, width), pad, dtype=torch.long)
        positions = torch.zeros((n, width), dtype=torch.long)
        segments = torch.full((n, width), -1, dtype=torch.long)
        for b, row in enumerate(rows):
            length = len(row.tokens)
            tokens[b, :length] = torch.tensor(row.tokens)
            positions[b, :length] = torch.tensor(row.positions)
            segments[b, :length] = torch.tensor(row.segments)
        idx = torch.arange(width)
        causal = idx[None, :] <= idx[:, None]  # [query, key]
        seg_q = segments[:, :, None]
        seg_k = segments[:, None, :]
        same = (seg_k == 0) | (seg_k == seg_q)
        ok = causal[None] & same & (seg_q >= 0)
        ok = ok | (torch.eye(width, dtype=torch.bool)[None] & (seg_q < 0))
        dtype = next(self.model.parameters()).dtype
        mask = torch.zeros((n, 1, width, width), dtype=dtype)
        mask.masked_fill_(~ok[:, None], torch.finfo(dtype).min)
        hidden = base(
            input_ids=tokens, attention_mask=mask, position_ids=positions
        ).last_hidden_state
        for b, (row, group) in enumerate(zip(rows, groups, strict=True)):
            src = torch.tensor([t[0] for t in row.targets])
            tgt = torch.tensor([t[1] for t in row.targets])
            logits = head(hidden[b, src]).float()
            logprobs = torch.log_softmax(logits, dim=-1)
            token_lp = logprobs.gather(1, tgt[:, None])[:, 0]
            greedy = logits.argmax(dim=-1) == tgt
            which = torch.tensor([t[2] for t in row.targets])
            for j, req_index in enumerate(group.request_indices):
                sel = which == j
                results[req_index] = LoglikResult(
                    logprob=float(token_lp[sel].sum()),
                    is_greedy=bool(greedy[sel].all()),
                    n_tokens=int(sel.sum()),
                    context_tokens=len(group.context),
                )

    async def loglikelihood(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        """Queue ``requests``; everything queued while the worker is busy runs as one batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[LoglikResult]] = loop.create_future()
        self._pending.append((list(requests), future))
        if self._drain_task is None:
            self._drain_task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                flat = [r for reqs, _ in batch for r in reqs]
                try:
                    scored = await loop.run_in_executor(self._executor, self.loglik_sync, flat)
                except (RuntimeError, ValueError) as exc:
                    error = BackendError(f"local model {self.uri} failed to score: {exc}")
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(error)
                    continue
                start = 0
                for reqs, fut in batch:
                    if not fut.done():
                        fut.set_result(scored[start : start + len(reqs)])
                    start += len(reqs)
        finally:
            self._drain_task = None

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True)


def make_transformers(uri: ModelURI, options: Mapping[str, object]) -> TransformersBackend:
    merged: dict[str, object] = {**uri.options, **options}
    gguf = merged.get("gguf_file")
    cache = merged.get("cache_dir")
    threads = merged.get("num_threads")
    return TransformersBackend(
        Path(uri.target).expanduser(),
        gguf_file=str(gguf) if gguf else None,
        dtype=str(merged.get("dtype", "float32")),
        cache_dir=Path(str(cache)) if cache else None,
        max_batch_tokens=int(str(merged.get("max_batch_tokens", 4096))),
        num_threads=int(str(threads)) if threads else None,
    )
