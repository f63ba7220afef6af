"""Voice notes on real audio made here (espeak-ng, ffmpeg): through the bot (a WhatsApp note logs a meal; bad audio
gets a clear reply), then the parts: decoding every format, the refusals, spoken numbers, the grammar, and the cloud / local engines' adapters (Amazon Transcribe through botocore's Stubber)."""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bot.voice.audio import SAMPLE_RATE, AudioDecoder, AudioRejected, Pcm
from bot.voice.meaning import meaning_of
from bot.voice.numbers import digits_to_words, words_to_digits
from bot.voice.service import heard_first
from bot.voice.transcript import Note, TranscriptionUnavailable, VoiceConfigError, as_typed

needs_audio_tools = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("espeak-ng")), reason="ffmpeg and espeak-ng (.ci/run installs them)"
)


def ffmpeg(args: list[str], data: bytes | None = None) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", *args], input=data, capture_output=True, check=True
    ).stdout


def spoken_wav(text: str, voice: str = "en-us", wpm: int = 150) -> bytes:
    return subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", text], capture_output=True, check=True
    ).stdout


def encode(wav: bytes, *codec: str, fmt: str) -> bytes:
    """Through a file: an M4A is written seeking back to its start."""
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "note"
        ffmpeg(["-i", "-", *codec, "-f", fmt, str(out)], wav)
        return out.read_bytes()


def whatsapp_note(text: str) -> bytes:
    return encode(spoken_wav(text), "-ac", "1", "-ar", "16000", "-c:a", "libopus", "-b:a", "16k", fmt="ogg")


def amr_noise(frames: int = 100) -> bytes:
    """An AMR-NB file by hand (no encoder here): 12.2 kbit/s frames of random bits decode to a rough noise."""
    rng = random.Random(0)
    return b"#!AMR\n" + b"".join(b"\x3c" + bytes(rng.getrandbits(8) for _ in range(31)) for _ in range(frames))


@needs_audio_tools
@pytest.mark.parametrize(
    "codec",
    [
        (("-c:a", "libopus", "-b:a", "16k"), "ogg"),
        (("-c:a", "libmp3lame"), "mp3"),
        (("-c:a", "aac", "-movflags", "+faststart"), "ipod"),  # M4A
        (("-c:a", "pcm_s16le"), "wav"),
    ],
)
def test_every_format_decodes_to_16_khz_mono(codec):
    wav = spoken_wav("two eggs and a slice of toast")
    data = encode(wav, *codec[0], fmt=codec[1])
    pcm = AudioDecoder(max_seconds=60).decode(data)
    expected = len(ffmpeg(["-i", "-", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"], wav)) / 2 / SAMPLE_RATE
    assert abs(pcm.seconds - expected) < 0.15  # codecs pad a few frames
    assert pcm.samples().dtype.str == "<i2"


@needs_audio_tools
def test_m4a_with_its_index_at_the_end_decodes():
    """Phones write M4A with the index last: a pipe could not read it, the temporary file can."""
    index_last = encode(spoken_wav("an apple"), "-c:a", "aac", fmt="mp4")
    assert index_last[4:8] == b"ftyp" and index_last.find(b"moov") > index_last.find(b"mdat")
    assert AudioDecoder(60).decode(index_last).seconds > 0.5


@needs_audio_tools
def test_amr_decodes():
    assert AudioDecoder(60, silence_db=-90).decode(amr_noise(100)).seconds == pytest.approx(2.0, abs=0.05)


@needs_audio_tools
@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: b"", "arrived empty"),
        (lambda: b"\xff\xd8\xff\xe0 this is a JPEG, not audio" * 20, "doesn't look like a voice note"),
        (lambda: whatsapp_note("two eggs and a slice of toast")[:300], "cut off or damaged"),
        (
            lambda: ffmpeg(
                ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", "-c:a", "libopus", "-f", "ogg", "-"]
            ),
            "silent",
        ),
        (
            lambda: ffmpeg(
                ["-f", "lavfi", "-i", "sine=f=300:r=16000", "-t", "75", "-c:a", "libopus", "-f", "ogg", "-"]
            ),
            "over 60 s",
        ),
    ],
    ids=["empty", "wrong type", "truncated", "silent", "too long"],
)
def test_bad_audio_is_refused_with_a_clear_reason(make, reason):
    with pytest.raises(AudioRejected) as refused:
        AudioDecoder(max_seconds=60).decode(make())
    assert reason in refused.value.reason


def test_spoken_numbers_become_digits():
    assert words_to_digits("i had two eggs and a slice of toast") == "i had 2 eggs and a slice of toast"
    assert words_to_digits("one hundred and fifty grams of rice") == "150 grams of rice"
    assert words_to_digits("a hundred grams") == "100 grams"
    assert words_to_digits("twenty five almonds") == "25 almonds"
    assert words_to_digits("one and a half cups") == "1.5 cups"
    assert words_to_digits("half a cup of oats") == "half a cup of oats"
    for n in (1, 12, 40, 99, 105, 150, 999, 2500):
        assert words_to_digits(digits_to_words(n)) == str(n)


def test_a_transcript_reads_like_a_typed_message():
    assert as_typed("Five hundred milliliters of milk.") == "500 ml of milk"
    assert as_typed("I had 2 eggs, and a slice of toast.") == "i had 2 eggs and a slice of toast"
    assert meaning_of(as_typed("two eggs and a slice of toast")) == meaning_of("2 eggs and 1 slice of toast")
    assert meaning_of("it was 200 grams")[:2] == ("correction", "grams")
    assert meaning_of("today") == ("command", "today", "")
    assert meaning_of("the weather is nice") is None


def test_heard_comes_first_and_typed_replies_are_untouched():
    assert heard_first("two eggs", "Egg 100 g") == 'I heard: "two eggs"\nEgg 100 g'
    assert heard_first("help", ("one", "two")) == ('I heard: "help"\none', "two")
    assert heard_first(None, ("one",)) == ("one",)


@pytest.mark.parametrize("search", ["grammar", "ngram"])
def test_every_word_of_our_language_has_a_pronunciation(tmp_path, search):
    from bot.voice.sphinx import build_search

    built = build_search(tmp_path, search)  # raises VoiceConfigError for a word CMUdict lacks
    words = {line.split()[0].split("(")[0] for line in (tmp_path / "plate.dict").read_text().splitlines()}
    assert {"eggs", "toast", "grams", "hundred", "quinoa", "chickpea"} <= words
    assert set(built) == {"dict", "jsgf" if search == "grammar" else "lm"}


@needs_audio_tools
def test_pocketsphinx_hears_a_meal_offline():
    from bot.voice.sphinx import SphinxTranscriber

    data = whatsapp_note("two eggs and a slice of toast")
    pcm = AudioDecoder(60).decode(data)
    heard = SphinxTranscriber().transcribe(Note(pcm, data, "audio/ogg", "0" * 64, "SM1"))
    assert meaning_of(heard.message) == meaning_of("2 eggs and a slice of toast"), heard.text
    assert heard.engine == "pocketsphinx" and heard.cost_usd == 0


@pytest.mark.parametrize("warps", [(), (0.5, 1.0), (1.0, 2.0)])
def test_vocal_tract_warps_out_of_range_are_refused(warps):
    from bot.voice.sphinx import SphinxTranscriber

    with pytest.raises(ValueError, match="warps must be"):
        SphinxTranscriber(warps=warps)


def test_the_benchmark_sets_are_disjoint_and_understood():
    from benchmarks.voice import DEV_SENTENCES, SENTENCES, read_sentences

    test, dev = read_sentences(SENTENCES), read_sentences(DEV_SENTENCES)
    assert len(test) >= 50 and len(dev) >= 25
    assert not {s.lower() for s in test} & {s.lower() for s in dev}
    assert all(meaning_of(as_typed(s)) is not None for s in test + dev)


# --- Amazon Transcribe, through botocore's Stubber -------------------------------------------------------------


def _clients():
    import boto3

    session = boto3.Session(aws_access_key_id="AKIATEST", aws_secret_access_key="secret", region_name="us-east-1")
    return session.client("transcribe"), session.client("s3")


def _note(seconds: float = 4.0) -> Note:
    return Note(Pcm(b"\x00\x00" * int(seconds * SAMPLE_RATE)), b"OggS...", "audio/ogg", "ab" * 32, "SMvoice1")


def _job(status: str, **extra) -> dict:
    return {
        "TranscriptionJob": {
            "TranscriptionJobName": "plate-SMvoice1-abababababababab",
            "TranscriptionJobStatus": status,
            **extra,
        }
    }


def test_amazon_transcribe_reads_the_stored_note_and_cleans_up():
    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    from bot.voice.transcribe_aws import AmazonTranscriber

    transcribe, s3 = _clients()
    name, out_key = "plate-SMvoice1-abababababababab", "voice/transcripts/plate-SMvoice1-abababababababab.json"
    result = json.dumps({"results": {"transcripts": [{"transcript": "Two eggs and a slice of toast."}]}}).encode()
    with Stubber(transcribe) as tx, Stubber(s3) as st:
        tx.add_response(
            "start_transcription_job",
            _job("IN_PROGRESS"),
            {
                "TranscriptionJobName": name,
                "LanguageCode": "en-US",
                "MediaFormat": "ogg",
                "Media": {"MediaFileUri": "s3://bot-bucket/voice/" + "ab" * 32},
                "OutputBucketName": "bot-bucket",
                "OutputKey": out_key,
            },
        )
        tx.add_response("get_transcription_job", _job("IN_PROGRESS"), {"TranscriptionJobName": name})
        tx.add_response("get_transcription_job", _job("COMPLETED"), {"TranscriptionJobName": name})
        st.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(result), len(result))},
            {"Bucket": "bot-bucket", "Key": out_key},
        )
        st.add_response("delete_object", {}, {"Bucket": "bot-bucket", "Key": out_key})
        tx.add_response("delete_transcription_job", {}, {"TranscriptionJobName": name})
        engine = AmazonTranscriber(transcribe, s3, "bot-bucket", "voice/", 0.024, sleep=lambda s: None)
        heard = engine.transcribe(_note(30.0))
        tx.assert_no_pending_responses()
        st.assert_no_pending_responses()
    assert heard.text == "Two eggs and a slice of toast." and heard.message == "2 eggs and a slice of toast"
    assert heard.cost_usd == pytest.approx(0.012)  # 30 s at $0.024 a minute
    assert engine.cost_usd(3.0) == pytest.approx(0.006)  # billed 15 s at least


def test_amazon_transcribe_retry_finds_its_job_and_a_slow_job_is_retried_later():
    from botocore.stub import Stubber

    from bot.voice.transcribe_aws import AmazonTranscriber

    transcribe, s3 = _clients()
    clock = iter(range(0, 1000, 10))
    with Stubber(transcribe) as tx:
        tx.add_client_error("start_transcription_job", "ConflictException", "The requested job name already exists.")
        tx.add_response("get_transcription_job", _job("IN_PROGRESS"))
        tx.add_response("get_transcription_job", _job("IN_PROGRESS"))
        engine = AmazonTranscriber(
            transcribe, s3, "bot-bucket", "", 0.024, timeout_s=15, sleep=lambda s: None, clock=lambda: next(clock)
        )
        with pytest.raises(TranscriptionUnavailable, match="still IN_PROGRESS"):
            engine.transcribe(_note())


def test_amazon_transcribe_failure_is_told_and_an_outage_retried():
    from botocore.stub import Stubber

    from bot.voice.transcribe_aws import AmazonTranscriber

    transcribe, s3 = _clients()
    with Stubber(transcribe) as tx, Stubber(s3):
        tx.add_response("start_transcription_job", _job("IN_PROGRESS"))
        tx.add_response("get_transcription_job", _job("FAILED", FailureReason="Invalid media"))
        tx.add_response("delete_transcription_job", {})
        engine = AmazonTranscriber(transcribe, s3, "bot-bucket", "", 0.024, sleep=lambda s: None)
        with pytest.raises(AudioRejected, match="couldn't make out"):
            engine.transcribe(_note())
        tx.add_client_error("start_transcription_job", "ServiceUnavailableException", http_status_code=503)
        with pytest.raises(TranscriptionUnavailable):
            engine.transcribe(_note())


def test_transcribe_needs_the_notes_on_s3(tmp_path):
    from bot.settings import BotSettings
    from bot.storage.photo_store import LocalPhotoStore
    from bot.voice.engines import make_transcriber

    settings = BotSettings(voice_engine="transcribe")
    with pytest.raises(VoiceConfigError, match="s3://"):
        make_transcriber(settings, LocalPhotoStore(tmp_path))


# --- faster-whisper: a local model folder only -------------------------------------------------------------------


def test_whisper_refuses_a_missing_or_empty_model_folder(tmp_path):
    from bot.voice.whisper import WhisperTranscriber, check_model_dir

    with pytest.raises(VoiceConfigError, match="needs BOT_VOICE_WHISPER_MODEL"):
        WhisperTranscriber(None)
    with pytest.raises(VoiceConfigError, match="not a folder"):
        WhisperTranscriber(tmp_path / "nowhere")
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(VoiceConfigError, match=r"lacks \['config.json'\]"):
        WhisperTranscriber(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    assert check_model_dir(tmp_path) == tmp_path


# --- through the bot: the webhook, the Twilio stand-in's media host, SQLite, the photo store -------------------


TYPIST = "+15550077"


@pytest.fixture
def voice_bot(make_bot, usda_tables_dir, tmp_path):
    return make_bot(nutrition_dir=usda_tables_dir, coach="local", photo_store=str(tmp_path / "photos"))


@needs_audio_tools
def test_a_voice_note_logs_a_meal_end_to_end(voice_bot, tmp_path):
    from bot.devtools.simulate import reply_texts
    from bot.ledger import Ledger, period_keys
    from bot.storage.photo_store import LocalPhotoStore, sha256_of
    from bot.storage.records import utcnow

    bot = voice_bot
    note = whatsapp_note("two eggs and a slice of toast")
    form = bot.form(photos=[bot.media_url(note, "audio/ogg")])
    response = bot.post(form)
    assert response.status_code == 200
    (reply,) = reply_texts(response.text)
    lines = reply.splitlines()
    assert lines[0].startswith('I heard: "') and "eggs" in lines[0], reply
    assert any(line.startswith("Egg") for line in lines[1:]) and any("Toast" in line for line in lines[1:]), reply
    (meal,) = bot.store.meals(bot.user_id())
    assert sorted(i.name for i in meal.items) == ["01123", "18070"]  # SR28: egg, toast
    bot.send("2 eggs and a slice of toast", sender=TYPIST)  # the same meal typed: logged the same
    (typed,) = bot.store.meals(bot.user_id(TYPIST))
    assert sorted((i.name, i.grams, i.kcal) for i in meal.items) == sorted(
        (i.name, i.grams, i.kcal) for i in typed.items
    )
    kinds = bot.event_kinds(form["MessageSid"])
    assert kinds[:2] == ["received", "transcribed"] and "text" in kinds
    heard = next(e for e in bot.store.events(form["MessageSid"]) if e.kind == "transcribed").detail
    assert heard["engine"] == "pocketsphinx" and 1.5 < heard["seconds"] < 4.0 and heard["cost_usd"] == 0

    # the audio is kept like a photo (Twilio's URL expires), counted in the ledger, and goes with their data
    photos = LocalPhotoStore(tmp_path / "photos")
    assert bot.store.stored_photos(bot.user_id()) == [sha256_of(note)] and photos.exists(sha256_of(note))
    user = bot.store.get_user(bot.user_id())
    seconds, cost = Ledger(bot.store, bot.settings).voice_usage(user, "day", period_keys(utcnow(), "UTC")["day"])
    assert seconds == pytest.approx(heard["seconds"]) and cost == 0
    bot.send("delete my data")
    bot.send("yes delete")
    assert not photos.exists(sha256_of(note)) and bot.store.stored_photos(user.id) == []


@needs_audio_tools
def test_a_spoken_command_is_answered_as_typed(voice_bot):
    bot = voice_bot
    bot.send("2 eggs")
    (reply,) = bot.send(photos=[bot.media_url(whatsapp_note("today"), "audio/ogg")])
    assert reply.startswith('I heard: "today"\nToday so far:'), reply


@needs_audio_tools
@pytest.mark.parametrize(
    "make, content_type, said",
    [
        (lambda: b"", "audio/ogg", "Sorry, the voice note arrived empty."),
        (
            lambda: b"\xff\xd8\xff\xe0 a JPEG" * 50,
            "audio/ogg",
            "Sorry, that doesn't look like a voice note I can play.",
        ),
        (lambda: whatsapp_note("two eggs")[:300], "audio/ogg", "Sorry, that voice note arrived cut off or damaged"),
        (
            lambda: ffmpeg(
                ["-f", "lavfi", "-i", "sine=f=300:r=16000", "-t", "65", "-c:a", "libopus", "-f", "ogg", "-"]
            ),
            "audio/ogg",
            "Sorry, that voice note is over 60 s",
        ),
        (
            lambda: ffmpeg(
                ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2", "-c:a", "libmp3lame", "-f", "mp3", "-"]
            ),
            "audio/mpeg",
            "Sorry, that voice note is silent",
        ),
    ],
    ids=["empty", "wrong type", "truncated", "too long", "silent"],
)
def test_bad_audio_gets_a_clear_reply_and_the_message_is_kept(voice_bot, make, content_type, said):
    from bot.devtools.simulate import reply_texts
    from bot.storage.records import REJECTED

    bot = voice_bot
    form = bot.form(photos=[bot.media_url(make(), content_type)])
    (reply,) = reply_texts(bot.post(form).text)
    assert reply.startswith(said), reply
    message = bot.store.get_message(form["MessageSid"])
    assert message.status == REJECTED and message.media[0].content_type == content_type
    assert "rejected" in bot.event_kinds(form["MessageSid"])
    assert bot.store.meals(bot.user_id()) == []


def test_with_voice_off_a_note_is_answered_as_before(make_bot):
    bot = make_bot(voice_engine="off")
    (reply,) = bot.send(photos=[bot.media_url(b"OggS...", "audio/ogg")])
    assert reply == "I can only read photos (JPEG, PNG, WebP or HEIC), and that was an audio."


def test_a_note_that_cannot_be_downloaded_now_is_kept_for_a_retry(voice_bot):
    from bot.devtools.simulate import reply_texts
    from bot.storage.records import PENDING
    from bot.voice.service import UNAVAILABLE

    bot = voice_bot
    form = bot.form(photos=[("http://127.0.0.1:9/media/gone-for-now", "audio/ogg")])  # nothing listens there
    assert reply_texts(bot.post(form).text) == [UNAVAILABLE]
    assert bot.store.get_message(form["MessageSid"]).status == PENDING  # the retry worker takes it up again
    assert "transcription_failed" in bot.event_kinds(form["MessageSid"])


def test_a_long_note_is_listened_to_no_longer_than_allowed(caplog):
    import numpy as np

    from bot.voice.sphinx import SphinxTranscriber

    noise = (np.random.default_rng(0).normal(0, 3000, 25 * SAMPLE_RATE)).astype("<i2").tobytes()
    engine = SphinxTranscriber(max_decode_s=0.0)
    with caplog.at_level("WARNING", logger="bot.voice.sphinx"):
        heard = engine.transcribe(Note(Pcm(noise), b"", "audio/ogg", "0" * 64, "SMlong"))
    assert "SMlong: decoding stopped at 0 s of audio" in caplog.text and heard.engine == "pocketsphinx"
