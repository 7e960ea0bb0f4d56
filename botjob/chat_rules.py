"""The rules conversation.plan decides by, built from the owner's settings and what the bot can do."""

from __future__ import annotations

from .answering import MediaModels
from .config import Config
from .conversation import ChatRules
from .identity import bot_commands, menu_in_words


def chat_rules(config: Config, schedule: str, media: MediaModels, *, remembers: bool, keeps_personas: bool = False,
               counts: bool = False) -> ChatRules:
    """``schedule``: how often the workflow is set to run, in words; ``remembers``: chat memory is on;
    ``keeps_personas``: /persona is on and BOTJOB_STATE_KEY is there to keep personas with;
    ``counts``: the job keeps state/stats.json, which access.owners' /stats reads."""
    from .media import AUDIO_TYPES  # the media module's imports are for runs that hear or draw

    return ChatRules(
        groups=config.chat.groups,
        merge_bursts=config.chat.merge_bursts,
        reply_context=config.chat.reply_context,
        allow=config.access.allow,
        greeting=config.reply.greeting,
        help=config.reply.help,
        reset=config.reply.reset,
        non_text=config.reply.non_text,
        refusal=config.access.refusal,
        schedule=schedule,
        commands=menu_in_words(bot_commands(remembers, media.pictures is not None, personas=keeps_personas,
                                            models=bool(config.llm.choices))),
        voice=media.speech is not None,  # a bot that cannot hear says so (reply.voice_off)
        photos=media.vision is not None,
        images=config.media.images,
        max_voice_seconds=config.media.max_voice_seconds,
        hears=frozenset(AUDIO_TYPES),  # what Hugging Face's speech server decodes; no video
        voice_too_long=config.reply.voice_too_long,
        voice_off=config.reply.voice_off,
        photos_off=config.reply.photos_off,
        video_note_unheard=config.reply.video_note_unheard,
        audio_unheard=config.reply.audio_unheard,
        file_too_big=config.reply.file_too_big,
        image_usage=config.reply.image_usage,
        images_off=config.reply.images_off,
        personas=config.chat.personas,
        keeps_personas=keeps_personas,
        persona_unavailable=config.reply.persona_unavailable,
        models=bool(config.llm.choices),
        owners=config.access.owners if counts else (),
    )
