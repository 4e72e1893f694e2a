"""Language models behind one small interface (llama.cpp in process)."""

from engine.llm.language_model import Completion, LanguageModel
from engine.llm.llama_cpp_model import LlamaCppModel, ModelLoadError
from engine.llm.openai_model import LlmUnavailableError, OpenAICompatibleModel

__all__ = ["Completion", "LanguageModel", "LlamaCppModel", "LlmUnavailableError", "ModelLoadError",
           "OpenAICompatibleModel"]
