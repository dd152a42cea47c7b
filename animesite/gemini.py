"""The one place the site reaches Google's Gemini API (embeddings for search, comments for the
evaluator). Tests point ``GEMINI_BASE_URL`` at a fake server on 127.0.0.1."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from google import genai
from google.genai import types

# Retried: rate limiting and server-side failures. A 4xx other than 429 is our fault and
# retrying it only costs money.
RETRY_STATUS_CODES = [408, 429, 500, 502, 503, 504]


def gemini_http_options(*, timeout: float | None = None, retries: int | None = None) -> types.HttpOptions:
    return types.HttpOptions(
        base_url=settings.GEMINI_BASE_URL or None,
        # The SDK takes milliseconds.
        timeout=int((timeout or settings.GEMINI_TIMEOUT) * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=retries or settings.GEMINI_RETRIES,
            initial_delay=0.5,
            max_delay=8.0,
            exp_base=2.0,
            jitter=0.5,
            http_status_codes=RETRY_STATUS_CODES,
        ),
    )


def gemini_client(*, timeout: float | None = None, retries: int | None = None) -> genai.Client:
    """A google-genai client from the settings: API key, optional base URL, timeout, retries
    with exponential backoff on 429/5xx."""
    if not settings.GEMINI_API_KEY:
        raise ImproperlyConfigured("GEMINI_API_KEY must be set to use the Gemini backend")
    return genai.Client(
        api_key=settings.GEMINI_API_KEY,
        http_options=gemini_http_options(timeout=timeout, retries=retries),
    )


def gemini_json(
    *,
    instruction: str,
    prompt: str,
    schema: dict[str, object],
    temperature: float,
    timeout: float | None = None,
    retries: int | None = None,
    max_output_tokens: int | None = None,
) -> object:
    """One structured generateContent call with the settings' model: the answer parsed as JSON.
    Raises what the SDK raises (HTTP errors, timeouts) and ``ValueError`` for an answer that is not
    JSON; callers decide what a failure means for them."""
    # The client is held while it works: a google-genai Client closes its connection when it is
    # garbage-collected, which a chained call would allow mid-request.
    client = gemini_client(timeout=timeout, retries=retries)
    response = client.models.generate_content(
        model=settings.GEMINI_MODEL,
        contents=prompt,
        config=types.GenerateContentConfig(
            system_instruction=instruction,
            response_mime_type="application/json",
            response_schema=schema,
            temperature=temperature,
            max_output_tokens=max_output_tokens,
        ),
    )
    return json.loads(response.text or "")
