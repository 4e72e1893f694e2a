"""Language models behind one small interface: llama.cpp in process, or an OpenAI-compatible server.

`language_model` is the interface, `llama_cpp_model` and `openai_model` the two adapters, `factory` opens
the configured one, `ask` makes one timed request, `context` sizes prompts, `answer_cache` keeps answers by
request hash. May import `engine.settings` only (and the model libraries).
"""

from engine.llm.language_model import Completion, LanguageModel, LlmRequestError, LlmUnavailableError
from engine.llm.llama_cpp_model import LlamaCppModel, ModelLoadError
from engine.llm.openai_model import OpenAICompatibleModel

__all__ = ["Completion", "LanguageModel", "LlamaCppModel", "LlmRequestError", "LlmUnavailableError",
           "ModelLoadError", "OpenAICompatibleModel"]
