"""``savedesk users add|list|revoke`` through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app
from serving.auth import Role, User, hash_token
from serving.store import OutcomesStore


def users(args: list[str], data: Path, store_url: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["users", *args, "--data", str(data)], env={"SAVEDESK_OUTCOMES_URL": store_url})
    return result.exit_code, result.stdout, result.stderr


def test_add_prints_a_working_token_once_list_never_shows_it_revoke_ends_it(store_url: str, tmp_path: Path) -> None:
    code, out, err = users(["add", "ann", "--role", "rep", "--territory", "T01", "--territory", "T02",
                            "--rep-id", "R011"], tmp_path, store_url)  # fmt: skip
    assert code == 0, out + err
    token = out.strip().splitlines()[-1]
    assert "cannot be shown again" in " ".join(err.split())
    code, out, err = users(["add", "mia", "--role", "manager"], tmp_path, store_url)
    assert code == 0, out + err

    store = OutcomesStore.open(store_url)
    try:
        assert store.authenticate(token) == User("ann", Role.REP, frozenset({"T01", "T02"}), "R011")
    finally:
        store.dispose()

    code, out, _ = users(["list"], tmp_path, store_url)
    assert code == 0
    assert "ann" in out and "mia" in out and "T01, T02" in out and "R011" in out
    assert token not in out and hash_token(token) not in out

    code, out, err = users(["revoke", "ann"], tmp_path, store_url)
    assert code == 0, out + err
    code, out, _ = users(["list"], tmp_path, store_url)
    assert "ann" not in out and "mia" in out
    store = OutcomesStore.open(store_url)
    try:
        assert store.authenticate(token) is None
    finally:
        store.dispose()


def test_mistakes_are_refused_with_a_reason(store_url: str, tmp_path: Path) -> None:
    assert users(["add", "ann", "--role", "rep", "--territory", "T01"], tmp_path, store_url)[0] == 0
    code, _, err = users(["add", "ann", "--role", "manager"], tmp_path, store_url)
    assert code == 1 and "already named ann" in err
    code, _, err = users(["add", "bob", "--role", "boss"], tmp_path, store_url)
    assert code == 2 and "--role" in err
    code, _, err = users(["add", "bob", "--role", "rep"], tmp_path, store_url)
    assert code == 1 and "territory" in err
    code, _, err = users(["revoke", "nobody"], tmp_path, store_url)
    assert code == 1 and "No active user" in err


def test_the_default_store_lives_in_the_workspace(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["users", "add", "mia", "--role", "admin", "--data", str(tmp_path)], env={"SAVEDESK_OUTCOMES_URL": ""}
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "outcomes.db").is_file()
