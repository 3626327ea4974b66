"""Model backends, registered by URI scheme.

The built-in schemes are ``openai-compat``, ``hf`` and ``mock``; each factory imports its
module (and that module's optional dependencies) only when a URI with its scheme is opened.
"""

from __future__ import annotations

from collections.abc import Mapping

from sovereval.bench.backends.base import (
    Backend,
    Completion,
    GenerateParams,
    LoglikRequest,
    LoglikResult,
    Message,
    ModelURI,
    open_backend,
    register_backend,
    registered_schemes,
)


def _openai_compat(uri: ModelURI, options: Mapping[str, object]) -> Backend:
    from sovereval.bench.backends.openai_compat import make_openai_compat

    return make_openai_compat(uri, options)


def _hf(uri: ModelURI, options: Mapping[str, object]) -> Backend:
    from sovereval.bench.backends.transformers_local import make_transformers

    return make_transformers(uri, options)


def _mock(uri: ModelURI, options: Mapping[str, object]) -> Backend:
    from sovereval.bench.backends.mock import make_mock

    return make_mock(uri, options)


register_backend("openai-compat", _openai_compat)
register_backend("hf", _hf)
register_backend("mock", _mock)

__all__ = [
    "Backend",
    "Completion",
    "GenerateParams",
    "LoglikRequest",
    "LoglikResult",
    "Message",
    "ModelURI",
    "open_backend",
    "register_backend",
    "registered_schemes",
]
