"""The model-backend seam: one small Protocol, value types, and a registry keyed by URI scheme.

A model is named by a URI so that a submission, a journal and a cache entry all record the
same string:

- ``openai-compat:http://host:port/v1#model-name`` — any OpenAI-compatible server
  (vLLM, SGLang, TGI, llama.cpp);
- ``hf:/path/to/model_dir[?gguf_file=x.gguf]`` — local transformers (extra ``hf``);
- ``mock:[name][?option=value...]`` — a deterministic fake for tests and demos.

Backends are registered by scheme (:func:`register_backend`) and import their optional
dependencies lazily, so importing this module never imports torch or an HTTP client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from sovereval.errors import InputError

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat turn."""

    role: Role
    content: str


@dataclass(frozen=True)
class GenerateParams:
    """Decoding parameters; part of every cache key."""

    temperature: float = 0.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Completion:
    """A generated answer and what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"


@dataclass(frozen=True)
class LoglikRequest:
    """Score ``continuation`` given ``context`` (lm-evaluation-harness's ``loglikelihood``)."""

    context: str
    continuation: str


@dataclass(frozen=True)
class LoglikResult:
    """Sum of the continuation's token log-probabilities, and whether greedy decoding
    would have produced it (lm-evaluation-harness's ``(logprob, is_greedy)`` pair)."""

    logprob: float
    is_greedy: bool
    n_tokens: int
    context_tokens: int = 0


@runtime_checkable
class Backend(Protocol):
    """What the engine needs from a model.

    ``generate`` and ``loglikelihood`` are coroutines: the HTTP backend overlaps requests,
    the local backend runs its forward passes in a worker thread and batches whatever is
    pending. Backends raise :class:`sovereval.errors.BackendError` with a one-line message
    (which model, what happened, what to do) once their own retries are exhausted.
    """

    @property
    def uri(self) -> str:
        """Canonical model URI, recorded in journals and cache keys."""
        ...

    @property
    def supports_loglik(self) -> bool:
        """True when :meth:`loglikelihood` works (local weights or a completions endpoint)."""
        ...

    async def generate(self, messages: Sequence[Message], params: GenerateParams) -> Completion:
        """Answer a chat conversation."""
        ...

    async def loglikelihood(self, requests: Sequence[LoglikRequest]) -> list[LoglikResult]:
        """Score each request; results are in request order."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads and memory."""
        ...


@dataclass(frozen=True)
class ModelURI:
    """A parsed model URI: ``scheme:target[?query][#fragment]``."""

    scheme: str
    target: str
    options: Mapping[str, str] = field(default_factory=dict)
    fragment: str = ""
    raw: str = ""

    @classmethod
    def parse(cls, uri: str) -> ModelURI:
        """Split a model URI; the scheme is everything before the first colon."""
        text = uri.strip()
        scheme, sep, rest = text.partition(":")
        if not sep or not scheme or not scheme.replace("-", "").replace("_", "").isalnum():
            raise InputError(
                f"model URI {uri!r} has no scheme; use e.g. 'openai-compat:http://host:8000/v1#model', "
                "'hf:/path/to/model' or 'mock:'"
            )
        rest, _, fragment = rest.partition("#")
        query = ""
        # The query belongs to the URI only for non-HTTP targets: an HTTP base URL keeps its own.
        if not rest.startswith(("http://", "https://")):
            rest, _, query = rest.partition("?")
        options = dict(parse_qsl(query, keep_blank_values=True))
        return cls(scheme=scheme.lower(), target=rest, options=options, fragment=fragment, raw=text)


BackendFactory = Callable[[ModelURI, Mapping[str, object]], Backend]

_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(scheme: str, factory: BackendFactory) -> None:
    """Register ``factory`` for model URIs that start with ``scheme:``.

    Later registrations replace earlier ones, so a deployment can swap a backend.
    """
    _REGISTRY[scheme.lower()] = factory


def registered_schemes() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def open_backend(uri: str, **options: object) -> Backend:
    """Build the backend a model URI names; ``options`` are backend settings
    (for example ``timeout_s``, ``max_retries``, ``concurrency``)."""
    parsed = ModelURI.parse(uri)
    factory = _REGISTRY.get(parsed.scheme)
    if factory is None:
        known = ", ".join(registered_schemes()) or "none"
        raise InputError(
            f"unknown model backend {parsed.scheme!r} in {uri!r}; registered backends: {known}"
        )
    return factory(parsed, options)
