"""ASGI middleware of the API and the page: body limit, access log, and a shield for unexpected errors.

Oversized bodies are refused before parsing, each request is logged without PII,
and an unexpected error is answered with 500 and logged without its message.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.config import API
from serving.failures import log_failure

ACCESS_LOG = logging.getLogger("savedesk.access")
DRAIN_BYTES = 1 << 20
"""A refused body is read (and dropped) up to this size before the 413 goes out, so the client that is still
sending reads a clear answer instead of a reset connection; a larger one is cut off."""


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse a body larger than ``max_bytes`` with 413 before the app sees any of it.

    A declared ``Content-Length`` over the limit is refused without reading
    into memory; a streamed body is read up to the limit (and refused past it),
    then handed to the app. Before refusing, up to ``DRAIN_BYTES`` of the body
    are read and dropped, so the client hears the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check, buffer and pass on the request."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _drain(receive, 0)
            await _too_large(send, self.max_bytes)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                if message.get("more_body", False):
                    await _drain(receive, size)
                await _too_large(send, self.max_bytes)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def _drain(receive: Receive, size: int) -> None:
    """Read and drop the rest of a body, up to ``DRAIN_BYTES`` in all."""
    while size <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"The request body is larger than {limit} bytes."}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AccessLog:
    """One JSON line per request: method, route template, status, milliseconds, user name; nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and log it when the response has gone."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_of(scope)
            user = (scope.get("state") or {}).get("user", "-")
            line = {"method": scope["method"], "route": route, "status": status,
                    "ms": round(1000 * (time.perf_counter() - start), 2), "user": user}  # fmt: skip
            ACCESS_LOG.info(json.dumps(line, sort_keys=True))


def route_of(scope: Scope) -> str:
    """The matched route's template (``/accounts/{account_id}``, never the path itself), or ``unmatched``."""
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched")


class ErrorShield:
    """Answer an error no handler took with 500, logged as its class and frames only (``serving.failures``).

    Without it the server would log the exception's message and traceback, which
    may quote what was sent. Placed inside ``AccessLog``, so the 500 is logged there too.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; answer 500 if it fails before a response has started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:  # noqa: BLE001 - every error, answered and logged without its message
            log_failure("An unexpected error", error, scope["method"], route_of(scope))
            if not started:
                await _failed(send, page=not str(scope.get("path", "")).startswith(API))


_FAILED = "Something went wrong on the server. Please try again; if it happens again, tell your manager."


async def _failed(send: Send, *, page: bool) -> None:
    """500 with a sentence: a small page for the browser, JSON for the API."""
    if page:
        body = (
            f'<!DOCTYPE html><html lang="en"><meta charset="utf-8"><title>500 · savedesk</title>'
            f'<h1>Something went wrong</h1><p>{_FAILED}</p><p><a href="/list">Back to the list</a></p>'
        ).encode()
        kind = b"text/html; charset=utf-8"
    else:
        body, kind = json.dumps({"detail": _FAILED}).encode(), b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
