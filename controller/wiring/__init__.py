"""The composition root: the settings become plain configs here, and every long-lived object is built here.

Nothing outside this package (and the tools) reads :class:`~controller.settings.Settings`: the media layer gets a
:class:`~audiosocket.media_leg.LegConfig` and a :class:`~audiosocket.speech.factory.SpeechConfig` (`media`), the
conversation a :class:`~controller.conversation.dialog.DialogPolicy` and a call a
:class:`~controller.calls.deps.CallConfig` (`parts`); `service.Service` puts them together. The functions
are also what the tools (chat, check, demo) use, so a tool and the service never build the same thing two ways.
"""

from controller.wiring.console import operator_console, settings_rows
from controller.wiring.media import (
    azure_problems,
    kokoro_installed,
    leg_config,
    open_leg_vad,
    speech_config,
    speech_engines,
    speech_problems,
)
from controller.wiring.parts import (
    audit_log,
    call_config,
    conversation_store,
    dialog_policy,
    gate_opener,
    llm_config,
    understanding,
)
from controller.wiring.service import Service

__all__ = [
    "Service",
    "audit_log",
    "azure_problems",
    "call_config",
    "conversation_store",
    "dialog_policy",
    "gate_opener",
    "kokoro_installed",
    "leg_config",
    "llm_config",
    "open_leg_vad",
    "operator_console",
    "settings_rows",
    "speech_config",
    "speech_engines",
    "speech_problems",
    "understanding",
]
