"""Prompt sizing: how many tokens a prompt takes and whether it fits the model's context with its answer."""

from __future__ import annotations

import math

from engine.llm.language_model import LanguageModel, SizedModel
from engine.llm.llama_cpp_model import ModelLoadError

# Without a tokenizer: Granite averages about 4 characters a token on English, ids and numbers; 3 errs long.
CHARS_PER_TOKEN = 3.0
# A chat template wraps the prompt in role markers (18 tokens for Granite's); kept free on top of the count.
CHAT_OVERHEAD_TOKENS = 32


class ContextTooSmallError(ModelLoadError):
    """The configured context cannot hold even the smallest prompt plus its answer."""


def estimate_tokens(text: str, chars_per_token: float = CHARS_PER_TOKEN) -> int:
    """A cautious token count from the length alone."""
    return math.ceil(len(text) / chars_per_token)


def context_tokens(model: LanguageModel) -> int | None:
    """The model's context window in tokens, None when it is unknown (then prompts are not cut)."""
    return model.context_tokens if isinstance(model, SizedModel) else None


def prompt_tokens(model: LanguageModel, prompt: str) -> int:
    """Tokens the prompt takes as a chat turn: the model's count (or an estimate) plus the template's markers."""
    counted = model.count_tokens(prompt) if isinstance(model, SizedModel) else estimate_tokens(prompt)
    return counted + CHAT_OVERHEAD_TOKENS


def overflow(tokens: int, max_tokens: int, n_ctx: int | None) -> str | None:
    """Why a prompt of `tokens` with an answer of up to `max_tokens` does not fit n_ctx, or None when it does.

    llama.cpp cuts the answer short when prompt and answer overflow together, and a cut answer is garbage,
    so the answer's whole budget must fit beside the prompt.
    """
    if n_ctx is None or tokens + max_tokens <= n_ctx:
        return None
    return (f"context too small: prompt {tokens} tokens + answer {max_tokens} tokens > n_ctx {n_ctx} "
            "(raise ENGINE_LLM__N_CTX or lower ENGINE_LLM__MAX_TOKENS)")
