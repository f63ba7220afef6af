"""HTTP client of the model server's `POST /analyze`, with the bot's own mirror of the fields it uses.

The bot never imports `serving`: the contract is the JSON of `serving/schemas.py:AnalyzeResponse`, and
unknown fields are ignored so the server can grow without breaking the bot.
"""

from __future__ import annotations

import logging

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

log = logging.getLogger(__name__)
UNKNOWN = "unknown"  # the item name for a food the model does not know (schema 2)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AnalyzedSuggestion(_Lenient):
    name: str
    display_name: str
    probability: float = Field(0.0, ge=0, le=1)
    source: str = ""
    ndb: str | None = None


class Box(_Lenient):
    """Pixel box in the (EXIF-rotated) image."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float


class ImageSize(_Lenient):
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class AnalyzedItem(_Lenient):
    """A named food (all numbers set) or, from schema 2, an `unknown` one (kcal null) with suggestions.

    `embedding`: base64 of the crop's L2-normalised float16 features, when asked with `embed=true` and the
    server sends it (optional: the gallery reads it, nothing else needs it)."""

    name: str
    display_name: str
    ndb: str | None = None
    box: Box | None = None
    grams_basis: str = "model"
    embedding: str | None = None
    grams: float | None = Field(gt=0)
    grams_low: float | None = Field(gt=0)
    grams_high: float | None = Field(gt=0)
    kcal: float | None = Field(ge=0)
    protein_g: float | None = Field(ge=0)
    fat_g: float | None = Field(ge=0)
    carbs_g: float | None = Field(ge=0)
    confidence: float = Field(0.0, ge=0, le=1)
    suggestions: list[AnalyzedSuggestion] = Field(default_factory=list)

    @field_validator("embedding", mode="before")
    @classmethod
    def _embedding_or_none(cls, value):
        # optional extra: a malformed one must not make the whole answer "off the contract"
        return value if isinstance(value, str) and value else None

    @property
    def named(self) -> bool:
        """Named and counted: a food with grams and nutrients. Otherwise it is shown, asked about, not counted."""
        return self.name != UNKNOWN and None not in (
            self.grams,
            self.grams_low,
            self.grams_high,
            self.kcal,
            self.protein_g,
            self.fat_g,
            self.carbs_g,
        )


class AnalyzedTotals(_Lenient):
    grams: float = Field(ge=0)
    kcal: float = Field(ge=0)
    protein_g: float = Field(ge=0)
    fat_g: float = Field(ge=0)
    carbs_g: float = Field(ge=0)


class ModelRef(_Lenient):
    name: str
    version: str


class Analysis(_Lenient):
    """What the bot reads from an AnalyzeResponse."""

    items: list[AnalyzedItem]
    totals: AnalyzedTotals
    models: dict[str, ModelRef] = Field(default_factory=dict)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    usage: list[dict] = Field(default_factory=list)  # cloud namer calls the server made for this photo (their cost)
    hint: str | None = None
    image: ImageSize | None = None


class AnalysisUnavailable(Exception):
    """The model server could not answer now (down, timed out, 5xx, broken answer): retry later.

    `kind` says which, for the metrics: timeout, unreachable, server_error, busy (408/429), auth, contract."""

    def __init__(self, message: str, kind: str = "unavailable"):
        super().__init__(message)
        self.kind = kind


class PhotoRejected(Exception):
    """The model server refused this photo (4xx); `reason` is fit to show the person. Do not retry."""

    def __init__(self, reason: str, status: int):
        super().__init__(f"{status}: {reason}")
        self.reason = reason
        self.status = status


def _error_reason(response: httpx.Response) -> str:
    """The server's own words for a 4xx, whatever shape its error body has."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("detail", "error", "message"):
            if isinstance(body.get(key), str):
                return body[key][:200]
    return str(body)[:200]


class AnalysisClient:
    """Sends one photo as the raw request body (`Content-Type: image/...`) and parses the answer."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        http: httpx.AsyncClient | None = None,
        embeddings: bool = False,
        token: str = "",
    ):
        self.url = base_url.rstrip("/") + "/analyze"
        self.params = {"embed": "true"} if embeddings else None
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))
        self._http = http or httpx.AsyncClient(trust_env=False)
        self._owns_http = http is None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def analyze(self, image: bytes, content_type: str) -> Analysis:
        """Raises:
        AnalysisUnavailable: connection refused, timeout, 5xx or 429, 401/403 (the bot's token refused: a
            setting to fix, then retry), or an answer off the contract.
        PhotoRejected: any other 4xx (not an image, too large, unsupported type...).
        """
        try:
            response = await self._http.post(
                self.url,
                content=image,
                params=self.params,
                headers={"Content-Type": content_type, **self.auth},
                timeout=self.timeout,
            )
        except httpx.TimeoutException as exc:
            raise AnalysisUnavailable(f"{self.url} timed out ({type(exc).__name__})", "timeout") from exc
        except httpx.HTTPError as exc:
            raise AnalysisUnavailable(f"{self.url} unreachable: {type(exc).__name__}: {exc}", "unreachable") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            kind = "server_error" if response.status_code >= 500 else "busy"
            raise AnalysisUnavailable(f"{self.url} answered {response.status_code}: {response.text[:200]}", kind)
        if response.status_code in (401, 403):
            # our configuration, not the person's photo: BOT_SERVING_TOKEN differs from PLATE_SERVING_TOKEN
            log.error("%s refused the bot's credentials (%d): check BOT_SERVING_TOKEN", self.url, response.status_code)
            raise AnalysisUnavailable(
                f"{self.url} answered {response.status_code}: the bot's token was refused", "auth"
            )
        if response.status_code >= 400:
            raise PhotoRejected(_error_reason(response), response.status_code)
        try:
            return Analysis.model_validate_json(response.content)
        except ValidationError as exc:
            # A contract break is our bug, not the person's photo: keep the message and retry after a fix.
            log.error("answer of %s is off the AnalyzeResponse contract: %s", self.url, exc)
            raise AnalysisUnavailable(f"answer off the contract: {exc.error_count()} errors", "contract") from exc
