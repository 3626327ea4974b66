"""The one exception tree of sovereval.

Every error a user can cause derives from :class:`SovereValError`. Messages are one line and
say what failed and what to do next. The CLI maps every subclass to exit code 2; the web layer
maps them to HTTP status codes in ``web/errors.py`` (one place).
"""

from __future__ import annotations


class SovereValError(Exception):
    """Base of every error sovereval raises on purpose."""

    #: HTTP status code the web layer answers with.
    http_status: int = 400


class InputError(SovereValError):
    """Input is malformed, unsupported or hostile (bad file, bad JSON, bad option)."""


class HostileInputError(InputError):
    """A file's header or layout is inconsistent in a way that suggests tampering or corruption."""


class UnsupportedFormatError(InputError):
    """The file's format is recognised but not supported, or not recognised at all."""


class NotFoundError(SovereValError):
    """A named record (programme, round, submission, ...) does not exist."""

    http_status = 404


class ConflictError(SovereValError):
    """The request conflicts with current state (duplicate vote, duplicate name, ...)."""

    http_status = 409


class RuleViolation(SovereValError):
    """The action is not allowed by the competition rules or the record's lifecycle."""

    http_status = 422


class DeadlinePassedError(RuleViolation):
    """A deadline (appeal window, review deadline) has passed."""


class PermissionDeniedError(SovereValError):
    """The actor may not perform this action."""

    http_status = 403


class AuthenticationError(SovereValError):
    """No valid credentials were given."""

    http_status = 401


class BackendError(SovereValError):
    """A model server or other external service failed or could not be reached."""

    http_status = 502


class MissingDependencyError(SovereValError):
    """An optional dependency is not installed; the message names the extra to install."""

    http_status = 501


class LedgerIntegrityError(SovereValError):
    """The hash chain does not verify; the message names the first broken event."""

    http_status = 500


def missing_dependency(module: str, extra: str) -> MissingDependencyError:
    """The one-line error for an optional dependency that is not installed."""
    return MissingDependencyError(
        f"'{module}' is not installed; install it with: pip install 'sovereval[{extra}]'"
    )


def require(module: str, extra: str) -> object:
    """Import an optional dependency lazily, or raise with an install hint naming the extra.

    Every import of an optional stack (torch, transformers, onnx, ray, inspect_ai, datasets,
    pyarrow, psutil...) goes through here or :func:`missing_dependency`, so the core install
    never imports them and a missing one is one line, not a traceback.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_dependency(module, extra) from exc
