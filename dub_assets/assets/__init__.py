"""Assets, one thin function per stage."""

from .listening import diarization, source_audio, stems, transcript, translation, voice_refs
from .series import voice_memory
from .speaking import dubbed_video, final_mix, preview_mix, tts_pass1, tts_pass2

PASS1_ASSETS = [source_audio, stems, diarization, transcript, translation, voice_refs, tts_pass1, preview_mix]
SERIES_ASSETS = [voice_memory]
PASS2_ASSETS = [tts_pass2, final_mix, dubbed_video]
ALL_ASSETS = [*PASS1_ASSETS, *SERIES_ASSETS, *PASS2_ASSETS]
