"""open_language_model: the configured LanguageModel, one code path for the tiny and the real Granite."""

from __future__ import annotations

from engine.llm.answer_cache import AnswerCache, CachedLanguageModel
from engine.llm.language_model import LanguageModel
from engine.llm.llama_cpp_model import LlamaCppModel, ModelLoadError
from engine.llm.openai_model import OpenAICompatibleModel
from engine.settings import LlmSettings


def open_language_model(settings: LlmSettings) -> LanguageModel:
    """Load the model the settings name; errors name the setting to fix."""
    if settings.backend == "openai":
        assert settings.base_url is not None  # the settings refuse openai without a URL
        return OpenAICompatibleModel(
            str(settings.base_url), model_name=settings.model_name, timeout_s=settings.timeout_s, seed=settings.seed,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None, n_ctx=settings.n_ctx,
        )
    try:
        return LlamaCppModel(
            settings.model_path,
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            n_gpu_layers=settings.n_gpu_layers,
            seed=settings.seed,
            deterministic=settings.deterministic,
        )
    except ModelLoadError as error:
        raise ModelLoadError(f"ENGINE_LLM__MODEL_PATH: {error}") from error


def open_cached_model(settings: LlmSettings, cache: AnswerCache, *, may_ask: bool = True) -> CachedLanguageModel:
    """The configured model behind an answer cache; opened on the first miss, never when may_ask is False."""
    return CachedLanguageModel(cache, settings.identity, (lambda: open_language_model(settings)) if may_ask else None,
                               n_ctx=settings.n_ctx)


# A small decision of the shape the engine asks for: ids from an enum, bounded arrays.
PROBE_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "vehicle": {"type": "string", "enum": ["van-1", "van-2"]},
        "orders": {"type": "array", "items": {"type": "string", "enum": ["o-1", "o-2", "o-3"]}, "maxItems": 3},
    },
    "required": ["vehicle", "orders"],
    "additionalProperties": False,
}
PROBE_PROMPT = (
    "Vans: van-1 (capacity 10), van-2 (capacity 4). Orders: o-1 (demand 3), o-2 (demand 5), o-3 (demand 2). "
    "Assign orders to one van. Answer in JSON."
)
