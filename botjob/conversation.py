"""What to answer, and with what words: updates in, prompts and reply texts out. Pure: no I/O.

Telegram JSON is parsed here, once, into small dataclasses; real updates omit
many fields, so every optional one is tolerated.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

TELEGRAM_TEXT_LIMIT = 4096  # Telegram counts characters (tdlib's utf8_length); UTF-16 code units, counted here, never fewer
ALLOWED_UPDATES = ["message"]  # the update kinds the bot asks Telegram for
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # bytes: the largest file the Bot API lets a bot download
DESCRIBE = "Describe this picture."  # the question a photo without a caption asks
_VOICE_MARK = "\ue000{}\ue001"  # where a voice note's words go in a question, once heard (private-use characters)
# {wait} in the greeting and the help: how long an answer takes, one sentence. Measured (measured_wait) once the
# gaps between scheduled runs are known, else what the cron lines ask for, through {schedule} (filled later).
WAIT = "{wait}"
UNMEASURED_WAIT = "I'm set to read new messages {schedule}, but I sometimes start late or skip a round, so my answer may take a while."
RUN_TIME = 60.0  # seconds from a run's start to its first answer, roughly (checkout, install, the model)


MEDIA_KINDS = (
    "photo", "document", "sticker", "video", "voice", "audio", "animation", "video_note",
    "contact", "location", "venue", "poll", "dice", "story", "game",
)
GROUP_TYPES = ("group", "supergroup")


@dataclass(frozen=True)
class Media:
    """A file a message carries that the bot can use: something to hear, or a picture to see."""

    kind: str  # "voice" (a voice note, audio file or round video note) or "image" (a photo, an image file)
    file_id: str
    mime_type: str
    seconds: int = 0  # how long a voice note is
    size: int = 0  # bytes, when Telegram says

    @property
    def mark(self) -> str:
        """Stands for a voice note's words in a question until they are heard."""
        return _VOICE_MARK.format(self.file_id)


@dataclass(frozen=True)
class Incoming:
    """One message sent to the bot, reduced to what deciding and answering need."""

    update_id: int
    chat_id: int
    chat_type: str
    message_id: int
    text: str | None  # the text, or the caption of a photo or document
    has_media: bool = False
    sender_id: int | None = None
    sender_username: str = ""
    chat_username: str = ""
    quoted: str | None = None  # text of the message this one replies to
    quoted_from_id: int | None = None  # who wrote that message
    date: int = 0  # when it was sent (Unix time)
    moved: tuple[int, int] | None = None  # a group became a supergroup: (old chat id, new chat id)
    media: Media | None = None  # a voice note or picture the bot can hear or see
    sender_chat_id: int | None = None  # sent on behalf of a chat: a group's anonymous administrator, a channel


@dataclass(frozen=True)
class BotIdentity:
    id: int
    username: str = ""  # without the @; empty when not known yet


class Action(enum.Enum):
    SKIP = "skip"  # finished without a reply
    SAY = "say"  # a fixed text (greeting, help, refusal...)
    ASK = "ask"  # the model answers (having heard or seen the media first)
    DRAW = "draw"  # a picture model draws ``question``
    RESET = "reset"  # forget the chat's memory, then say so
    PERSONA = "persona"  # show, set or reset the chat's persona, then say so
    MODEL = "model"  # list the owner's llm.choices, or switch the chat's model, then say so
    STATS = "stats"  # an owner's /stats: the counts kept in state/stats.json


@dataclass(frozen=True)
class PersonaRequest:
    """What /persona (or /model) asks, and whether its sender may change the chat's persona (or model)."""

    words: str  # after the command: "" shows the persona, "reset" goes back to llm.system_prompt, else the new one
    # True in private and for a group's anonymous administrator; False for a message sent on behalf of another
    # chat (a channel); None for a group member, whom Telegram is asked about (getChatMember).
    may_change: bool | None

    @property
    def changes(self) -> bool:
        return bool(self.words)


@dataclass(frozen=True)
class Work:
    """What to do for one or more updates, which are finished together."""

    action: Action
    update_ids: tuple[int, ...]
    chat_id: int = 0
    reply_to: int | None = None
    text: str = ""  # SAY and RESET: what to send
    turns: tuple[dict[str, str], ...] = ()  # ASK: the question (and what it replies to), as chat turns
    question: str = ""  # ASK: the asker's own words, for memory
    asker: int | None = None  # ASK: who asked; a group's burst is one person's messages
    reason: str = ""  # SKIP: why, for the log (never the text)
    sent_at: int = 0  # when its oldest message was sent (Unix time; 0 if unknown)
    moved: tuple[int, int] | None = None  # SKIP: a group became a supergroup, (old chat id, new chat id)
    media: tuple[Media, ...] = ()  # ASK: voice notes to hear (their marks stand in the turns) or a picture to see
    persona: PersonaRequest | None = None  # PERSONA: what it asks
    choice: PersonaRequest | None = None  # MODEL: what /model asks ("" lists the choices)

    @property
    def ids(self) -> str:
        """Its update ids for a log line: "500000001, 500000003"."""
        return ", ".join(map(str, self.update_ids))


@dataclass(frozen=True)
class ChatRules:
    """The settings that decide what gets answered, and the fixed texts."""

    groups: str = "mention"
    merge_bursts: bool = True
    reply_context: bool = True
    allow: tuple[str, ...] = ()
    greeting: str = ""
    help: str = ""
    reset: str = ""
    non_text: str = ""
    refusal: str = ""
    schedule: str = "every few minutes"
    commands: str = ""  # the command menu, one "/name - what it does" per line
    voice: bool = True
    photos: bool = True
    images: bool = False
    max_voice_seconds: int = 120
    hears: frozenset[str] | None = None  # the audio types the speech model is sent (lower case); None: any
    voice_too_long: str = ""
    voice_off: str = ""
    photos_off: str = ""
    video_note_unheard: str = ""
    audio_unheard: str = ""
    file_too_big: str = ""
    image_usage: str = ""
    images_off: str = ""
    personas: bool = False  # /persona is a command (chat.personas)
    keeps_personas: bool = False  # and BOTJOB_STATE_KEY is there to keep them with
    persona_unavailable: str = ""
    models: bool = False  # /model is a command (llm.choices)
    owners: tuple[str, ...] = ()  # access.owners: who may ask /stats


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def update_id_of(update: Any) -> int | None:
    """The update's id, or None when the update is too malformed to carry one."""
    value = update.get("update_id") if isinstance(update, dict) else None
    return value if _is_id(value) else None


def chat_of(update: Any) -> int | None:
    """The chat a message update belongs to; None for other kinds of update."""
    incoming = parse_update(update)
    return incoming.chat_id if incoming is not None else None


def say_to(updates: list[Any], text: str) -> Work:
    """A fixed text for these updates of one chat, threaded to the last of them (empty text: silence)."""
    messages = [m for m in map(parse_update, updates) if m is not None]
    ids = tuple(sorted(filter(None, map(update_id_of, updates))))
    if not messages or not text.strip():
        return Work(Action.SKIP, ids, reason="silent by settings" if messages else "not a message")
    last = max(messages, key=lambda m: m.update_id)
    return Work(Action.SAY, ids, last.chat_id, last.message_id, text=text, sent_at=min(m.date for m in messages))


def parse_update(update: Any) -> Incoming | None:
    """The message in an update, or None for other kinds (edits, button presses, channel posts...)."""
    update_id = update_id_of(update)
    message = update.get("message") if update_id is not None else None
    if not isinstance(message, dict):
        return None
    chat = message.get("chat")
    message_id = message.get("message_id")
    if not isinstance(chat, dict) or not _is_id(chat.get("id")) or not _is_id(message_id):
        return None
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    quoted = message.get("reply_to_message") if isinstance(message.get("reply_to_message"), dict) else {}
    quoted_sender = quoted.get("from") if isinstance(quoted.get("from"), dict) else {}
    sender_chat = message.get("sender_chat") if isinstance(message.get("sender_chat"), dict) else {}
    return Incoming(
        update_id=update_id,
        chat_id=chat["id"],
        chat_type=str(chat.get("type") or "unknown"),
        message_id=message_id,
        text=_words_of(message),
        has_media=any(kind in message for kind in MEDIA_KINDS),
        sender_id=sender.get("id") if _is_id(sender.get("id")) else None,
        sender_username=str(sender.get("username") or ""),
        chat_username=str(chat.get("username") or ""),
        quoted=_words_of(quoted) if quoted else None,
        quoted_from_id=quoted_sender.get("id") if _is_id(quoted_sender.get("id")) else None,
        date=message["date"] if _is_id(message.get("date")) else 0,
        moved=_migration(message, chat["id"]),
        media=_media_of(message),
        sender_chat_id=sender_chat.get("id") if _is_id(sender_chat.get("id")) else None,
    )


def _media_of(message: dict[str, Any]) -> Media | None:
    """The voice note or picture in a message: a photo at its largest size only."""
    for kind in ("voice", "audio", "video_note"):
        item = message.get(kind)
        if isinstance(item, dict) and isinstance(item.get("file_id"), str):
            default = "video/mp4" if kind == "video_note" else "audio/ogg" if kind == "voice" else "audio/mpeg"
            mime_type = str(item.get("mime_type") or default).split(";")[0].strip().lower()  # "audio/ogg; codecs=opus"
            return Media("voice", item["file_id"], mime_type, _number(item.get("duration")), _number(item.get("file_size")))
    photo = message.get("photo")
    sizes = [s for s in photo if isinstance(s, dict) and isinstance(s.get("file_id"), str)] if isinstance(photo, list) else []
    if sizes:
        # Telegram lists the sizes smallest first: on a tie, the later one.
        largest = max(enumerate(sizes), key=lambda i_s: (_number(i_s[1].get("width")) * _number(i_s[1].get("height")),
                                                         _number(i_s[1].get("file_size")), i_s[0]))[1]
        return Media("image", largest["file_id"], "image/jpeg", size=_number(largest.get("file_size")))
    document = message.get("document")
    if isinstance(document, dict) and str(document.get("mime_type", "")).startswith("image/") and isinstance(document.get("file_id"), str):
        return Media("image", document["file_id"], str(document["mime_type"]), size=_number(document.get("file_size")))
    return None


def _number(value: object) -> int:
    return value if _is_id(value) and value > 0 else 0  # type: ignore[return-value]


def _migration(message: dict[str, Any], chat_id: int) -> tuple[int, int] | None:
    """The service message Telegram sends in both chats when a group becomes a supergroup."""
    if _is_id(message.get("migrate_to_chat_id")):
        return chat_id, message["migrate_to_chat_id"]
    if _is_id(message.get("migrate_from_chat_id")):
        return message["migrate_from_chat_id"], chat_id
    return None


def _words_of(message: dict[str, Any]) -> str | None:
    for field in ("text", "caption"):
        value = message.get(field)
        if isinstance(value, str) and visible(value):
            return value
    return None


# Letters and symbols that draw nothing, used to send "empty" messages.
_BLANK_GLYPHS = {"\u115f", "\u1160", "\u2800", "\u3164", "\uffa0"}


def visible(text: str) -> bool:
    """Whether the text shows anything: not only spaces, zero-width and control characters, or blank glyphs."""
    return any(
        not char.isspace() and unicodedata.category(char)[0] not in "CZ" and char not in _BLANK_GLYPHS
        for char in text
    )


_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]+))?(?=\s|$)")


def plan(updates: list[Any], bot: BotIdentity, rules: ChatRules) -> list[Work]:
    """What to do for each update of a page: one Work per update, or one per burst of questions.

    Every update with an id ends up in exactly one Work, in the order of
    their first update; a burst (several questions from one person in one
    chat, with nothing else from that chat in between) becomes one ASK.
    """
    works: list[Work] = []
    open_burst: dict[int, int] = {}  # chat -> index in works of its ASK still open for merging
    for update in sorted(updates, key=lambda u: update_id_of(u) or -1):
        update_id = update_id_of(update)
        if update_id is None:
            continue
        incoming = parse_update(update)
        work = _decide(update_id, incoming, bot, rules)
        chat = work.chat_id if work.action is not Action.SKIP else None
        burst = open_burst.get(chat) if chat is not None else None
        if work.action is Action.ASK and rules.merge_bursts and burst is not None and _merges_with(works[burst], work):
            works[burst] = _merge(works[burst], work)
            continue
        if chat is not None:
            open_burst.pop(chat, None)
            if work.action is Action.ASK:
                open_burst[chat] = len(works)
        works.append(work)
    return works


def _decide(update_id: int, incoming: Incoming | None, bot: BotIdentity, rules: ChatRules) -> Work:
    if incoming is None:
        return Work(Action.SKIP, (update_id,), reason="not a message")
    if incoming.moved:
        return Work(Action.SKIP, (update_id,), reason="the group became a supergroup", moved=incoming.moved)
    in_group = incoming.chat_type in GROUP_TYPES
    if incoming.chat_type not in GROUP_TYPES + ("private",):
        return _skip(incoming, f"{incoming.chat_type} chat")
    if in_group and rules.groups == "off":
        return _skip(incoming, "groups are off")

    command = _COMMAND.match(incoming.text or "")
    if command:
        name, target = command.group(1).lower(), command.group(2)
        if target and target.lower() != bot.username.lower():
            return _skip(incoming, "command for another bot")
        if name == "stats" and _owner(incoming, rules):  # an owner need not be on access.allow
            return Work(Action.STATS, (incoming.update_id,), incoming.chat_id, incoming.message_id, sent_at=incoming.date)
        if not _allowed(incoming, rules):
            return _refuse(incoming, rules)
        addressed = bool(target) or not in_group
        if name == "start":
            return _say(incoming, _fill(rules.greeting, rules))
        if name == "help":
            return _say(incoming, _fill(rules.help, rules))
        if name == "reset":
            return Work(
                Action.RESET, (incoming.update_id,), incoming.chat_id, incoming.message_id, text=rules.reset, sent_at=incoming.date
            )
        if name == "image":
            return _draw(incoming, (incoming.text or "")[command.end():].strip(), rules)
        if name == "persona" and rules.personas:
            return _persona(incoming, (incoming.text or "")[command.end():].strip(), rules)
        if name == "model" and rules.models:
            words = (incoming.text or "")[command.end():].strip()
            return Work(Action.MODEL, (incoming.update_id,), incoming.chat_id, incoming.message_id, asker=incoming.sender_id,
                        sent_at=incoming.date, choice=PersonaRequest(words if visible(words) else "", _may_change(incoming)))
        if addressed:
            return _say(incoming, _fill(rules.help, rules))
        return _skip(incoming, "command for another bot")

    replies_to_bot = incoming.quoted_from_id == bot.id
    mention = _mention(bot.username)
    mentioned = bool(mention and incoming.text and mention.search(incoming.text))
    if in_group and rules.groups == "mention" and not (mentioned or replies_to_bot):
        return _skip(incoming, "group message not addressed to the bot")
    if not _allowed(incoming, rules):
        return _refuse(incoming, rules)

    media = incoming.media
    noted = not in_group or replies_to_bot  # where a short note about a file is welcome
    if media is not None and not (rules.voice if media.kind == "voice" else rules.photos):
        if incoming.text is None:  # nothing else to answer: say what is off
            off = rules.voice_off if media.kind == "voice" else rules.photos_off
            return _say(incoming, off) if noted and off else _skip(incoming, f"{media.kind} off")
        media = None  # the caption is answered as text
    if media is not None and media.kind == "voice" and rules.hears is not None and media.mime_type not in rules.hears:
        # No download, no model call: the speech model could not read it (a caption needs the recording too).
        unheard = rules.video_note_unheard if media.mime_type.startswith("video/") else rules.audio_unheard
        return _say(incoming, unheard) if noted and unheard else _skip(incoming, "audio the speech model cannot read")
    if media is not None and media.size > DOWNLOAD_LIMIT:
        return _say(incoming, rules.file_too_big)
    if media is not None and media.seconds > rules.max_voice_seconds:
        return _say(incoming, rules.voice_too_long)  # refused before any model hears it
    if incoming.text is None and media is None:
        if incoming.has_media and noted and rules.non_text:
            return _say(incoming, rules.non_text)
        return _skip(incoming, "no text")
    text = incoming.text or ""
    question = mention.sub("", text).strip() if mention else text.strip()
    if media is not None and media.kind == "voice":
        question = f"{question}\n\n{media.mark}".strip()  # a caption first, then the words of the note
    elif media is not None and not visible(question):
        question = DESCRIBE
    if not visible(question):
        return _say(incoming, _fill(rules.help, rules))
    turns: list[dict[str, str]] = []
    if rules.reply_context and incoming.quoted:
        if incoming.quoted_from_id == bot.id:
            turns.append({"role": "assistant", "content": incoming.quoted})
        else:
            question = f"(Replying to this message: \"{incoming.quoted.strip()}\")\n\n{question}"
    turns.append({"role": "user", "content": question})
    return Work(
        Action.ASK, (incoming.update_id,), incoming.chat_id, incoming.message_id,
        turns=tuple(turns), question=question, asker=incoming.sender_id, sent_at=incoming.date,
        media=(media,) if media else (),
    )


def _draw(incoming: Incoming, prompt: str, rules: ChatRules) -> Work:
    if not rules.images:
        return _say(incoming, rules.images_off)
    if not visible(prompt):
        return _say(incoming, rules.image_usage)
    return Work(
        Action.DRAW, (incoming.update_id,), incoming.chat_id, incoming.message_id,
        question=prompt, asker=incoming.sender_id, sent_at=incoming.date,
    )


def _persona(incoming: Incoming, words: str, rules: ChatRules) -> Work:
    if not rules.keeps_personas:  # without BOTJOB_STATE_KEY a persona could not be kept privately
        return _say(incoming, rules.persona_unavailable)
    return Work(
        Action.PERSONA, (incoming.update_id,), incoming.chat_id, incoming.message_id,
        asker=incoming.sender_id, sent_at=incoming.date,
        persona=PersonaRequest(words if visible(words) else "", _may_change(incoming)),
    )


def _may_change(incoming: Incoming) -> bool | None:
    """Whether the sender may change a setting of the chat (/persona, /model): True in private; in a group,
    None for a member (Telegram is asked whether an administrator), True for its anonymous administrator."""
    if incoming.chat_type not in GROUP_TYPES:
        return True
    if incoming.sender_chat_id is not None:
        # Only administrators may write as the group itself; a channel writing in a group is none of its members.
        return incoming.sender_chat_id == incoming.chat_id
    return None if incoming.sender_id is not None else False


def _merges_with(first: Work, later: Work) -> bool:
    """A burst is one person's questions; a picture is seen on its own."""
    seeing = any(m.kind == "image" for m in first.media + later.media)
    return first.asker == later.asker and not seeing


def _merge(first: Work, later: Work) -> Work:
    """One model call for a burst, threaded to its last message."""
    return Work(
        Action.ASK,
        first.update_ids + later.update_ids,
        first.chat_id,
        later.reply_to,
        turns=tuple(alternate(list(first.turns) + list(later.turns))),
        question=f"{first.question}\n\n{later.question}",
        asker=first.asker,
        sent_at=first.sent_at,
        media=first.media + later.media,
    )


def heard(work: Work, transcripts: dict[str, str]) -> Work:
    """The work with its voice notes' words in place of their marks (file id -> transcript)."""

    def fill(text: str) -> str:
        for media in work.media:
            text = text.replace(media.mark, transcripts.get(media.file_id, ""))
        return text.strip()

    turns = tuple({**turn, "content": fill(turn["content"])} for turn in work.turns)
    return dataclasses.replace(work, turns=turns, question=fill(work.question))


def with_image(messages: list[dict[str, Any]], image: bytes, mime_type: str) -> list[dict[str, Any]]:
    """The chat with a picture attached to its last user message, as an OpenAI ``image_url`` part."""
    url = f"data:{mime_type};base64,{base64.b64encode(image).decode('ascii')}"
    last = max(i for i, m in enumerate(messages) if m["role"] == "user")
    parts = [{"type": "text", "text": messages[last]["content"]}, {"type": "image_url", "image_url": {"url": url}}]
    return [*messages[:last], {"role": "user", "content": parts}, *messages[last + 1:]]


def _fill(template: str, rules: ChatRules) -> str:
    # Not str.format: an owner's text may hold other braces. ({wait} is filled before, by wiring.with_wait.)
    return template.replace("{schedule}", rules.schedule).replace("{commands}", rules.commands)


def measured_wait(typical: float, worst: float) -> str:
    """{wait} once the gaps between scheduled runs are measured (seconds): "My answers usually come
    within about 20 minutes." — the typical gap and a run's own time, in round figures, and the worst
    when it is far longer. What happened, never a promise: GitHub keeps none."""
    usually, longest = _round_minutes(typical + RUN_TIME), _round_minutes(worst + RUN_TIME)
    words = f"My answers usually come within about {_in_minutes(usually)}"
    if longest >= 2 * usually:
        words += f", but they have taken up to about {_in_minutes(longest)}"
    return words + "."


def _round_minutes(seconds: float) -> int:
    """A wait in round minutes: 5-minute steps within the hour, half hours up to 6 hours, hours beyond."""
    minutes = seconds / 60
    step = 5 if minutes < 57.5 else 30 if minutes < 6 * 60 else 60
    return max(5, step * round(minutes / step))


def _in_minutes(minutes: int) -> str:
    """ "20 minutes", "an hour", "an hour and a half", "2 hours", "2 and a half hours"."""
    if minutes < 60:
        return f"{minutes} minutes"
    hours, half = divmod(minutes, 60)
    whole = "an hour" if hours == 1 else f"{hours} hours"
    if not half:
        return whole
    return "an hour and a half" if hours == 1 else f"{hours} and a half hours"


def _skip(incoming: Incoming, reason: str) -> Work:
    return Work(Action.SKIP, (incoming.update_id,), reason=reason)


def _say(incoming: Incoming, text: str) -> Work:
    if not text.strip():  # an owner who emptied a text wants silence
        return _skip(incoming, "silent by settings")
    return Work(Action.SAY, (incoming.update_id,), incoming.chat_id, incoming.message_id, text=text, sent_at=incoming.date)


def _refuse(incoming: Incoming, rules: ChatRules) -> Work:
    if incoming.chat_type in GROUP_TYPES:
        return _skip(incoming, "group not allowed")
    return _say(incoming, rules.refusal)


def _allowed(incoming: Incoming, rules: ChatRules) -> bool:
    if not rules.allow:
        return True
    ids = {str(incoming.chat_id), str(incoming.sender_id)}
    names = {f"@{n.lower()}" for n in (incoming.sender_username, incoming.chat_username) if n}
    return any(entry in ids or entry.lower() in names for entry in rules.allow)


def _owner(incoming: Incoming, rules: ChatRules) -> bool:
    """Whether an owner asks, in a private chat: the counts are for the owner alone, not for a group to read.
    For anyone else /stats is an unknown command, as any other (no hint that it exists)."""
    if incoming.chat_type != "private" or incoming.sender_id is None:
        return False
    name = f"@{incoming.sender_username.lower()}" if incoming.sender_username else None
    return any(entry == str(incoming.sender_id) or entry.lower() == name for entry in rules.owners)


def _mention(username: str) -> re.Pattern[str] | None:
    return re.compile(rf"@{re.escape(username)}(?![A-Za-z0-9_])", re.IGNORECASE) if username else None


def alternate(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """Merge neighbouring turns of the same role: many chat templates insist that roles alternate."""
    merged: list[dict[str, str]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {"role": turn["role"], "content": f"{merged[-1]['content']}\n\n{turn['content']}"}
        else:
            merged.append(dict(turn))
    return merged


def build_prompt(
    system_prompt: str, turns: list[dict[str, str]] | tuple[dict[str, str], ...], history: list[dict[str, str]] = ()
) -> list[dict[str, str]]:
    """The chat messages sent to the model: the system prompt, remembered turns, then the question."""
    turns = list(turns)
    if history and turns and turns[0] == history[-1]:
        turns.pop(0)  # a reply to the last remembered answer: memory has it already
    conversation = alternate([*history, *turns])
    system = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    return system + conversation


_THINK_BLOCK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL | re.IGNORECASE)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_model_text(text: str) -> str:
    """What the user may see of the model's output: reasoning blocks removed, ends trimmed.

    Half an emoji (a lone UTF-16 surrogate, which JSON can carry) becomes
    U+FFFD: it could be neither counted nor sent.
    """
    text = _LONE_SURROGATE.sub("\ufffd", _THINK_BLOCK.sub("", text))
    # Some chat templates put the opening <think> in the prompt: only the closing tag comes back.
    _, closing, after = text.rpartition("</think>")
    return (after if closing else text).strip()


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_for_telegram(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Cut text into parts Telegram accepts, at paragraph, line, sentence, then word boundaries."""
    return [text[start:end] for start, end in split_ranges(text, limit)]


def split_ranges(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[tuple[int, int]]:
    """Where ``split_for_telegram`` cuts: (start, end) of each part in ``text``, blank ends left out."""
    ranges: list[tuple[int, int]] = []
    start, end = _skip_space(text, 0, len(text)), len(text.rstrip())
    while start < end and utf16_len(text[start:end]) > limit:
        head = _longest_prefix(text[start:end], limit) or text[start]  # a limit below one character still makes progress
        cut = start + _best_cut(head)
        part_end = len(text[:cut].rstrip())
        if part_end > start:
            ranges.append((start, part_end))
        start = _skip_space(text, cut, end)
    if start < end:
        ranges.append((start, end))
    return ranges


def _skip_space(text: str, start: int, end: int) -> int:
    while start < end and text[start].isspace():
        start += 1
    return start


def _longest_prefix(text: str, limit: int) -> str:
    """The longest prefix within ``limit`` UTF-16 units (never splits a surrogate pair)."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


_BOUNDARIES = (re.compile(r"\n\n"), re.compile(r"\n"), re.compile(r"[.!?…]\s"), re.compile(r"\s"))


def _best_cut(head: str) -> int:
    """Where to end a part: after the last paragraph, line, sentence or word boundary in ``head``."""
    for boundary in _BOUNDARIES:
        ends = [match.end() for match in boundary.finditer(head)]
        if ends and ends[-1] > len(head) // 4:  # a cut too near the start would leave tiny parts
            return ends[-1]
    return len(head)
