"""Language models behind one small interface (llama.cpp in process)."""

from engine.llm.language_model import Completion, LanguageModel
from engine.llm.llama_cpp_model import LlamaCppModel, ModelLoadError

__all__ = ["Completion", "LanguageModel", "LlamaCppModel", "ModelLoadError"]
