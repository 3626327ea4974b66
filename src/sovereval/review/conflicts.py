"""Conflicts of interest between experts and consortia.

Three detected sources and one declared source, merged per (expert, consortium) pair:

- ``affiliation``: an affiliation of the expert (by organisation name or email domain) with a
  member organisation of the consortium that is current or ended within ``window_years`` before
  the review date. Affiliations that start after the review date (an accepted offer) count too.
- ``programme_tie``: the expert is affiliated, within the same window, with a company on the
  programme-ties list (for example a GPU supplier) that is tied to the consortium. This is the
  case the reference programme stumbled on: competing companies also supplied GPUs.
- ``declared_relation``: the expert declared a relation (adviser, shareholder, family, ...) to a
  member organisation or to the consortium itself.
- ``self_declared``: the expert declared a conflict with the consortium directly.

Organisation names are compared after :func:`normalise_org`, so "Upstage Inc.", "(주)업스테이지"
and "UPSTAGE" match when the registry lists the Korean name as an alias.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sovereval.errors import InputError

ConflictKind = Literal["affiliation", "programme_tie", "declared_relation", "self_declared"]
ConflictSource = Literal["declared", "detected"]

#: Legal-form words dropped from the end (or, for Korean forms, anywhere) of organisation names.
_LEGAL_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "co", "company", "corp", "corporation", "ltd", "limited", "llc",
        "llp", "plc", "gmbh", "ag", "sa", "kk", "bv", "nv", "pte", "pty",
    }
)  # fmt: skip
_KOREAN_FORMS = ("주식회사", "유한회사", "유한책임회사", "(주)", "(유)", "㈜")
#: Webmail domains never identify an employer; an organisation listing one is a data error.
_PUBLIC_MAIL = frozenset(
    {"gmail.com", "naver.com", "daum.net", "hanmail.net", "kakao.com", "outlook.com",
     "hotmail.com", "yahoo.com", "icloud.com", "proton.me", "protonmail.com"}
)  # fmt: skip


def normalise_org(name: str) -> str:
    """Canonical organisation name: NFKC, case-folded, no punctuation, no legal form.

    ``"LG AI Research Co., Ltd."`` -> ``"lg ai research"``; ``"(주)업스테이지"`` -> ``"업스테이지"``;
    ``"㈜ Naver Cloud Corp."`` -> ``"naver cloud"``.
    """
    s = unicodedata.normalize("NFKC", name).casefold()
    for form in _KOREAN_FORMS:
        s = s.replace(unicodedata.normalize("NFKC", form).casefold(), " ")
    s = s.replace(".", "")  # "S.A." -> "sa", "Co.,Ltd." -> "co,ltd"
    s = re.sub(r"[^\w]+", " ", s)
    tokens = s.split()
    while tokens and tokens[-1] in _LEGAL_SUFFIXES:
        tokens.pop()
    return " ".join(tokens)


def normalise_domain(domain: str) -> str:
    """Lower-case domain without a leading ``@`` or dots: ``"@Ai.LG.com."`` -> ``"ai.lg.com"``."""
    d = domain.strip().casefold().lstrip("@").strip(".")
    if "@" in d:
        d = d.rsplit("@", 1)[1]
    return d


def domain_matches(domain: str, org_domain: str) -> bool:
    """True if ``domain`` is ``org_domain`` or one of its subdomains."""
    d, o = normalise_domain(domain), normalise_domain(org_domain)
    return bool(d) and bool(o) and (d == o or d.endswith("." + o))


@dataclass(frozen=True)
class Organisation:
    name: str
    email_domains: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    """Other names of the same legal entity (Korean and English names, former names)."""

    def __post_init__(self) -> None:
        if not normalise_org(self.name):
            raise InputError(f"organisation name {self.name!r} is empty after normalisation")
        public = [d for d in self.email_domains if normalise_domain(d) in _PUBLIC_MAIL]
        if public:
            raise InputError(
                f"organisation '{self.name}' lists public mail domain(s) {public}; "
                "list only domains the organisation controls"
            )

    def names(self) -> frozenset[str]:
        return frozenset(normalise_org(n) for n in (self.name, *self.aliases)) - {""}

    def matches(self, name: str = "", domains: Iterable[str] = ()) -> bool:
        if name and normalise_org(name) in self.names():
            return True
        return any(domain_matches(d, o) for d in domains for o in self.email_domains)


@dataclass(frozen=True)
class Affiliation:
    organisation: str
    email_domains: tuple[str, ...] = ()
    start: date | None = None
    """None: since an unknown date."""
    end: date | None = None
    """None: current. An affiliation is active on ``end`` itself (inclusive)."""


@dataclass(frozen=True)
class DeclaredRelation:
    target: str
    """An organisation name or a consortium id/name."""
    kind: str
    """Adviser, shareholder, family member, co-author, ..."""
    note: str = ""


@dataclass(frozen=True)
class Expert:
    id: str
    name: str
    email: str = ""
    """Current address; its domain counts as a current affiliation."""
    affiliations: tuple[Affiliation, ...] = ()
    relations: tuple[DeclaredRelation, ...] = ()


@dataclass(frozen=True)
class Consortium:
    id: str
    name: str
    members: tuple[Organisation, ...]


@dataclass(frozen=True)
class ProgrammeTie:
    """A company with another tie to the programme, e.g. the GPU supplier of some consortia."""

    company: Organisation
    consortium_ids: tuple[str, ...]
    kind: str = "GPU supplier"


@dataclass(frozen=True)
class SelfDeclaredConflict:
    expert_id: str
    consortium_id: str
    reason: str


@dataclass(frozen=True)
class ConflictReason:
    kind: ConflictKind
    source: ConflictSource
    detail: str


@dataclass(frozen=True)
class Conflict:
    expert_id: str
    consortium_id: str
    reasons: tuple[ConflictReason, ...]

    @property
    def sources(self) -> frozenset[ConflictSource]:
        return frozenset(r.source for r in self.reasons)


def years_before(day: date, years: int) -> date:
    """Same calendar day ``years`` earlier; 29 February falls back to 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _active_since(aff: Affiliation, window_start: date) -> bool:
    """The affiliation is current, upcoming, or ended on or after ``window_start``."""
    return aff.end is None or aff.end >= window_start


def _describe(aff: Affiliation, review_date: date, window_years: int) -> str:
    if aff.start is not None and aff.start > review_date:
        return f"upcoming from {aff.start.isoformat()}"
    if aff.end is None or aff.end >= review_date:
        return "current"
    return f"ended {aff.end.isoformat()}, within {window_years} years of {review_date.isoformat()}"


def _expert_affiliations(expert: Expert) -> tuple[Affiliation, ...]:
    own: tuple[Affiliation, ...] = ()
    if expert.email and "@" in expert.email:
        own = (Affiliation("", (normalise_domain(expert.email),)),)
    return (*expert.affiliations, *own)


def _hit(org: Organisation, aff: Affiliation) -> str | None:
    if aff.organisation and org.matches(aff.organisation):
        return f"affiliated with '{aff.organisation}'"
    for d in aff.email_domains:
        if org.matches(domains=(d,)):
            return f"email domain '{normalise_domain(d)}'"
    return None


def detect_conflicts(
    experts: Iterable[Expert],
    consortia: Iterable[Consortium],
    *,
    review_date: date,
    window_years: int,
    ties: Iterable[ProgrammeTie] = (),
) -> tuple[Conflict, ...]:
    """Conflicts the system finds in the registry (affiliations, ties, declared relations).

    ``window_years`` comes from the RuleSet: a past affiliation that ended on or after
    ``review_date - window_years`` (calendar years, inclusive) is a conflict; one that ended
    earlier is not.
    """
    if window_years < 0:
        raise InputError(f"conflict window must be >= 0 years, got {window_years}")
    window_start = years_before(review_date, window_years)
    consortia = tuple(consortia)
    ties = tuple(ties)
    found: list[Conflict] = []
    for ex in experts:
        affs = [a for a in _expert_affiliations(ex) if _active_since(a, window_start)]
        for cons in consortia:
            reasons: list[ConflictReason] = []
            for aff in affs:
                for org in cons.members:
                    hit = _hit(org, aff)
                    if hit:
                        reasons.append(
                            ConflictReason(
                                "affiliation",
                                "detected",
                                f"{hit}, member '{org.name}' ({_describe(aff, review_date, window_years)})",
                            )
                        )
                for tie in ties:
                    if cons.id in tie.consortium_ids:
                        hit = _hit(tie.company, aff)
                        if hit:
                            reasons.append(
                                ConflictReason(
                                    "programme_tie",
                                    "detected",
                                    f"{hit}: {tie.kind} '{tie.company.name}' is tied to "
                                    f"'{cons.name}' ({_describe(aff, review_date, window_years)})",
                                )
                            )
            cons_names = {normalise_org(cons.name), normalise_org(cons.id)}
            for rel in ex.relations:
                target_is_member = any(org.matches(rel.target) for org in cons.members)
                if target_is_member or normalise_org(rel.target) in cons_names:
                    reasons.append(
                        ConflictReason(
                            "declared_relation",
                            "declared",
                            f"declared {rel.kind} relation to '{rel.target}'"
                            + (f": {rel.note}" if rel.note else ""),
                        )
                    )
            if reasons:
                found.append(Conflict(ex.id, cons.id, tuple(dict.fromkeys(reasons))))
    return tuple(found)


def merge_conflicts(
    detected: Iterable[Conflict], declared: Iterable[SelfDeclaredConflict]
) -> tuple[Conflict, ...]:
    """One record per (expert, consortium) with every reason and its source, sorted by ids."""
    merged: dict[tuple[str, str], list[ConflictReason]] = {}
    for c in detected:
        merged.setdefault((c.expert_id, c.consortium_id), []).extend(c.reasons)
    for d in declared:
        if not d.reason.strip():
            raise InputError(
                f"self-declared conflict of '{d.expert_id}' with '{d.consortium_id}' needs a reason"
            )
        merged.setdefault((d.expert_id, d.consortium_id), []).append(
            ConflictReason("self_declared", "declared", d.reason.strip())
        )
    return tuple(Conflict(e, c, tuple(dict.fromkeys(rs))) for (e, c), rs in sorted(merged.items()))


def find_conflicts(
    experts: Iterable[Expert],
    consortia: Iterable[Consortium],
    *,
    review_date: date,
    window_years: int,
    ties: Iterable[ProgrammeTie] = (),
    declared: Iterable[SelfDeclaredConflict] = (),
) -> tuple[Conflict, ...]:
    """Detected and self-declared conflicts, merged: the input of the assignment."""
    detected = detect_conflicts(
        experts, consortia, review_date=review_date, window_years=window_years, ties=ties
    )
    return merge_conflicts(detected, declared)


def conflicted_pairs(
    conflicts: Iterable[Conflict], submission_consortium: Mapping[str, str]
) -> frozenset[tuple[str, str]]:
    """(expert id, submission id) pairs that must never be assigned.

    ``submission_consortium`` maps each submission id to the id of the consortium behind it.
    """
    by_cons: dict[str, list[str]] = {}
    for sub, cons in submission_consortium.items():
        by_cons.setdefault(cons, []).append(sub)
    return frozenset(
        (c.expert_id, sub) for c in conflicts for sub in by_cons.get(c.consortium_id, ())
    )
