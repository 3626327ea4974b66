"""safetensors reader: golden values, dtype decoding, header validation, sharded directories."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sovereval.errors import HostileInputError, InputError, UnsupportedFormatError
from sovereval.provenance.formats import open_source
from sovereval.provenance.formats.safetensors_io import (
    F8_E4M3_TABLE,
    F8_E5M2_TABLE,
    SafetensorsSource,
    decode,
    parse_header,
)
from tests.provenance.formats.make_hostile import GOLDEN, golden_safetensors_arrays, st_bytes


def test_golden_file_is_byte_exact_with_a_fresh_write(tmp_path: Path) -> None:
    out = tmp_path / "t.safetensors"
    save_file(golden_safetensors_arrays(), str(out), metadata={"k": "v"})
    assert out.read_bytes() == (GOLDEN / "tiny.safetensors").read_bytes()


def test_golden_values_round_trip_exactly() -> None:
    src = open_source(GOLDEN / "tiny.safetensors")
    try:
        expected = golden_safetensors_arrays()
        assert set(src.infos()) == set(expected)
        for name, arr in expected.items():
            info = src.infos()[name]
            assert info.shape == arr.shape
            assert info.nbytes == arr.nbytes
            got = src.read(name)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, arr.astype(np.float32))
            assert src.read_raw(name) == arr.tobytes()
        # a.weight = arange(6)/4 -> [[0, .25, .5], [.75, 1, 1.25]]
        assert src.read("a.weight")[1, 2] == 1.25
        assert src.infos()["b.half"].dtype == "F16"
        assert src.meta.format == "safetensors"
        assert src.meta.config["__metadata__"] == {"k": "v"}
    finally:
        src.close()


def test_bf16_conversion_by_hand(tmp_path: Path) -> None:
    # bf16 is the top 16 bits of f32: 0x3F80 -> 0x3F800000 = 1.0; 0xC000 -> -2.0;
    # 0x3EAB -> 0x3EAB0000 = 0.333984375; 0x7F80 -> +inf; 0x0001 -> smallest subnormal 2^-133.
    words = [0x3F80, 0xC000, 0x3EAB, 0x7F80, 0x0001]
    data = struct.pack("<5H", *words)
    path = tmp_path / "bf.safetensors"
    path.write_bytes(
        st_bytes({"x": {"dtype": "BF16", "shape": [5], "data_offsets": [0, 10]}}, data)
    )
    src = SafetensorsSource(path)
    got = src.read("x")
    assert got[:3].tolist() == [1.0, -2.0, 0.333984375]
    assert np.isposinf(got[3])
    assert got[4] == np.float32(2.0**-133)
    assert src.read_raw("x") == data
    src.close()


def test_bf16_matches_torch_for_every_pattern() -> None:
    torch = pytest.importorskip("torch")
    bits = np.arange(2**16, dtype=np.uint16)
    ours = decode(bits.tobytes(), "BF16", 0, bits.size)
    theirs = torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(ours, theirs)  # NaN patterns compare equal as NaN


@pytest.mark.parametrize(
    ("table", "tname"), [(F8_E4M3_TABLE, "float8_e4m3fn"), (F8_E5M2_TABLE, "float8_e5m2")]
)
def test_f8_tables_match_torch(table: np.ndarray, tname: str) -> None:
    torch = pytest.importorskip("torch")
    bits = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    theirs = bits.view(getattr(torch, tname)).float().numpy()
    np.testing.assert_array_equal(table, theirs)
    # hand checks: E4M3 0x38 = 0 0111 000 = 2^0 = 1.0; 0x7E = 1.75 * 2^8 = 448 (max); 0x7F = NaN
    if tname == "float8_e4m3fn":
        assert table[0x38] == 1.0 and table[0x7E] == 448.0 and np.isnan(table[0x7F])
    else:  # E5M2 0x3C = 0 01111 00 = 1.0; 0x7C = inf
        assert table[0x3C] == 1.0 and np.isposinf(table[0x7C])


def test_parse_header_reports_offsets_after_the_header() -> None:
    blob = st_bytes({"b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]},
                     "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 12)  # fmt: skip
    start, infos, starts, meta = parse_header(Path("x"), blob, len(blob))
    # header length n = len(json) -> data starts at 8 + n; "b" sits 8 bytes after that
    assert start == len(blob) - 12
    assert starts == {"a": start, "b": start + 8}
    assert infos["b"].shape == (2,) and infos["b"].nbytes == 4
    assert meta == {}


@pytest.mark.parametrize(
    ("header", "exc"),
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1}}, HostileInputError),
        ({"a": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}}, HostileInputError),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, HostileInputError),
        ({"a": {"dtype": 5, "shape": [2], "data_offsets": [0, 8]}}, UnsupportedFormatError),
        ({"__metadata__": {"k": 1}}, HostileInputError),
        ({"a": [1]}, HostileInputError),
    ],
)
def test_invalid_headers_are_refused(header: dict[str, object], exc: type[Exception]) -> None:
    blob = st_bytes(header, b"\0" * 8)
    with pytest.raises(exc):
        parse_header(Path("x"), blob, len(blob))


def test_read_after_close_and_unknown_name_raise_input_error() -> None:
    src = SafetensorsSource(GOLDEN / "tiny.safetensors")
    with pytest.raises(InputError, match="no tensor named"):
        src.read("nope")
    src.close()
    src.close()  # idempotent
    with pytest.raises(InputError, match="closed"):
        src.read("a.weight")


def _write_sharded(root: Path, index: dict[str, str] | None = None) -> None:
    save_file({"a": np.ones(3, np.float32)}, str(root / "model-00001-of-00002.safetensors"))
    save_file(
        {"b": np.full((2, 2), 2.0, np.float32)}, str(root / "model-00002-of-00002.safetensors")
    )
    wmap = index or {
        "a": "model-00001-of-00002.safetensors",
        "b": "model-00002-of-00002.safetensors",
    }
    (root / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wmap}))
    (root / "config.json").write_text('{"hidden_size": 2}')
    (root / "LICENSE").write_text("Apache License 2.0")


def test_sharded_directory_reads_every_shard(tmp_path: Path) -> None:
    _write_sharded(tmp_path)
    src = open_source(tmp_path)
    try:
        assert set(src.infos()) == {"a", "b"}
        assert src.read("a").tolist() == [1.0, 1.0, 1.0]
        assert src.read("b").sum() == 8.0  # 2x2 of 2.0
        assert src.meta.config == {"hidden_size": 2}
        assert src.meta.text_files["LICENSE"] == "Apache License 2.0"
        assert "model-00002-of-00002.safetensors" in src.meta.files
    finally:
        src.close()


def test_sharded_index_that_lies_is_hostile(tmp_path: Path) -> None:
    _write_sharded(tmp_path, {"a": "model-00002-of-00002.safetensors",
                              "b": "model-00002-of-00002.safetensors"})  # fmt: skip
    with pytest.raises(HostileInputError, match="does not hold it"):
        open_source(tmp_path)


def test_sharded_index_missing_a_tensor_is_hostile(tmp_path: Path) -> None:
    _write_sharded(tmp_path, {"a": "model-00001-of-00002.safetensors"})
    # shard 2 is never named, so it is not opened: the index then simply lacks "b"
    src = open_source(tmp_path)
    assert set(src.infos()) == {"a"}
    src.close()
    save_file({"a": np.ones(3, np.float32), "c": np.ones(1, np.float32)},
              str(tmp_path / "model-00001-of-00002.safetensors"))  # fmt: skip
    with pytest.raises(HostileInputError, match="missing from the index"):
        open_source(tmp_path)


def test_tensor_in_two_shards_is_hostile(tmp_path: Path) -> None:
    _write_sharded(tmp_path)
    save_file({"a": np.ones(3, np.float32)}, str(tmp_path / "model-00002-of-00002.safetensors"))
    with pytest.raises(HostileInputError):
        open_source(tmp_path)
