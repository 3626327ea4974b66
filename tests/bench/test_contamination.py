"""Contamination: planted overlaps are found (Korean by characters, English by tokens),
clean items are not flagged, hash collisions are confirmed away, and the clean score drops
the contaminated items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sovereval.bench import contamination
from sovereval.bench.contamination import (
    NgramConfig,
    Scanner,
    build_index,
    clean_score,
    is_cjk,
    normalise,
    scan_file,
    scan_texts,
)
from sovereval.bench.items import Item
from sovereval.bench.loaders import load
from tests.bench._shared import shared_bench

KO = Item(
    id="ko",
    kind="mc",
    prompt="민지는 아침마다 도서관에 들러 신문을 읽은 뒤 학교에 간다. 어느 날 도서관이 공사로 문을 닫자 민지는 집에서 신문을 읽었다.",
    choices=("늦잠을 자서", "도서관에 들르지 않아서"),
    target="B",
)
EN = Item(
    id="en",
    kind="exact",
    prompt="Sam waters the tomato plants every evening, but during the week of heavy rain he did not water them at all. Why?",
    target="rain",
)
OTHER = Item(
    id="other",
    kind="exact",
    prompt="완전히 다른 내용의 문항으로 훈련 데이터에는 전혀 나오지 않는 문장입니다 정말로요",
    target="x",
)
SHORT = Item(id="short", kind="exact", prompt="네?", target="네")

NOISE = "오늘은 날씨가 맑고 바람이 분다. The quick brown fox jumps over the lazy dog. " * 40


def test_script_detection_and_normalisation() -> None:
    assert is_cjk(normalise(KO.prompt)) and not is_cjk(normalise(EN.prompt))
    assert normalise("Ｈｅｌｌｏ,  World!「서울」") == "hello world 서울"


def test_planted_korean_overlap_survives_spacing_and_punctuation() -> None:
    # Korean is checked on whitespace-free characters: re-spaced, re-punctuated copies still match.
    # The item's prompt is exactly 50 characters once spaces and punctuation are removed: one
    # 50-gram, found here although every space and punctuation mark differs.
    planted = "민지는아침마다 도서관에  들러 신문을, 읽은 뒤 학교에 간다... 어느날 도서관이 공사로 문을 닫자, 민지는 집에서 신문을 읽었다!!"
    report = scan_texts([KO, EN, OTHER], [NOISE, planted, NOISE])
    assert report.contaminated_ids == ("ko",)
    row = next(r for r in report.items if r.item_id == "ko")
    assert row.mode == "char" and row.n == 50 and row.n_matched >= 1


def test_planted_english_13_gram() -> None:
    # exactly 13 consecutive tokens of EN: "the tomato plants every evening but during the week of heavy rain he"
    planted = (
        "blah blah The tomato plants, every evening; but during the week of heavy rain he went out."
    )
    report = scan_texts([KO, EN, OTHER], [NOISE + planted])
    assert report.contaminated_ids == ("en",)
    row = next(r for r in report.items if r.item_id == "en")
    assert row.mode == "token" and row.n == 13 and row.n_matched == 1


def test_twelve_tokens_are_not_enough() -> None:
    planted = "the tomato plants every evening but during the week of heavy rain"  # 12 tokens
    assert scan_texts([EN], [planted]).contaminated_ids == ()


def test_overlap_split_across_chunks_is_found() -> None:
    text = "xx " + normalise(EN.prompt) + " yy"
    half = len(text) // 2
    scanner = Scanner(build_index([EN]))
    scanner.feed(text[:half])
    scanner.feed(text[half:])
    assert scanner.report().contaminated_ids == ("en",)
    ko_text = KO.prompt
    scanner = Scanner(build_index([KO]))
    for i in range(0, len(ko_text), 7):  # 7-character chunks, far shorter than a 50-gram
        scanner.feed(ko_text[i : i + 7])
    assert scanner.report().contaminated_ids == ("ko",)


def test_short_items_are_reported_unchecked() -> None:
    report = scan_texts([SHORT, KO], ["네?"])
    assert report.unchecked == ("short",) and report.contaminated_ids == ()


def test_short_korean_item_uses_a_shorter_window() -> None:
    item = Item(
        id="s", kind="exact", prompt="훈민정음을 만든 조선의 왕은 누구인가요", target="세종"
    )
    # "훈민정음을만든조선의왕은누구인가요" is 18 characters without spaces: below min_chars = 20.
    assert build_index([item]).n_ngrams == [0]
    longer = Item(
        id="l",
        kind="exact",
        prompt="훈민정음을 만든 조선의 왕은 누구이며 언제 반포했는가",
        target="세종",
    )
    (segment,) = build_index([longer]).segments
    assert segment.n == 20  # 22 characters -> window of 20 (rounded down to a multiple of 10)
    # 19 consecutive characters are not enough, 20 are.
    assert (
        scan_texts([longer], ["훈민정음을 만든 조선의 왕은 누구이며 언제 반"]).contaminated_ids
        == ()
    )
    assert scan_texts(
        [longer], ["훈민정음을 만든 조선의 왕은 누구이며 언제 반포"]
    ).contaminated_ids == ("l",)


def test_hash_collisions_cannot_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    # Make every window hash 0: all training windows "hit", the text comparison must reject them.
    def all_zero(codes: np.ndarray, n: int, rolling: object = None) -> np.ndarray:
        return np.zeros(max(codes.size - n + 1, 0), dtype=np.uint64)

    monkeypatch.setattr(contamination, "_window_hashes", all_zero)
    report = scan_texts([KO, EN], [NOISE])
    assert report.contaminated_ids == ()
    assert scan_texts([KO, EN], [NOISE + EN.prompt]).contaminated_ids == ("en",)


def test_min_matches_threshold() -> None:
    text = normalise(EN.prompt)  # 22 tokens -> 10 distinct 13-grams
    cfg = NgramConfig(min_matches=11)
    report = scan_texts([EN], [text], cfg)
    row = report.items[0]
    assert row.n_ngrams == 10 and row.n_matched == 10 and not row.contaminated


def test_scan_file_and_clean_score(tmp_path: Path) -> None:
    f = tmp_path / "sample.jsonl"
    with f.open("w", encoding="utf-8") as fh:
        for i in range(300):
            fh.write(f'{{"text": "문서 {i}번. {NOISE[:200]}"}}\n')
        fh.write('{"text": "' + KO.prompt + '"}\n')
    report = scan_file([KO, EN, OTHER], f)
    assert report.contaminated_ids == ("ko",) and report.chars_scanned > 60_000
    cs = clean_score({"ko": 1.0, "en": 0.0, "other": 1.0}, report, np.random.default_rng(0))
    # all items: (1+0+1)/3 = 0.667; without "ko": (0+1)/2 = 0.5
    assert cs.all_items.estimate == pytest.approx(2 / 3) and cs.clean is not None
    assert cs.clean.estimate == 0.5 and cs.removed == ("ko",)


def test_real_click_items_planted_in_a_sample(tmp_path: Path) -> None:
    items = load("click", shared_bench() / "click" / "Dataset" / "Culture" / "Korean_Law")
    victims = [items[5], items[100]]
    f = tmp_path / "train.txt"
    f.write_text(
        NOISE
        + "\n"
        + victims[0].prompt
        + "\n"
        + NOISE
        + "\n"
        + " ".join(victims[1].choices)
        + " "
        + victims[1].prompt
        + "\n",
        encoding="utf-8",
    )
    report = scan_file(items, f)
    assert set(report.contaminated_ids) == {v.id for v in victims}
