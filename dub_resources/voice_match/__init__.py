"""Voice matching: move a synthesized line toward a reference speaker (offline pass-2 fallback for cloning)."""

from .base import VoiceMatcher, VoiceProfile
from .profile_cache import ProfileCache, profiles_for
from .world import WorldVoiceMatcher, estimate_warp, shift_voice

__all__ = ["ProfileCache", "VoiceMatcher", "VoiceProfile", "WorldVoiceMatcher", "estimate_warp", "profiles_for",
           "shift_voice"]
