"""Voice matching: move a synthesized line toward a reference speaker (offline pass-2 fallback for cloning)."""

from .base import VoiceMatcher, VoiceProfile
from .world import WorldVoiceMatcher, estimate_warp, shift_voice

__all__ = ["VoiceMatcher", "VoiceProfile", "WorldVoiceMatcher", "estimate_warp", "shift_voice"]
