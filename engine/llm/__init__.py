"""Language models behind one small interface: llama.cpp in process, or an OpenAI-compatible server.

`language_model` is the interface, `llama_cpp_model` and `openai_model` the two adapters, `factory` opens
the configured one, `ask` makes one timed request, `answer_cache` keeps answers by request hash. May import
`engine.settings` only (and the model libraries).
"""

from engine.llm.language_model import Completion, LanguageModel, LlmUnavailableError
from engine.llm.llama_cpp_model import LlamaCppModel, ModelLoadError
from engine.llm.openai_model import OpenAICompatibleModel

__all__ = ["Completion", "LanguageModel", "LlamaCppModel", "LlmUnavailableError", "ModelLoadError",
           "OpenAICompatibleModel"]
