"""Every crafted bad file gives one clean InputError line naming the file, never anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovereval.errors import HostileInputError, InputError, UnsupportedFormatError
from sovereval.provenance.formats import open_source
from tests.provenance.formats.make_hostile import HOSTILE, hostile_files

H, U, E = HostileInputError, UnsupportedFormatError, InputError

# file -> (exception class, words the message must contain). allow_pytorch=False throughout.
EXPECTED: dict[str, tuple[type[InputError], str]] = {
    "empty.safetensors": (H, "empty"),
    "empty.gguf": (H, "empty"),
    "st_truncated.safetensors": (H, "past the end"),
    "st_short_prefix.safetensors": (H, "8-byte length prefix"),
    "st_header_past_eof.safetensors": (H, "past the end"),
    "st_header_huge.safetensors": (H, "cap"),
    "st_non_utf8.safetensors": (H, "not UTF-8"),
    "st_json_list.safetensors": (H, "not an object"),
    "st_deep_json.safetensors": (H, "not valid JSON"),
    "st_overlap.safetensors": (H, "overlaps"),
    "st_out_of_bounds.safetensors": (H, "outside data"),
    "st_shape_mismatch.safetensors": (H, "needs 12 bytes"),
    "st_negative_dim.safetensors": (H, "shape"),
    "st_huge_dim.safetensors": (H, "shape"),
    "st_unknown_dtype.safetensors": (U, "F128"),
    "st_duplicate_key.safetensors": (H, "duplicate key"),
    "st_hole.safetensors": (H, "hole"),
    "st_is_pickle.safetensors": (U, "--allow-pytorch"),
    "gguf_truncated.gguf": (H, "impossible"),
    "gguf_bad_version.gguf": (U, "version 99"),
    "gguf_absurd_tensor_count.gguf": (H, "tensor count"),
    "gguf_absurd_kv_count.gguf": (H, "key/value count"),
    "gguf_huge_array.gguf": (H, "array count"),
    "gguf_huge_string.gguf": (H, "exceeds the cap"),
    "gguf_unknown_value_type.gguf": (H, "unknown value type"),
    "gguf_offset_past_eof.gguf": (H, "beyond the end"),
    "gguf_unknown_tensor_type.gguf": (U, "unknown type 255"),
    "gguf_too_many_dims.gguf": (H, "9 dims"),
    "gguf_bad_alignment.gguf": (H, "power of two"),
    "onnx_traversal.onnx": (H, "outside the model directory"),
    "onnx_absolute.onnx": (H, "outside the model directory"),
    "onnx_out_of_bounds.onnx": (H, "does not fit"),
    "onnx_garbage.onnx": (H, "does not parse"),
    "weights.bin": (U, "unrecognised"),
    "pickle.bin": (U, "--allow-pytorch"),
    "zip_bomb.pt": (U, "--allow-pytorch"),
    "dir_no_weights": (E, "no model weights"),
    "dir_traversal": (H, "outside the model directory"),
    "dir_broken_config": (E, "config.json: broken JSON"),
    "dir_pytorch_only": (U, "--allow-pytorch"),
}


def test_committed_hostile_files_match_the_generator() -> None:
    for rel, data in hostile_files().items():
        assert (HOSTILE / rel).read_bytes() == data, rel


def test_every_hostile_file_has_an_expectation() -> None:
    on_disk = {p.name for p in HOSTILE.iterdir()}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_file_raises_one_clean_line(name: str) -> None:
    exc_type, words = EXPECTED[name]
    with pytest.raises(InputError) as err:
        src = open_source(HOSTILE / name)
        for tensor in src.infos():  # pragma: no cover - only reached if opening wrongly succeeds
            src.read(tensor)
    assert type(err.value) is exc_type, str(err.value)
    msg = str(err.value)
    assert words in msg
    assert "\n" not in msg
    assert Path(name).stem in msg or name in msg


def test_zip_bomb_and_legacy_pickle_with_the_option() -> None:
    pytest.importorskip("torch")
    with pytest.raises(HostileInputError, match="compressed"):
        open_source(HOSTILE / "zip_bomb.pt", allow_pytorch=True)
    with pytest.raises(UnsupportedFormatError, match="legacy"):
        open_source(HOSTILE / "dir_pytorch_only", allow_pytorch=True)
