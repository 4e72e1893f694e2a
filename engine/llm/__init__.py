"""Language models behind one small interface: llama.cpp in process, or an OpenAI-compatible server."""

from engine.llm.language_model import Completion, LanguageModel, LlmUnavailableError
from engine.llm.llama_cpp_model import LlamaCppModel, ModelLoadError
from engine.llm.openai_model import OpenAICompatibleModel

__all__ = ["Completion", "LanguageModel", "LlamaCppModel", "LlmUnavailableError", "ModelLoadError",
           "OpenAICompatibleModel"]
