"""PyTorch reader: only behind allow_pytorch, weights-only, zip container pre-checked."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from sovereval.errors import HostileInputError, UnsupportedFormatError
from sovereval.provenance.formats import open_source, pytorch_io
from tests.provenance.formats.make_hostile import HOSTILE

torch = pytest.importorskip("torch")


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "ckpt.pt"
    state = {
        "layer.weight": torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.bfloat16),
        "block": {"bias": torch.tensor([0.5, -0.5])},
    }
    torch.save({"state_dict": state, "epoch": 3}, path)
    return path


def test_without_the_option_it_is_refused_with_the_hint(checkpoint: Path) -> None:
    with pytest.raises(UnsupportedFormatError, match="--allow-pytorch") as err:
        open_source(checkpoint)
    assert "weights_only=True" in str(err.value)
    assert "\n" not in str(err.value)


def test_with_the_option_nested_state_dict_is_flattened(checkpoint: Path) -> None:
    src = open_source(checkpoint, allow_pytorch=True)
    try:
        assert set(src.infos()) == {"layer.weight", "block.bias"}
        assert src.infos()["layer.weight"].dtype == "BF16"
        assert src.infos()["layer.weight"].nbytes == 8  # 4 values x 2 bytes
        assert src.read("layer.weight").tolist() == [[1.0, 2.0], [3.0, 4.0]]
        assert src.read("block.bias").dtype == np.float32
        # bf16 1.0 = 0x3F80, stored little-endian -> 80 3F
        assert src.read_raw("layer.weight")[:2] == b"\x80\x3f"
    finally:
        src.close()


def test_read_returns_a_copy_not_a_view_of_the_map(checkpoint: Path) -> None:
    src = open_source(checkpoint, allow_pytorch=True)
    a = src.read("block.bias")
    a[0] = 99.0
    assert src.read("block.bias")[0] == 0.5
    src.close()


def test_zip_bomb_is_refused_before_torch_sees_it() -> None:
    with pytest.raises(HostileInputError, match="compressed"):
        open_source(HOSTILE / "zip_bomb.pt", allow_pytorch=True)


def test_member_count_is_capped(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pytorch_io, "MAX_MEMBERS", 3)
    with pytest.raises(HostileInputError, match="zip members"):
        open_source(checkpoint, allow_pytorch=True)


def test_zip_without_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a/readme.txt", b"hello")
    with pytest.raises(HostileInputError, match=r"data\.pkl"):
        open_source(path, allow_pytorch=True)


def test_forbidden_globals_are_refused_by_weights_only(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"w": Evil()}, path)
    with pytest.raises(HostileInputError, match="weights-only load refused"):
        open_source(path, allow_pytorch=True)


def test_legacy_pickle_is_unsupported_even_with_the_option() -> None:
    with pytest.raises(UnsupportedFormatError, match="legacy"):
        open_source(HOSTILE / "pickle.bin", allow_pytorch=True)


def test_directory_with_pytorch_model_bin_needs_the_option(tmp_path: Path) -> None:
    torch.save({"w": torch.ones(2)}, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text('{"model_type": "x"}')
    with pytest.raises(UnsupportedFormatError, match="--allow-pytorch"):
        open_source(tmp_path)
    src = open_source(tmp_path, allow_pytorch=True)
    assert src.meta.format == "pytorch" and src.meta.config == {"model_type": "x"}
    assert src.read("w").tolist() == [1.0, 1.0]
    src.close()
