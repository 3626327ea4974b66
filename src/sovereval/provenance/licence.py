"""Licences of a submitted model and of its borrowed components, and whether they are honoured.

The programme's "from scratch" definition has a policy leg (the team controls the model with no
external licence constraint) and an ethical leg (borrowed open source keeps its licence and its
attribution). This module reads what licences a checkpoint carries (LICENSE/COPYING files,
model-card front-matter ``license``/``license_name``/``license_link``, config ``license``, GGUF
``general.license``), normalises them to SPDX identifiers where one exists and to a stable custom
id for the well-known model licences (Llama, Gemma, Qwen, DeepSeek, EXAONE ...), and compares
them with what the team declared per component.

Recognition is by distinctive phrases over normalised text (lower case, punctuation and runs of
whitespace collapsed to one space), in the spirit of SPDX license-list matching guidelines; the
phrase table lives in the packaged ``licences.json`` so it can be extended without code changes.
Findings are declared evidence: a licence says what the team may do, never whether weights were
derived.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from sovereval.errors import InputError
from sovereval.provenance.declared import DECLARED_NOTE, find_text_file, model_card_metadata
from sovereval.provenance.formats.base import SourceMeta

LICENCE_NOTE = (
    DECLARED_NOTE + " Licence findings concern the programme's policy and attribution "
    "requirements, not the origin of the weights."
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
#: Only this much of a text file is scanned (licence texts are well under it).
_SCAN_CHARS = 400_000
_OWN_ORIGINS = frozenset(
    {"", "own", "self", "none", "original", "scratch", "from scratch", "in house", "team"}
)
_LICENCE_FILE_STEMS = ("license", "licence", "copying")
_ATTRIBUTION_STEMS = ("notice", "readme", "attribution", "third_party", "third-party", "credits")


def normalise_text(text: str) -> str:
    """Lower case, every run of non-alphanumerics as one space, padded with spaces."""
    return " " + _NON_ALNUM.sub(" ", text.lower()).strip() + " "


def _ident_key(text: str) -> str:
    return _NON_ALNUM.sub("", text.lower())


@dataclass(frozen=True)
class Restriction:
    code: str
    """``mau_threshold``, ``acceptable_use_policy``, ``non_commercial``, ``research_only``,
    ``naming_requirement``, ``field_of_use``, ``pass_through``, ``geographic``, ... ."""
    reason: str


@dataclass(frozen=True)
class LicenceFacts:
    """What the programme needs to know about one licence."""

    id: str
    """SPDX identifier where one exists, else a stable custom id such as ``llama3.1``."""
    name: str
    spdx: str | None
    restrictions: tuple[Restriction, ...]
    attribution_required: bool
    copyleft: bool
    """Derivatives must be released under the same terms (GPL family, CC share-alike)."""
    notes: str = ""

    @property
    def usage_restricting(self) -> bool:
        """Any restriction on who may use the model, for what, or under which name."""
        return bool(self.restrictions)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "spdx": self.spdx,
            "usage_restricting": self.usage_restricting,
            "restrictions": [{"code": r.code, "reason": r.reason} for r in self.restrictions],
            "attribution_required": self.attribution_required,
            "copyleft": self.copyleft,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class _Entry:
    facts: LicenceFacts
    identifiers: frozenset[str]
    mentions: tuple[str, ...]
    signatures: tuple[tuple[str, ...], ...]
    urls: tuple[str, ...]
    supersedes: frozenset[str]


class LicenceCatalogue:
    """Recognisers for known licences, built from the ``licences.json`` table."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        try:
            self._entries = tuple(self._entry(e) for e in data["licences"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"licence catalogue is malformed ({exc!r}); fix licences.json"
            ) from exc
        self._by_id = {e.facts.id: e for e in self._entries}
        self._by_ident: dict[str, _Entry] = {}
        for e in self._entries:
            for key in (*e.identifiers, _ident_key(e.facts.id), _ident_key(e.facts.name)):
                self._by_ident.setdefault(key, e)

    @staticmethod
    def _entry(e: Mapping[str, Any]) -> _Entry:
        facts = LicenceFacts(
            id=str(e["id"]),
            name=str(e["name"]),
            spdx=e.get("spdx"),
            restrictions=tuple(Restriction(r["code"], r["reason"]) for r in e["restrictions"]),
            attribution_required=bool(e["attribution_required"]),
            copyleft=bool(e["copyleft"]),
            notes=str(e.get("notes", "")),
        )
        return _Entry(
            facts=facts,
            identifiers=frozenset(_ident_key(i) for i in e["identifiers"]),
            mentions=tuple(normalise_text(m) for m in e["mentions"]),
            signatures=tuple(tuple(normalise_text(p).strip() for p in s) for s in e["signatures"]),
            urls=tuple(u.lower() for u in e["urls"]),
            supersedes=frozenset(e["supersedes"]),
        )

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, licence_id: str) -> LicenceFacts:
        """Facts of a catalogue id; raises :class:`InputError` for an unknown id."""
        try:
            return self._by_id[licence_id].facts
        except KeyError:
            raise InputError(f"unknown licence id {licence_id!r}; see licences.json") from None

    def identify(self, identifier: str) -> LicenceFacts | None:
        """A licence from an identifier or name (``apache-2.0``, ``llama3.1``, ``Gemma``).

        Falls back to phrase/mention recognition for longer names such as
        ``Apache License, Version 2.0``, and to URL recognition for links.
        """
        key = _ident_key(identifier)
        if key in self._by_ident:
            return self._by_ident[key].facts
        found = self.recognise_text(identifier) or self._by_url(identifier)
        return found[0] if len(found) == 1 else None

    def _by_url(self, url: str) -> tuple[LicenceFacts, ...]:
        low = url.lower()
        return tuple(e.facts for e in self._entries if any(u in low for u in e.urls))

    def recognise_text(self, text: str, *, mentions: bool = True) -> tuple[LicenceFacts, ...]:
        """Licences whose signature phrases (or, with ``mentions``, short names) occur in text.

        A full-text signature needs all its phrases. Matches superseded by a more specific
        match (LGPL text quotes the GPL; BSD-3 contains BSD-2's clauses) are dropped.
        """
        norm = normalise_text(text[:_SCAN_CHARS])
        hits = [
            e
            for e in self._entries
            if any(all(p in norm for p in sig) for sig in e.signatures)
            or (mentions and any(m in norm for m in e.mentions))
        ]
        dropped = {s for e in hits for s in e.supersedes}
        return tuple(e.facts for e in hits if e.facts.id not in dropped)


@cache
def default_catalogue() -> LicenceCatalogue:
    """The packaged catalogue (``sovereval/provenance/licences.json``), loaded once."""
    raw = resources.files("sovereval.provenance").joinpath("licences.json").read_text("utf-8")
    return LicenceCatalogue(json.loads(raw))


@dataclass(frozen=True)
class LicenceFinding:
    """One licence statement found in a checkpoint."""

    source: str
    """Where: ``LICENSE``, ``README.md:license``, ``config:license``, ``config:general.license``."""
    raw: str
    """The statement as found (identifier, or the first line of a licence file)."""
    licence: LicenceFacts | None
    """``None`` when the statement was not recognised."""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "raw": self.raw,
            "licence": None if self.licence is None else self.licence.to_json(),
        }


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")[:200]


def read_licences(
    meta: SourceMeta, catalogue: LicenceCatalogue | None = None
) -> tuple[LicenceFinding, ...]:
    """Every licence statement of the model itself (not NOTICE/attribution text)."""
    cat = catalogue or default_catalogue()
    out: list[LicenceFinding] = []
    for name, text in find_text_file(meta.text_files, *_LICENCE_FILE_STEMS):
        found = cat.recognise_text(text, mentions=False) or cat.recognise_text(text)
        out.extend(LicenceFinding(name, _first_line(text), f) for f in found)
        if not found:
            out.append(LicenceFinding(name, _first_line(text), None))
    card, _ = model_card_metadata(meta)
    lic, lic_name, link = (card.get(k) for k in ("license", "license_name", "license_link"))
    if isinstance(lic, list):  # a card may list several licences (dual licensing)
        lics = [x for x in lic[:16] if isinstance(x, str) and x.strip()]
        out.extend(LicenceFinding("README.md:license", x, cat.identify(x)) for x in lics)
    elif isinstance(lic, str) and lic.strip().lower() not in ("other", "unknown"):
        out.append(LicenceFinding("README.md:license", lic, cat.identify(lic)))
    elif isinstance(lic_name, str):
        found_name = cat.identify(lic_name)
        if found_name is None and isinstance(link, str):
            found_name = cat.identify(link)
        out.append(LicenceFinding("README.md:license_name", lic_name, found_name))
    elif isinstance(link, str):
        out.append(LicenceFinding("README.md:license_link", link, cat.identify(link)))
    elif isinstance(lic, str):
        out.append(LicenceFinding("README.md:license", lic, None))
    config = meta.config
    general = config.get("general")
    nested = general.get("license") if isinstance(general, Mapping) else None
    for key, value in (
        ("license", config.get("license")),
        ("general.license", config.get("general.license", nested)),
        ("general.license.name", config.get("general.license.name")),
    ):
        if isinstance(value, str) and value.strip():
            out.append(LicenceFinding(f"config:{key}", value, cat.identify(value)))
    return tuple(out)


# --------------------------------------------------------------------------- assessment


@dataclass(frozen=True)
class LicenceFlag:
    code: str
    """``usage_restricting``, ``undeclared_parent``, ``origin_mismatch``,
    ``declared_licence_mismatch``, ``missing_attribution``, ``incomplete_attribution``,
    ``inconsistent_licences``, ``no_licence_found``, ``unrecognised_licence``,
    ``component_licence_unknown``, ``copyleft``, ``declared_parent_not_found``."""
    severity: str
    """``error`` (breaks a programme requirement if confirmed), ``warning`` or ``info``;
    the RuleSet decides what an error costs."""
    component: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "component": self.component,
            "message": self.message,
        }


@dataclass(frozen=True)
class ComponentLicence:
    name: str
    declared_origin: str | None
    declared_licence: str | None
    licence: LicenceFacts | None
    """The declared licence, recognised; else the one named beside the attribution."""
    found_parent: str | None
    """Parent the weight evidence found (``None``: independent or not examined)."""
    borrowed: bool
    attribution: str
    """``present`` (parent and licence named), ``incomplete`` (parent only), ``missing``,
    or ``not_needed`` (own component)."""
    attribution_source: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "declared_origin": self.declared_origin,
            "declared_licence": self.declared_licence,
            "licence": None if self.licence is None else self.licence.to_json(),
            "found_parent": self.found_parent,
            "borrowed": self.borrowed,
            "attribution": self.attribution,
            "attribution_source": self.attribution_source,
        }


@dataclass(frozen=True)
class LicenceReport:
    model_licences: tuple[LicenceFinding, ...]
    components: tuple[ComponentLicence, ...]
    flags: tuple[LicenceFlag, ...]
    kind: str = "declared"
    note: str = LICENCE_NOTE

    @property
    def usage_restricted(self) -> bool:
        return any(f.code == "usage_restricting" for f in self.flags)

    def flag_codes(self, component: str | None = None) -> set[str]:
        return {f.code for f in self.flags if component is None or f.component == component}

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "note": self.note,
            "usage_restricted": self.usage_restricted,
            "model_licences": [f.to_json() for f in self.model_licences],
            "components": [c.to_json() for c in self.components],
            "flags": [f.to_json() for f in self.flags],
        }


def _is_own(origin: str | None) -> bool:
    return origin is None or normalise_text(origin).strip() in _OWN_ORIGINS


def name_variants(name: str) -> tuple[str, ...]:
    """Normalised ways a model may be named in prose, most specific first.

    ``Qwen/Qwen2.5-VL-7B-Instruct`` -> ``qwen qwen2 5 vl 7b instruct``, ``qwen2 5 vl 7b
    instruct``, ``qwen2 5 vl 7b``, ``qwen2 5 vl`` (hyphen segments dropped from the end while
    two remain).
    """
    bare = re.sub(r"^[a-z]+://[^/]+/", "", name.strip(), flags=re.I).strip("/")
    repo = bare.rsplit("/", 1)[-1]
    parts = [p for p in repo.split("-") if p]
    out = [normalise_text(bare), normalise_text(repo)]
    out += [normalise_text("-".join(parts[:k])) for k in range(len(parts) - 1, 1, -1)]
    return tuple(v for v in dict.fromkeys(out) if v.strip())


def _names_agree(a: str, b: str) -> bool:
    na, nb = normalise_text(a), normalise_text(b)
    return any(v in nb for v in name_variants(a)) or any(v in na for v in name_variants(b))


def _attribution(
    meta: SourceMeta, parents: Sequence[str], cat: LicenceCatalogue
) -> tuple[str, str | None, tuple[LicenceFacts, ...]]:
    """(status, source file, licences named beside the parent) from NOTICE/README prose."""
    variants = [v for p in parents for v in name_variants(p)]
    best: tuple[str, str | None, tuple[LicenceFacts, ...]] = ("missing", None, ())
    for fname, text in find_text_file(meta.text_files, *_ATTRIBUTION_STEMS):
        paras = [p for p in re.split(r"\n\s*\n", text[:_SCAN_CHARS]) if p.strip()]
        for i, para in enumerate(paras):
            if not any(v in normalise_text(para) for v in variants):
                continue
            window = "\n".join(paras[i : i + 2])
            named = cat.recognise_text(window)
            if named:
                return "present", fname, named
            best = ("incomplete", fname, ())
    return best


class _Flags(list[LicenceFlag]):
    def add(self, code: str, severity: str, component: str | None, message: str) -> None:
        self.append(LicenceFlag(code, severity, component, message))

    def restricting(self, component: str | None, lic: LicenceFacts, where: str) -> None:
        if lic.usage_restricting:
            why = "; ".join(r.reason for r in lic.restrictions)
            self.add("usage_restricting", "error", component, f"{where} is under {lic.name}: {why}")


def _model_flags(flags: _Flags, found: Sequence[LicenceFinding], cat: LicenceCatalogue) -> set[str]:
    ids = {f.licence.id for f in found if f.licence is not None}
    if not found:
        flags.add("no_licence_found", "warning", None, "no licence in LICENSE, card or config")
    for f in found:
        if f.licence is None:
            flags.add("unrecognised_licence", "warning", None, f"{f.source}: {f.raw!r} unknown")
    if len(ids) > 1:
        flags.add("inconsistent_licences", "warning", None, f"model under {', '.join(sorted(ids))}")
    for lic_id in sorted(ids):
        flags.restricting(None, cat.get(lic_id), "the model")
    return ids


def _text(c: Mapping[str, Any], key: str) -> str | None:
    v = c.get(key)
    return v if isinstance(v, str) and v.strip() else None


def _assess_component(
    c: Mapping[str, Any],
    parent: str | None,
    examined: bool,
    meta: SourceMeta,
    model_ids: set[str],
    cat: LicenceCatalogue,
    flags: _Flags,
) -> ComponentLicence:
    name, origin = str(c.get("name")), _text(c, "declared_origin")
    lic_raw, own = _text(c, "declared_licence"), _is_own(origin)
    declared = cat.identify(lic_raw) if lic_raw else None
    if lic_raw and declared is None:
        flags.add("unrecognised_licence", "warning", name, f"declared {lic_raw!r} not recognised")
    if parent and own:
        flags.add("undeclared_parent", "error", name, f"derives from {parent}, declared as own")
    elif parent and origin and not _names_agree(origin, parent):
        flags.add("origin_mismatch", "warning", name, f"declared {origin!r}, weights: {parent}")
    elif not parent and not own and examined:
        flags.add("declared_parent_not_found", "info", name, f"{origin!r} not seen in the weights")
    if not parent and own:
        if declared is not None and model_ids and declared.id not in model_ids:
            msg = f"declared {declared.id}; the model carries {', '.join(sorted(model_ids))}"
            flags.add("declared_licence_mismatch", "warning", name, msg)
        return ComponentLicence(name, origin, lic_raw, declared, None, False, "not_needed", None)
    # Attribution must name the parent the weights point to; the declared origin otherwise.
    required = parent or origin or ""
    status, source, named = _attribution(meta, [required], cat)
    if not named and origin and not own and origin != required:
        named = _attribution(meta, [origin], cat)[2]  # licence stated beside the team's claim
    if declared is not None and named and declared.id not in {n.id for n in named}:
        msg = f"declared {declared.id}; the attribution names {', '.join(n.id for n in named)}"
        flags.add("declared_licence_mismatch", "warning", name, msg)
    effective = declared or (named[0] if named else None)
    if effective is None:
        flags.add(
            "component_licence_unknown", "warning", name, f"declare the licence of {required}"
        )
    for lic in dict.fromkeys((*((declared,) if declared else ()), *named)):
        flags.restricting(name, lic, f"component {name!r} (from {required})")
        if lic.copyleft:
            flags.add(
                "copyleft", "info", name, f"{lic.name} is copyleft; derivatives keep its terms"
            )
    if status == "missing":
        sev = "error" if effective is None or effective.attribution_required else "warning"
        flags.add("missing_attribution", sev, name, f"add NOTICE text naming {required} + licence")
    elif status == "incomplete":
        flags.add(
            "incomplete_attribution", "warning", name, f"{source} names {required}, no licence"
        )
    return ComponentLicence(name, origin, lic_raw, effective, parent, True, status, source)


def assess_licences(
    model_meta: SourceMeta,
    components: Sequence[Mapping[str, Any]],
    derived_components: Mapping[str, str | None],
    *,
    catalogue: LicenceCatalogue | None = None,
) -> LicenceReport:
    """Compare licences found with those declared, per component.

    ``components`` are the team's declarations, ``{"name", "declared_origin",
    "declared_licence"}`` (origin ``None``/``"own"``/``"from scratch"`` for own work).
    ``derived_components`` maps a component name to the parent the weight evidence found, or
    ``None`` when it found none; a parent found for an undeclared component is assessed too.
    A component is *borrowed* when either side names a parent; a borrowed component needs
    attribution in NOTICE/README naming the parent (the one the weights point to, if any) and
    its licence.
    """
    cat = catalogue or default_catalogue()
    flags = _Flags()
    found = read_licences(model_meta, cat)
    model_ids = _model_flags(flags, found, cat)
    names = {str(c.get("name")) for c in components}
    extra = [{"name": n} for n, p in sorted(derived_components.items()) if p and n not in names]
    out = tuple(
        _assess_component(
            c,
            derived_components.get(str(c.get("name"))),
            str(c.get("name")) in derived_components,
            model_meta,
            model_ids,
            cat,
            flags,
        )
        for c in [*components, *extra]
    )
    return LicenceReport(model_licences=found, components=out, flags=tuple(flags))
