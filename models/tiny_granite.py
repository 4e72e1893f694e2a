"""Build a tiny random-weight Granite 4.0-H (llama.cpp arch `granitehybrid`) GGUF for tests and local runs."""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import gguf
import numpy as np
import numpy.typing as npt

ARCH = "granitehybrid"
F32_NAME = "tiny-granite-hybrid-f32.gguf"
Q4_NAME = "tiny-granite-hybrid-q4_k_m.gguf"
SIDECAR_SUFFIX = ".params.json"
BUILDER_VERSION = 1  # bump when the file layout changes so old files get rebuilt

EOS_TOKEN = "<|end_of_text|>"
SPECIAL_TOKENS = (EOS_TOKEN, "<|start_of_role|>", "<|end_of_role|>")
# A few byte-pair merges that show up in JSON output (GPT-2 byte-level spelling: "Ġ" is a space).
MERGES = (("{", '"'), ('"', ":"), ('"', ","), ("Ġ", '"'), ("i", "d"), ("Ġ", "{"))
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "<|start_of_role|>{{ message['role'] }}<|end_of_role|>{{ message['content'] }}<|end_of_text|>\n"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|start_of_role|>assistant<|end_of_role|>{%- endif %}"
)


@dataclass(frozen=True)
class TinyGraniteParams:
    """Every number that decides the bytes of the F32 file (with the seed)."""

    n_embd: int = 256
    seed: int = 0
    n_layer: int = 4
    attention_layers: tuple[int, ...] = (2,)  # every other layer is Mamba-2
    head_dim: int = 64
    ssm_d_state: int = 16
    ssm_n_group: int = 1
    ssm_d_conv: int = 4
    context_length: int = 8192
    builder_version: int = BUILDER_VERSION

    @property
    def n_head(self) -> int:
        return max(1, self.n_embd // self.head_dim)

    @property
    def n_head_kv(self) -> int:
        return max(1, self.n_head // 2)

    @property
    def n_ff(self) -> int:
        return 2 * self.n_embd

    @property
    def ssm_d_inner(self) -> int:
        return 2 * self.n_embd  # llama.cpp only supports an expansion factor of 2

    @property
    def ssm_n_head(self) -> int:
        return max(1, self.ssm_d_inner // self.head_dim)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character map."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def vocabulary() -> tuple[list[str], list[int], list[str]]:
    """Tokens, token types and merges of the tiny byte-level tokenizer."""
    byte_tokens = [bytes_to_unicode()[b] for b in range(256)]
    merged = [a + b for a, b in MERGES]
    tokens = [*byte_tokens, *merged, *SPECIAL_TOKENS]
    types = [gguf.TokenType.NORMAL] * (len(byte_tokens) + len(merged)) + [gguf.TokenType.CONTROL] * len(
        SPECIAL_TOKENS
    )
    return tokens, [int(t) for t in types], [f"{a} {b}" for a, b in MERGES]


def _tensors(p: TinyGraniteParams, n_vocab: int) -> list[tuple[str, npt.NDArray[np.float32]]]:
    """Random weights in numpy's (rows, cols) order; GGUF shapes are the reverse."""
    rng = np.random.default_rng(p.seed)

    def normal(*shape: int, scale: float = 0.02) -> npt.NDArray[np.float32]:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def ones(n: int) -> npt.NDArray[np.float32]:
        return np.ones(n, dtype=np.float32)

    e, inner, state, groups, heads = p.n_embd, p.ssm_d_inner, p.ssm_d_state, p.ssm_n_group, p.ssm_n_head
    conv_dim = inner + 2 * groups * state
    out: list[tuple[str, npt.NDArray[np.float32]]] = [
        ("token_embd.weight", normal(n_vocab, e)),
        ("output_norm.weight", ones(e)),
        ("output.weight", normal(n_vocab, e)),
    ]
    for i in range(p.n_layer):
        blk = f"blk.{i}"
        out.append((f"{blk}.attn_norm.weight", ones(e)))
        if i in p.attention_layers:
            out += [
                (f"{blk}.attn_q.weight", normal(p.n_head * p.head_dim, e)),
                (f"{blk}.attn_k.weight", normal(p.n_head_kv * p.head_dim, e)),
                (f"{blk}.attn_v.weight", normal(p.n_head_kv * p.head_dim, e)),
                (f"{blk}.attn_output.weight", normal(e, p.n_head * p.head_dim)),
            ]
        else:
            out += [
                (f"{blk}.ssm_in.weight", normal(2 * inner + 2 * groups * state + heads, e)),
                (f"{blk}.ssm_conv1d.weight", normal(conv_dim, p.ssm_d_conv, scale=0.2)),
                (f"{blk}.ssm_conv1d.bias", np.zeros(conv_dim, dtype=np.float32)),
                (f"{blk}.ssm_dt.bias", rng.uniform(-4.0, -2.0, heads).astype(np.float32)),
                # llama.cpp stores A = -exp(A_log) directly
                (f"{blk}.ssm_a", -rng.uniform(1.0, 16.0, (heads, 1)).astype(np.float32)),
                (f"{blk}.ssm_d", ones(heads).reshape(heads, 1)),
                (f"{blk}.ssm_norm.weight", np.ones((groups, inner // groups), dtype=np.float32)),
                (f"{blk}.ssm_out.weight", normal(e, inner)),
            ]
        out += [
            (f"{blk}.ffn_norm.weight", ones(e)),
            (f"{blk}.ffn_gate.weight", normal(p.n_ff, e)),
            (f"{blk}.ffn_up.weight", normal(p.n_ff, e)),
            (f"{blk}.ffn_down.weight", normal(e, p.n_ff)),
        ]
    return out


def write_f32(out: Path, p: TinyGraniteParams) -> Path:
    """Write the F32 GGUF (deterministic: the same params give the same bytes)."""
    if p.n_embd % p.head_dim or p.n_embd < p.head_dim:
        raise ValueError(f"n_embd must be a positive multiple of {p.head_dim}, got {p.n_embd}")
    tokens, types, merges = vocabulary()
    w = gguf.GGUFWriter(str(out), ARCH)
    w.add_name("tiny-granite-hybrid")
    w.add_type(gguf.GGUFType.MODEL)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(p.context_length)
    w.add_embedding_length(p.n_embd)
    w.add_block_count(p.n_layer)
    w.add_feed_forward_length(p.n_ff)
    w.add_head_count(p.n_head)
    # Per layer: 0 KV heads marks a Mamba-2 layer.
    w.add_head_count_kv([p.n_head_kv if i in p.attention_layers else 0 for i in range(p.n_layer)])
    w.add_rope_dimension_count(p.head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    # Granite 4.0's multipliers.
    w.add_embedding_scale(12.0)
    w.add_residual_scale(0.22)
    w.add_attention_scale(1.0 / 128)
    w.add_logit_scale(8.0)
    w.add_ssm_conv_kernel(p.ssm_d_conv)
    w.add_ssm_inner_size(p.ssm_d_inner)
    w.add_ssm_state_size(p.ssm_d_state)
    w.add_ssm_time_step_rank(p.ssm_n_head)
    w.add_ssm_group_count(p.ssm_n_group)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    eos = tokens.index(EOS_TOKEN)
    w.add_bos_token_id(eos)
    w.add_eos_token_id(eos)
    w.add_pad_token_id(eos)
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    for name, array in _tensors(p, len(tokens)):
        w.add_tensor(name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def quantize_gguf(src: Path, dst: Path, ftype: str = "Q4_K_M") -> Path:
    """Quantize with llama.cpp's own quantizer (the one that makes the real Granite Q4_K_M files)."""
    import llama_cpp

    code = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype.upper()}", None)
    if not isinstance(code, int):
        raise ValueError(f"unknown quantization type {ftype!r}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = code
    params.nthread = 1
    log = logging.getLogger("llama-cpp-python")  # llama-cpp-python routes llama.cpp's log through it
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    finally:
        log.setLevel(level)
    if status != 0 or not dst.is_file():
        raise RuntimeError(f"llama_model_quantize({src} -> {dst}, {ftype}) failed with status {status}")
    return dst


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _up_to_date(path: Path, wanted: dict[str, object]) -> bool:
    sidecar = _sidecar(path)
    if not (path.is_file() and sidecar.is_file()):
        return False
    try:
        recorded = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    return bool(recorded.get("params") == wanted and recorded.get("sha256") == sha256(path))


def _write_atomically(path: Path, params: dict[str, object], write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    _sidecar(path).write_text(json.dumps({"params": params, "sha256": sha256(path)}, indent=2) + "\n")


def build_tiny_granite(
    out: Path, *, n_embd: int = 256, seed: int = 0, quantize: str | None = "Q4_K_M", force: bool = False
) -> Path:
    """Write the F32 file at `out` (and a quantized copy next to it); return the path of the quantized
    copy, or of the F32 file when `quantize` is None. Files whose sidecar records the same parameters
    and hash are kept unless `force`."""
    params = TinyGraniteParams(n_embd=n_embd, seed=seed)
    f32_params: dict[str, object] = json.loads(json.dumps(asdict(params)))
    out.parent.mkdir(parents=True, exist_ok=True)
    if force or not _up_to_date(out, f32_params):
        _write_atomically(out, f32_params, lambda tmp: write_f32(tmp, params))
    if quantize is None:
        return out
    qtype = quantize.upper()
    q_out = quantized_path(out, qtype)
    q_params: dict[str, object] = {**f32_params, "quantize": qtype, "source_sha256": sha256(out)}
    if force or not _up_to_date(q_out, q_params):
        _write_atomically(q_out, q_params, lambda tmp: quantize_gguf(out, tmp, qtype))
    return q_out


def quantized_path(f32_path: Path, qtype: str = "Q4_K_M") -> Path:
    """Where the quantized copy of an F32 file goes: `...-f32.gguf` -> `...-q4_k_m.gguf`."""
    stem = f32_path.name.removesuffix(".gguf").removesuffix("-f32")
    return f32_path.with_name(f"{stem}-{qtype.lower()}.gguf")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m models.tiny_granite --out-dir models/ [--seed 0] [--n-embd 256] [--force]."""
    parser = argparse.ArgumentParser(prog="python -m models.tiny_granite", description=__doc__)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-embd", type=int, default=256, help="multiple of 256 so K-quants apply")
    parser.add_argument("--force", action="store_true", help="rebuild even if the files are up to date")
    args = parser.parse_args(argv)
    f32 = args.out_dir / F32_NAME
    q4 = build_tiny_granite(f32, n_embd=args.n_embd, seed=args.seed, force=args.force)
    for path in (f32, q4):
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB  sha256 {sha256(path)[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
