"""The tiny Granite builder writes a deterministic granitehybrid GGUF and a Q4_K_M copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import pytest

from models.tiny_granite import F32_NAME, Q4_NAME, build_tiny_granite, main, sha256


def _field(reader: gguf.GGUFReader, key: str) -> Any:
    field = reader.get_field(key)
    assert field is not None, key
    return field.contents()


def test_same_seed_gives_identical_files(tiny_granite: tuple[Path, Path], tmp_path: Path) -> None:
    """Building again with the same seed elsewhere gives byte-identical F32 and Q4_K_M files."""
    f32, q4 = tiny_granite
    again = build_tiny_granite(tmp_path / F32_NAME)
    assert sha256(tmp_path / F32_NAME) == sha256(f32)
    assert sha256(again) == sha256(q4)


def test_other_seed_gives_other_weights(tiny_granite: tuple[Path, Path], tmp_path: Path) -> None:
    """A different seed gives a different file."""
    other = build_tiny_granite(tmp_path / F32_NAME, seed=1, quantize=None)
    assert sha256(other) != sha256(tiny_granite[0])


def test_file_is_granitehybrid_with_mamba2_and_attention_layers(tiny_granite: tuple[Path, Path]) -> None:
    """The F32 file declares arch granitehybrid with Mamba-2 (0 KV heads) and attention layers."""
    reader = gguf.GGUFReader(tiny_granite[0])
    assert _field(reader, "general.architecture") == "granitehybrid"
    kv_heads = _field(reader, "granitehybrid.attention.head_count_kv")
    assert isinstance(kv_heads, list)
    assert 0 in kv_heads and any(n > 0 for n in kv_heads)
    assert _field(reader, "granitehybrid.ssm.inner_size") == 2 * _field(
        reader, "granitehybrid.embedding_length"
    )
    assert _field(reader, "tokenizer.ggml.model") == "gpt2"
    assert len(_field(reader, "tokenizer.ggml.merges")) >= 1
    names = {t.name for t in reader.tensors}
    for i, n in enumerate(kv_heads):
        expected = f"blk.{i}.attn_q.weight" if n else f"blk.{i}.ssm_in.weight"
        assert expected in names
    assert {t.tensor_type for t in reader.tensors} == {gguf.GGMLQuantizationType.F32}


def test_q4_k_m_copy_is_small_and_k_quantized(tiny_granite: tuple[Path, Path]) -> None:
    """The Q4_K_M copy is under a quarter of the F32 size and its matrices are Q4_K/Q6_K."""
    f32, q4 = tiny_granite
    assert q4.name == Q4_NAME
    assert q4.stat().st_size < f32.stat().st_size / 4
    reader = gguf.GGUFReader(q4)
    matrices = {
        t.name: t.tensor_type
        for t in reader.tensors
        if len(t.shape) == 2 and min(t.shape) > 1 and "ssm_conv1d" not in t.name
    }
    types = set(matrices.values())
    assert types <= {gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q6_K}, matrices
    assert gguf.GGMLQuantizationType.Q4_K in types


def test_cli_skips_up_to_date_files_unless_forced(
    tiny_granite: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI leaves files with matching sidecar params alone and rewrites them with --force."""
    f32, q4 = tiny_granite
    before = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (f32, q4)]
    assert main(["--out-dir", str(f32.parent)]) == 0
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (f32, q4)] == before
    digest = sha256(q4)
    assert main(["--out-dir", str(f32.parent), "--force"]) == 0
    assert (f32.stat().st_ino, f32.stat().st_mtime_ns) != before[0]
    assert sha256(q4) == digest
    assert str(q4) in capsys.readouterr().out
