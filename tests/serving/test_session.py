"""The page session's origin check and form token, without a server."""

from __future__ import annotations

import pytest

from serving.session import form_token, same_origin


@pytest.mark.parametrize(
    ("sent", "host", "same"),
    [
        ("http://127.0.0.1:8765", "127.0.0.1:8765", True),
        ("http://127.0.0.1:8765/accounts/A1", "127.0.0.1:8765", True),  # a Referer
        ("http://127.0.0.1:9999", "127.0.0.1:8765", False),  # same site, another port
        ("http://localhost:8765", "127.0.0.1:8765", False),
        ("https://desk.example.com", "desk.example.com", True),  # behind a proxy that ends HTTPS
        ("https://DESK.example.com", "desk.example.com:443", True),
        ("http://desk.example.com:8080", "desk.example.com", False),
        ("http://[::1]:8765", "[::1]:8765", True),
        ("http://evil.example/?next=127.0.0.1:8765", "127.0.0.1:8765", False),
        ("http://127.0.0.1:99999", "127.0.0.1:8765", False),  # not a port
        ("null", "127.0.0.1:8765", False),  # a sandboxed frame or a file
        ("ftp://127.0.0.1:8765", "127.0.0.1:8765", False),
        ("http://127.0.0.1:8765", "", False),
    ],
)
def test_only_the_servers_own_host_and_port_are_the_same_origin(sent: str, host: str, same: bool) -> None:
    assert same_origin(sent, host) is same


def test_a_form_token_belongs_to_one_session_and_does_not_reveal_it() -> None:
    one, other = "token-one-" + "x" * 33, "token-two-" + "y" * 33
    assert form_token(one) == form_token(one) != form_token(other)
    assert one not in form_token(one) and len(form_token(one)) == 64
