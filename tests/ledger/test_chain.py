"""Tamper detection: edit, delete, reorder, truncate; export round trip."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.ledger.chain import Event, from_jsonl, make_event, to_jsonl, verify

T = datetime(2026, 1, 1, tzinfo=UTC)


def chain(n: int) -> list[Event]:
    out: list[Event] = []
    prev = None
    for i in range(n):
        prev = make_event(
            prev, T + timedelta(minutes=i), "admin", "test.event", {"i": i, "note": "회의"}
        )
        out.append(prev)
    return out


def test_intact_chain_verifies_and_reports_head() -> None:
    evs = chain(5)
    r = verify(evs)
    assert r.ok and r.count == 5 and r.head == evs[-1].hash
    assert verify(evs, expected_head=evs[-1].hash).ok


def test_edit_is_detected_at_that_event() -> None:
    evs = chain(6)
    bad = dataclasses.replace(evs[3], payload=evs[3].payload.replace('"i":3', '"i":4'))
    r = verify([*evs[:3], bad, *evs[4:]])
    assert not r.ok and r.first_bad_seq == 4 and "altered" in r.problem


def test_delete_is_detected() -> None:
    evs = chain(6)
    r = verify([*evs[:2], *evs[3:]])
    assert not r.ok and r.first_bad_seq == 4 and "missing" in r.problem


def test_reorder_is_detected() -> None:
    evs = chain(6)
    r = verify([evs[0], evs[2], evs[1], *evs[3:]])
    assert not r.ok and r.first_bad_seq == 3


def test_renumbered_reorder_is_detected() -> None:
    # Swapping two events *and* their seq numbers still breaks the links.
    evs = chain(4)
    a = dataclasses.replace(evs[2], seq=2)
    b = dataclasses.replace(evs[1], seq=3)
    r = verify([evs[0], a, b, evs[3]])
    assert not r.ok and r.first_bad_seq == 2


def test_truncation_needs_published_head() -> None:
    evs = chain(5)
    assert verify(evs[:4]).ok  # a shorter chain is self-consistent...
    r = verify(evs[:4], expected_head=evs[-1].hash)  # ...but not against the published head
    assert not r.ok and "truncated" in r.problem


def test_jsonl_round_trip() -> None:
    evs = chain(3)
    back = list(from_jsonl(list(to_jsonl(evs))))
    assert back == evs


@settings(max_examples=60)
@given(st.data())
def test_any_single_byte_change_in_any_payload_is_caught(data: st.DataObject) -> None:
    evs = chain(5)
    k = data.draw(st.integers(0, 4))
    p = evs[k].payload.encode()
    pos = data.draw(st.integers(0, len(p) - 1))
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != p[pos]))
    mutated = (p[:pos] + bytes([new_byte]) + p[pos + 1 :]).decode("utf-8", errors="replace")
    if mutated == evs[k].payload:
        return
    evs[k] = dataclasses.replace(evs[k], payload=mutated)
    r = verify(evs)
    assert not r.ok and r.first_bad_seq == k + 1
