"""Mask secrets in text, JSON objects, HTTP headers and log records.

Everything slacklab shows or writes (reprs, log lines, DataFrame cells, CSV,
HTML reports, exception messages) goes through these functions first. What is
masked:

* Slack tokens: ``xapp-``, ``xoxb-``, ``xoxp-``, ``xoxe-`` (refresh), ``xoxc-`` and
  ``xoxd-`` (browser session), ``xoxa-``, ``xoxr-``, ``xoxs-``, ``xoxo-``, ``xwfp-``
  followed by token characters;
* URLs that can post to Slack: ``response_url`` values
  (``hooks.slack.com/commands/…``, ``…/actions/…``), incoming webhooks
  (``hooks.slack.com/services/…``) and workflow triggers, written plainly, with
  JSON's escaped slashes or percent-encoded (the host and kind stay readable);
* JSON keys that name a secret, whatever their value: ``token`` (the deprecated
  verification token), ``secret`` and any key ending in ``_token`` or ``_secret``
  (``bot_access_token``, ``access_token``, ``client_secret``, ``signing_secret``…),
  also as ``"key": "value"`` inside text and as ``key=value`` form fields;
* the Socket Mode WebSocket ``ticket`` query parameter;
* ``Authorization``, ``Cookie``, ``Set-Cookie`` and ``X-Slack-Signature`` headers;
* any extra literal secrets the caller registers (a signing secret, for example).

The mask keeps a short, harmless prefix (``xapp-…``, ``https://hooks.slack.com/commands/…``)
so a reader can still tell what kind of credential was there.

Third-party libraries log what they send at DEBUG level (``websockets`` the
WebSocket URL with its ticket, ``slack_sdk`` the ``apps.connections.open``
answer): :func:`install_log_filter` masks their records too; the listener calls
it when it starts.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

__all__ = [
    "FILTERED_LOGGERS",
    "MASK",
    "SECRET_HEADERS",
    "SecretLogFilter",
    "install_log_filter",
    "is_secret_key",
    "mask_headers",
    "mask_json",
    "mask_json_text",
    "mask_text",
    "register_secret",
]

MASK = "•••"

# A token is the prefix, a dash and at least 4 token characters. Slack tokens
# are [A-Za-z0-9-] (browser session ones URL-encoded: %); we stop at anything else so surrounding JSON stays intact.
_TOKEN_RE = re.compile(r"\b(xapp|xox[abcdeoprs]|xwfp)-[A-Za-z0-9%-]{4,}")
_TICKET_RE = re.compile(r"(ticket=)[^&\s\"']+")
# A URL that can post: keep the host and the kind (commands, actions, services…), mask
# the rest. Slashes may come as "/", JSON's "\/" or a form body's "%2F"; a backslash is
# only taken before a slash, so a JSON string embedded in a string keeps its \" ending.
_SLASH = r"(?:/|\\/|%2[Ff])"
_HOOK_RE = re.compile(r"(hooks\.slack(?:-gov)?\.com" + _SLASH + r"(?:[A-Za-z]+" + _SLASH + r")?)(?:[\w.~%-]|\\?/)+")
# "token": "…", "bot_access_token": "…", "client_secret": "…" inside text (also JSON
# escaped in a string); the value runs to its closing quote, or to the end of a frame cut short
_KEY = r"(?:[A-Za-z0-9]+_)*(?:token|secret)"
_SECRET_FIELD_RE = re.compile(r'(\\?"' + _KEY + r'\\?"\s*:\s*\\?")[^"\\]*')
_FORM_SECRET_RE = re.compile(r"(^|&)(" + _KEY + r"=)[^&]*")

SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-slack-signature", "proxy-authorization"})


def is_secret_key(key: object) -> bool:
    """True for JSON keys whose value is a secret: ``token``, ``secret``, ``*_token``, ``*_secret``."""
    if not isinstance(key, str):
        return False
    return key == "token" or key == "secret" or key.endswith(("_token", "_secret"))


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
    """Return ``text`` with tokens, tickets, hook URLs, secret fields and registered secrets masked."""
    if not text:
        return text
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "xox" in text or "xapp-" in text or "xwfp-" in text:  # what _TOKEN_RE needs (faster than running it)
        text = _TOKEN_RE.sub(_token_mask, text)
    if "ticket=" in text:
        text = _TICKET_RE.sub(r"\1" + MASK, text)
    if "hooks.slack" in text:
        text = _HOOK_RE.sub(r"\1" + MASK, text)
    if "token" in text or "secret" in text:
        if '"' in text:
            text = _SECRET_FIELD_RE.sub(r"\1" + MASK, text)
        if "=" in text:
            text = _FORM_SECRET_RE.sub(r"\1\2" + MASK, text)
    return text


def mask_json(value: Any) -> Any:
    """Return a copy of a JSON-like value with secrets masked (values of keys named like secrets too)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if (isinstance(v, str) and v and is_secret_key(k)) else mask_json(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    return value


# Substrings without which mask_text cannot change a string, nor mask_json a key: a
# superset of every pattern above (JSON escaping cannot create or hide them, as none
# holds a character JSON escapes), so text free of them needs no masking.
_TRIGGERS = ("xapp-", "xox", "xwfp-", "ticket=", "hooks.slack", "token", "secret")


def _needs_masking(text: str, masked_keys: list[str], hooks: int) -> bool:
    """True unless ``text`` is clean: compact JSON whose top-level ``masked_keys`` were masked, and
    whose top-level values holding ``hooks`` occurrences of ``hooks.slack`` were masked with :func:`mask_text`.
    """
    tokens = secrets = 0
    for k in masked_keys:
        tokens += k.count("token")
        secrets += k.count("secret")
    if text.count("token") != tokens:
        return True  # a key named like a secret, a "token" field or token= form field somewhere else
    if text.count("secret") != secrets:
        return True
    if text.count("hooks.slack") != hooks:
        return True  # a hook URL below the top level
    # the other substrings of _TRIGGERS, spelt out: this runs once per row of every snapshot
    if "xapp-" in text or "xox" in text or "xwfp-" in text or "ticket=" in text:
        return True
    secrets_now = _extra_secrets
    if secrets_now:
        for escaped in _escaped(secrets_now):
            if escaped in text:
                return True
    return False


_secret_key_cache: dict[Any, bool] = {}


def _is_secret_key_cached(key: Any) -> bool:
    """:func:`is_secret_key`, remembered for the few thousand key names a capture meets."""
    known = _secret_key_cache.get(key)
    if known is None:
        known = is_secret_key(key)
        if len(_secret_key_cache) < 4096:
            _secret_key_cache[key] = known
    return known


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
    verification ``token``, a slash command's or a button's ``response_url``):
    those are masked in a shallow copy, the copy is serialised once, and the text
    is checked for anything else that could need masking; only then does it take
    the full :func:`mask_json` walk. The result is the same text either way.
    """
    if type(value) is dict:
        masked: list[str] = []
        changed: dict[str, str] = {}
        hooks = 0
        cache = _secret_key_cache
        for k, v in value.items():
            if v.__class__ is str and v:
                secret = cache.get(k)
                if secret is None:
                    secret = _is_secret_key_cached(k)
                if secret:
                    masked.append(k)
                    changed[k] = MASK
                elif "hooks.slack" in v:
                    changed[k] = masked_value = mask_text(v)
                    hooks += masked_value.count("hooks.slack")
        shallow = {**value, **changed} if changed else value
        try:
            # orjson writes the same compact, non-ASCII-escaped text ~7x faster than json.dumps
            # (benchmarks/bench_million.py); what it refuses (non-str keys, ints past 64 bits,
            # a payload that holds itself) takes the mask_json walk below, as before
            text = orjson.dumps(shallow).decode("utf-8")
        except (TypeError, ValueError):
            text = None
        if text is not None and not _needs_masking(text, masked, hooks):
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


class SecretLogFilter(logging.Filter):
    """A logging filter that masks each record's message (tokens, tickets, hook URLs, registered secrets).

    The record is changed in place (its message formatted once and masked), so
    every handler downstream sees the masked text. It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own error report
            return True
        masked = mask_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True


_LOG_FILTER = SecretLogFilter()
FILTERED_LOGGERS = (
    "websockets",
    "websockets.client",
    "websockets.server",
    "websockets.protocol",
    "slack_sdk",
    "slack_sdk.web.base_client",
    "slack_sdk.web.client",
    "slack_sdk.socket_mode",
    "slack_bolt",
    "aiohttp",
    "urllib3",
    "slacklab",
)
"""The loggers :func:`install_log_filter` covers, with every child logger of theirs that exists then.

Libraries create some loggers only when first used (``slack_sdk``'s Web client
logger, ``websockets.client``): those are named here, so the filter is on them
before they log anything.
"""


def install_log_filter(names: Iterable[str] = FILTERED_LOGGERS) -> list[str]:
    """Mask secrets in records of these loggers and of their existing children; returns the logger names.

    A filter on a logger only sees records logged to that logger itself (a child's
    records pass its parent's handlers, not its filters), so the filter goes on each
    named logger (created now if need be: the library gets the same object later) and
    on every existing logger below one. The listener calls this each time it starts;
    safe to call again. It costs nothing unless DEBUG logging is on for them.
    """
    wanted = set(names)
    prefixes = tuple(name + "." for name in wanted)
    wanted.update(name for name in list(logging.root.manager.loggerDict) if name.startswith(prefixes))
    for name in sorted(wanted):
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)
    return sorted(wanted)
