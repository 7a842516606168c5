"""Mask secrets in text, JSON objects and HTTP headers.

Everything slacklab shows or writes (reprs, log lines, DataFrame cells, CSV,
HTML reports, exception messages) goes through these functions first. What is
masked:

* Slack tokens: ``xapp-``, ``xoxb-``, ``xoxp-``, ``xoxe-``, ``xoxa-``, ``xoxr-``,
  ``xoxs-``, ``xwfp-`` followed by token characters;
* the deprecated verification ``token`` field of payloads;
* the Socket Mode WebSocket ``ticket`` query parameter;
* ``Authorization``, ``Cookie``, ``Set-Cookie`` and ``X-Slack-Signature`` headers;
* any extra literal secrets the caller registers (a signing secret, for example).

The mask keeps a short, harmless prefix (``xapp-…``) so a reader can still
tell what kind of credential was there.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

__all__ = [
    "MASK",
    "SECRET_HEADERS",
    "mask_headers",
    "mask_json",
    "mask_json_text",
    "mask_text",
    "register_secret",
]

MASK = "•••"

# A token is the prefix, a dash and at least 4 token characters. Slack tokens
# are [A-Za-z0-9-]; we stop at anything else so surrounding JSON stays intact.
_TOKEN_RE = re.compile(r"\b(xapp|xox[abeoprs]|xwfp)-[A-Za-z0-9-]{4,}")
_TICKET_RE = re.compile(r"(ticket=)[^&\s\"']+")
# the value runs to its closing quote, or to the end of a frame cut short; \"token\" is JSON in a string
_TOKEN_FIELD_RE = re.compile(r'(\\?"token\\?"\s*:\s*\\?")[^"\\]*')
_FORM_TOKEN_RE = re.compile(r"(^|&)(token=)[^&]*")

SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-slack-signature", "proxy-authorization"})
_SECRET_KEYS = frozenset({"token", "app_token", "bot_token", "signing_secret", "client_secret"})

_extra_lock = threading.Lock()
_extra_secrets: tuple[str, ...] = ()


def register_secret(secret: str | None) -> None:
    """Mask this literal string everywhere from now on (signing secrets, custom tokens).

    Short strings (under 6 characters) are ignored: masking them would mangle
    ordinary text.
    """
    global _extra_secrets
    if not secret or len(secret) < 6:
        return
    with _extra_lock:
        if secret not in _extra_secrets:
            _extra_secrets = (*_extra_secrets, secret)


def _token_mask(match: re.Match[str]) -> str:
    return f"{match.group(1)}-{MASK}"


def mask_text(text: str) -> str:
    """Return ``text`` with tokens, tickets, ``"token"`` fields and registered secrets masked."""
    if not text:
        return text
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "x" in text:
        text = _TOKEN_RE.sub(_token_mask, text)
    if "ticket=" in text:
        text = _TICKET_RE.sub(r"\1" + MASK, text)
    if '"token' in text:
        text = _TOKEN_FIELD_RE.sub(r"\1" + MASK, text)
    if "token=" in text:
        text = _FORM_TOKEN_RE.sub(r"\1\2" + MASK, text)
    return text


def mask_json(value: Any) -> Any:
    """Return a copy of a JSON-like value with secrets masked (keys named ``token`` and friends too)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if (k in _SECRET_KEYS and isinstance(v, str) and v) else mask_json(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    return value


# Substrings without which mask_text cannot change a string, nor mask_json a key: a
# superset of every pattern above (JSON escaping cannot create or hide them, as none
# holds a character JSON escapes), so text free of them needs no masking.
_TRIGGERS = ("xapp-", "xox", "xwfp-", "ticket=")


def _needs_masking(text: str, masked_keys: list[str]) -> bool:
    """True unless ``text`` (compact JSON whose top-level ``masked_keys`` were masked) is clean."""
    tokens = secrets = 0
    for k in masked_keys:
        tokens += "token" in k
        secrets += "_secret" in k
    if text.count("token") != tokens:
        return True  # a "token" key, "token" field or token= form field somewhere else
    if text.count("_secret") != secrets:
        return True
    # the substrings of _TRIGGERS, spelt out: this runs once per row of every snapshot
    if "xapp-" in text or "xox" in text or "xwfp-" in text or "ticket=" in text:
        return True
    secrets_now = _extra_secrets
    if secrets_now:
        for escaped in _escaped(secrets_now):
            if escaped in text:
                return True
    return False


_escaped_cache: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


def _escaped(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """The registered secrets as they appear inside JSON strings (computed once per set of secrets)."""
    global _escaped_cache
    known, escaped = _escaped_cache
    if known is not secrets:
        escaped = tuple(json.dumps(secret, ensure_ascii=False)[1:-1] for secret in secrets)
        _escaped_cache = (secrets, escaped)
    return escaped


def mask_json_text(value: Any) -> str:
    """``json.dumps(mask_json(value))``, compact and not ASCII-escaped, but fast for clean payloads.

    Typical Slack payloads hold secrets only in top-level fields (the deprecated
    verification ``token``): those are masked in a shallow copy, the copy is
    serialised once, and the text is checked for anything else that could need
    masking; only then does it take the full :func:`mask_json` walk. The result
    is the same text either way.
    """
    if type(value) is dict:
        masked = [k for k, v in value.items() if k in _SECRET_KEYS and isinstance(v, str) and v]
        shallow = {**value, **dict.fromkeys(masked, MASK)} if masked else value
        try:
            # orjson writes the same compact, non-ASCII-escaped text ~7x faster than json.dumps
            # (benchmarks/bench_million.py); what it refuses (non-str keys, ints past 64 bits,
            # a payload that holds itself) takes the mask_json walk below, as before
            text = orjson.dumps(shallow).decode("utf-8")
        except (TypeError, ValueError):
            text = None
        if text is not None and not _needs_masking(text, masked):
            return text
    return json.dumps(mask_json(value), ensure_ascii=False, separators=(",", ":"))


def mask_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Mask the values of secret-bearing headers (case-insensitive) and tokens in the rest."""
    out = []
    for name, value in headers:
        if name.lower() in SECRET_HEADERS:
            out.append((name, MASK))
        else:
            out.append((name, mask_text(value)))
    return out
