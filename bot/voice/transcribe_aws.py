"""Amazon Transcribe, for deployments that keep the photo store on S3: the note is already there (stored like a
photo, by sha256), so a batch job reads it in place and writes its transcript beside it; we read that, then delete
the transcript and the job (the audio itself goes with the person's data).

The job is named after the message, so a retry of the same note finds its job instead of paying for a second one.
Blocking (it polls): call with `off_loop`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from bot.voice.audio import AudioRejected
from bot.voice.transcript import Note, Transcript, TranscriptionUnavailable

log = logging.getLogger(__name__)

# The formats Transcribe reads (its MediaFormat), by the content type WhatsApp / Twilio give the note.
MEDIA_FORMATS = {
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/amr": "amr",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "mp4",
    "audio/m4a": "mp4",
    "audio/x-m4a": "mp4",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/webm": "webm",
    "audio/flac": "flac",
}
MIN_BILLED_S = 15.0  # Transcribe bills each job at least this long


def job_name(note: Note) -> str:
    return f"plate-{note.sid}-{note.sha256[:16]}"


class AmazonTranscriber:
    name = "amazon-transcribe"
    paid = True

    def __init__(
        self,
        transcribe,
        s3,
        bucket: str,
        prefix: str,
        usd_per_minute: float,
        language: str = "en-US",
        timeout_s: float = 60.0,
        poll_s: float = 1.0,
        vocabulary: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        """Args:
        transcribe, s3: boto3 clients.
        bucket, prefix: where the photo store keeps the notes (`s3://bucket/prefix/sha256`).
        usd_per_minute: what Transcribe charges (billed per second, `MIN_BILLED_S` at least).
        vocabulary: a custom vocabulary made in Transcribe (our food names), or None.
        timeout_s: how long to wait for a job before asking to retry later.
        """
        self.transcribe_client, self.s3 = transcribe, s3
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.usd_per_minute = usd_per_minute
        self.language, self.timeout_s, self.poll_s, self.vocabulary = language, timeout_s, poll_s, vocabulary
        self._sleep, self._clock = sleep, clock

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def cost_usd(self, seconds: float) -> float:
        return max(MIN_BILLED_S, seconds) / 60.0 * self.usd_per_minute

    def transcribe(self, note: Note) -> Transcript:
        from botocore.exceptions import BotoCoreError, ClientError

        media_format = MEDIA_FORMATS.get(note.content_type)
        if media_format is None:
            raise AudioRejected(
                f"I can't send {note.content_type} notes to the transcriber; try an ordinary voice note"
            )
        name = job_name(note)
        output_key = self._key(f"transcripts/{name}.json")
        request = {
            "TranscriptionJobName": name,
            "LanguageCode": self.language,
            "MediaFormat": media_format,
            "Media": {"MediaFileUri": f"s3://{self.bucket}/{self._key(note.sha256)}"},
            "OutputBucketName": self.bucket,
            "OutputKey": output_key,
        }
        if self.vocabulary:
            request["Settings"] = {"VocabularyName": self.vocabulary}
        try:
            try:
                self.transcribe_client.start_transcription_job(**request)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConflictException":
                    raise
                log.info("transcription job %s exists (a retry): waiting on it", name)
            job = self._wait(name)
            if job["TranscriptionJobStatus"] == "FAILED":
                log.warning("transcription job %s failed: %s", name, job.get("FailureReason"))
                self._clean_up(name, None)
                raise AudioRejected("I couldn't make out that voice note")
            body = self.s3.get_object(Bucket=self.bucket, Key=output_key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise TranscriptionUnavailable(f"Amazon Transcribe: {exc}") from exc
        results = json.loads(body)["results"]
        text = " ".join(t["transcript"] for t in results.get("transcripts", [])).strip()
        self._clean_up(name, output_key)
        return Transcript(text, self.name, self.cost_usd(note.pcm.seconds))

    def _wait(self, name: str) -> dict:
        deadline = self._clock() + self.timeout_s
        while True:
            job = self.transcribe_client.get_transcription_job(TranscriptionJobName=name)["TranscriptionJob"]
            if job["TranscriptionJobStatus"] in ("COMPLETED", "FAILED"):
                return job
            if self._clock() >= deadline:
                raise TranscriptionUnavailable(f"transcription job {name} still {job['TranscriptionJobStatus']}")
            self._sleep(self.poll_s)

    def _clean_up(self, name: str, output_key: str | None) -> None:
        """The transcript is the person's words: it lives only in our database, with their data."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if output_key is not None:
                self.s3.delete_object(Bucket=self.bucket, Key=output_key)
            self.transcribe_client.delete_transcription_job(TranscriptionJobName=name)
        except (BotoCoreError, ClientError) as exc:
            log.error("could not clean up transcription job %s: %s", name, exc)
