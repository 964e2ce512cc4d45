"""The rep page's session: the token in a cookie, a form token bound to it, and forms only from the desk itself.

- The cookie is HttpOnly and SameSite=Lax (Secure behind HTTPS,
  ``DeskConfig.secure_cookies``): a browser sends it when a rep follows a link
  from the CRM or an email (a top-level GET, which changes nothing), never with
  another site's form post or script.
- SameSite cannot tell this server from another port of the same host (one
  "site"), so every POST from a browser must also come from this server's own
  origin: its ``Origin`` header (or, without one, its ``Referer``) must name
  the host and port the request was sent to (its ``Host`` header: a reverse
  proxy must pass the browser's on, as nginx's ``proxy_set_header Host $host``).
- Every form that changes something (record an outcome, sign out) carries
  ``csrf_token``, an HMAC of the session's token: a page that cannot read the
  cookie cannot know it, and it changes with the session.
- A cookie is forgotten only when it was sent and no longer works, never
  because a request came without it.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response

COOKIE = "savedesk_token"
CSRF_FIELD = "csrf_token"
FORGED = (
    "This form did not come from this savedesk page, or the page is from an earlier session: reload the page "
    "and send the form again."
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def form_token(session_token: str) -> str:
    """The token the session's forms carry: an HMAC of the session's token (which it does not reveal)."""
    return hmac.new(session_token.encode("utf-8"), b"savedesk form", hashlib.sha256).hexdigest()


def page_form_token(request: Request) -> str:
    """The form token of the request's session; empty without a session."""
    session = request.cookies.get(COOKIE, "")
    return form_token(session) if session else ""


def check_form_token(request: Request, sent: str) -> None:
    """403 unless ``sent`` is the form token of the request's session."""
    expected = page_form_token(request)
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode("utf-8", "replace")):
        raise HTTPException(403, FORGED)


def check_origin(request: Request) -> None:
    """403 when a browser says the request comes from another origin (scheme, host or port) than this server."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if sent is not None and not same_origin(sent, request.headers.get("host", "")):
        raise HTTPException(403, FORGED)


def same_origin(url: str, host: str) -> bool:
    """Whether ``url`` (an Origin or Referer) names the host and port of the ``Host`` header ``host``.

    A scheme's default port counts as no port, on both sides: behind a proxy that ends HTTPS, the server hears
    ``desk.example.com`` while the browser says ``https://desk.example.com``.
    """
    try:
        theirs, ours = urlsplit(url), urlsplit(f"//{host}")
        their_port, our_port = theirs.port, ours.port
    except ValueError:
        return False
    if theirs.scheme not in _DEFAULT_PORTS or not theirs.hostname or not ours.hostname:
        return False
    their_port = None if their_port == _DEFAULT_PORTS[theirs.scheme] else their_port
    our_port = None if our_port in _DEFAULT_PORTS.values() else our_port
    return (theirs.hostname, their_port) == (ours.hostname, our_port)


def keep(response: Response, token: str, *, secure: bool) -> None:
    """Keep ``token`` as the session cookie."""
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/")


def forget(request: Request, response: Response) -> None:
    """Delete the session cookie, if the request sent one."""
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/")
