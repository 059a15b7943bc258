"""Series voice memory (opt-in; never written in privacy/minimal mode)."""

from .store import Character, SpeakerAssignment, VoiceMemoryStore

__all__ = ["Character", "SpeakerAssignment", "VoiceMemoryStore"]
