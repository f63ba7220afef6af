"""The speech engine the settings name (`BOT_VOICE_ENGINE`), built once at start."""

from __future__ import annotations

import logging

from bot.settings import BotSettings
from bot.storage.photo_store import PhotoStore, S3PhotoStore
from bot.voice.transcript import Transcriber, VoiceConfigError

log = logging.getLogger(__name__)


def make_transcriber(settings: BotSettings, photos: PhotoStore | None) -> Transcriber | None:
    """The configured engine; None when voice notes are off.

    Raises:
        VoiceConfigError: an engine chosen explicitly that cannot run (a missing model folder, Transcribe without
            an S3 photo store).
    """
    engine = settings.voice_engine
    if engine == "off":
        return None
    if engine == "pocketsphinx":
        from bot.voice.sphinx import SphinxTranscriber

        return SphinxTranscriber(settings.voice_sphinx_search, warps=settings.voice_sphinx_warps)
    if engine == "whisper":
        from bot.voice.whisper import WhisperTranscriber

        return WhisperTranscriber(settings.voice_whisper_model)
    if engine == "transcribe":
        if not isinstance(photos, S3PhotoStore):
            raise VoiceConfigError("BOT_VOICE_ENGINE=transcribe reads the notes from S3: set BOT_PHOTO_STORE=s3://...")
        import boto3

        from bot.voice.transcribe_aws import AmazonTranscriber

        return AmazonTranscriber(
            boto3.client("transcribe", region_name=settings.aws_region),
            photos.client,
            photos.bucket,
            photos.prefix,
            settings.voice_transcribe_usd_per_minute,
            language=settings.voice_language,
            timeout_s=settings.voice_transcribe_timeout_s,
            vocabulary=settings.voice_transcribe_vocabulary,
        )
    raise VoiceConfigError(f"unknown voice engine {engine!r}")


def make_voice_notes(settings: BotSettings, store, ledger, http, auth, photos: PhotoStore | None):
    """The voice wing as the channel calls it, or None when voice notes are off or the default offline engine
    cannot run here (no ffmpeg, no pocketsphinx: logged, and notes are answered as before). Blocking (it builds the
    recogniser's grammar): call with `off_loop`."""
    from bot.photos.media import MediaFetcher
    from bot.voice.audio import AudioDecoder
    from bot.voice.service import VoiceNotes

    decoder = AudioDecoder(settings.voice_max_seconds, settings.voice_silence_db)
    try:
        if settings.voice_engine != "off" and not decoder.available():
            raise VoiceConfigError("ffmpeg is not installed (apt-get install ffmpeg)")
        transcriber = make_transcriber(settings, photos)
    except VoiceConfigError as exc:
        if settings.voice_engine != "pocketsphinx":
            raise
        log.error("voice notes are off: %s", exc)
        return None
    if transcriber is None:
        return None
    media = MediaFetcher(
        http,
        auth,
        settings.voice_max_bytes,
        settings.voice_types,
        settings.media_timeout_s,
        hosts=settings.media_hosts,
        credential_hosts=settings.media_credential_hosts,
        allow_private=settings.media_allow_private,
        max_redirects=settings.media_max_redirects,
        noun="voice note",
    )
    return VoiceNotes(settings, store, ledger, media, decoder, transcriber, photos)
