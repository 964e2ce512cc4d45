"""Schemathesis against the desk's OpenAPI document: the app, its callers, real ids and the checks.

Shared by ``tests/api/test_schemathesis.py`` (a short, seeded run in ``make test``) and ``bench/api_fuzz.py``
(10,000+ generated requests). The app is the real one, built in-process by ``pipelines.services.desk_app`` over a
published workspace, with its own outcomes store; Schemathesis loads ``/api/v1/openapi.json`` from it and calls it
over ASGI.

Every generated case is sent three times: with a manager's token, with a rep's token and with none. Positive
cases are steered to real ids (hooks below): an account of the rep's territory (with its open request), one of
another territory, the published date, the rep's territory and rep id, so the success paths (200, 201, replays)
are reached as well as 401/403/404/422. Negative cases are left as generated. Each response goes through
Schemathesis' checks: no 5xx, a status the document declares, a body and headers that fit the declared schema,
invalid data refused, valid data not refused with 422, authentication enforced.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import schemathesis
import sqlalchemy as sa
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pipelines.services import desk_app
from pipelines.settings import load_settings
from serving.auth import Role
from serving.publication.catalog import LIST_FILES
from serving.store import OutcomesStore
from sources.vocabulary import ROLLBACK_PCTS

OPENAPI = "/api/v1/openapi.json"
CALLERS = ("rep", "manager", "none")
"""Who sends each case: a manager's token, a rep's token, no token."""
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    ignored_auth,
]
"""What every response is checked for (``missing_required_header`` and friends need Schemathesis' own runner)."""
BEYOND_THE_DOCUMENT = {("POST", "/api/v1/outcomes")}
"""Operations whose valid-looking data may still be refused with 422, so ``positive_data_acceptance`` is not asked
of them: an outcome must fit rules JSON Schema cannot state (a rollback is one of the catalog's sizes and nothing
else carries one; the call date lies between 2000-01-01 and tomorrow in the desk's time zone; the request belongs
to the account; a new rate and a credit in proportion to the account's own rate). Each such 422 names its field
(``tests/serving/test_outcome_rules.py``; ``tests/api/test_schemathesis.py``)."""
UNLIMITED = 1_000_000
"""Requests a minute per token while fuzzing: the rate limit would otherwise answer most calls with 429."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class Statuses:
    """An ASGI wrapper that counts every HTTP response by operation and status (probes of the checks included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = OPENAPI if scope["path"] == OPENAPI else getattr(scope.get("route"), "path", None)
                route = re.sub(r":\w+}", "}", route) if route else "unmatched"  # {account_id:path} as documented
                with self._lock:
                    self.seen[(scope["method"], route, int(message["status"]))] += 1
            await send(message)

        await self.app(scope, receive, sending)

    @property
    def requests(self) -> int:
        """Responses counted so far (the OpenAPI document's own fetch excluded)."""
        return sum(n for (_, route, _), n in self.seen.items() if route != OPENAPI)

    def by_status(self) -> dict[int, int]:
        """Responses by status code."""
        out: Counter[int] = Counter()
        for (_, route, status), n in self.seen.items():
            if route != OPENAPI:
                out[status] += n
        return dict(sorted(out.items()))


@dataclass
class Target:
    """The app under test, who may call it and the real ids that reach its success paths."""

    app: Statuses
    store: OutcomesStore
    outcomes_url: str
    day: str
    """The latest published date."""
    tokens: dict[str, str]
    """A token by caller (``manager``, ``rep``); ``none`` sends no Authorization header."""
    territory: str
    """The rep's territory."""
    rep_id: str
    other_territory: str
    other_rep_id: str
    own_accounts: list[str]
    """Accounts of the rep's territory, listed ones first."""
    other_accounts: list[str]
    requests: dict[str, str] = field(default_factory=dict)
    """The open request of an account of the rep's territory, by account."""
    acknowledged: list[str] = field(default_factory=list)
    """The Idempotency-Key of every outcome the app answered 201 to."""
    fuzzed: bool = False
    """Whether ``exercise`` has sent anything (in this process: xdist may run the module's tests apart)."""
    failed: bool = False
    """Whether ``exercise`` has found a failure that is not a known bug (the run then stops short)."""

    def headers(self, caller: str) -> dict[str, str]:
        """The Authorization header of ``caller`` (none for ``none``)."""
        return {"Authorization": f"Bearer {self.tokens[caller]}"} if caller in self.tokens else {}


def build_target(workspace: Path, outcomes_url: str, *, accounts: int = 40) -> Target:
    """The app over a published ``workspace`` with an empty outcomes store at ``outcomes_url`` and two users.

    Args:
        workspace: A trained workspace with a published day (read only: outcomes go to ``outcomes_url``).
        outcomes_url: SQLAlchemy URL of an empty outcomes store.
        accounts: How many accounts of each territory the hooks draw from.
    """
    settings = load_settings(workspace)
    serving = settings.serving.model_copy(update={"requests_per_minute": UNLIMITED})
    settings = settings.model_copy(update={"outcomes_url": outcomes_url, "serving": serving})
    catalog = settings.catalog
    day = catalog.latest()
    if day is None:
        raise LookupError(f"nothing published in {catalog.folder}")
    folder = catalog.link(day)
    listed = pd.concat(
        [pd.read_parquet(folder / f) for f in LIST_FILES.values() if (folder / f).is_file()], ignore_index=True
    )
    by_size = listed.groupby("territory").size().sort_values(ascending=False)
    territory, other = str(by_size.index[0]), str(by_size.index[1])
    rep_id = str(listed.loc[listed["territory"] == territory, "rep_id"].iloc[0])
    other_rep_id = str(listed.loc[listed["territory"] == other, "rep_id"].iloc[0])
    context = pd.read_parquet(catalog.context(day), columns=["account_id", "territory"])

    def accounts_of(where: str) -> list[str]:
        first = listed.loc[listed["territory"] == where, "account_id"].astype(str).tolist()
        rest = context.loc[context["territory"] == where, "account_id"].astype(str).tolist()
        return list(dict.fromkeys(first + rest))[:accounts]

    own = accounts_of(territory)
    asked = listed[listed["territory"] == territory].dropna(subset=["request_id"])
    requests = {str(a): str(r) for a, r in zip(asked["account_id"], asked["request_id"], strict=True) if a in own}
    store = OutcomesStore.open(outcomes_url, settings.nightly.time_zone)
    tokens = {
        "manager": store.add_user("fuzz-manager", Role.MANAGER),
        "rep": store.add_user("fuzz-rep", Role.REP, [territory], rep_id),
    }
    app = Statuses(desk_app(settings, warm="none"))
    return Target(app, store, outcomes_url, str(day), tokens, territory, rep_id, other, other_rep_id, own,
                  accounts_of(other), requests)  # fmt: skip


REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""Statuses that refuse invalid data (Schemathesis' list, with 413 for a body over the limit and without 5xx)."""


def config(*, seed: int = 21, max_examples: int = 20) -> schemathesis.Config:
    """Schemathesis' configuration, explicit (no ``schemathesis.toml`` is looked for): seeded, NUL bytes allowed."""
    return schemathesis.Config.from_dict(
        {
            "seed": seed,
            "generation": {"max-examples": max_examples, "allow-x00": True, "database": "none"},
            "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}},
        }
    )


def load_schema(target: Target, settings: schemathesis.Config | None = None) -> BaseSchema:
    """The app's OpenAPI document as a Schemathesis schema, with hooks that steer positive cases to real ids."""
    schema = schemathesis.openapi.from_asgi(OPENAPI, target.app, config=settings or config())
    for hook in real_id_hooks(target):
        schema.hook(hook)
    return schema


def real_id_hooks(target: Target) -> list[Callable[..., Any]]:
    """A ``flatmap_case`` hook: a positive case keeps its generated ids or takes real ones of either territory."""
    own = st.sampled_from(target.own_accounts)
    other = st.sampled_from(target.other_accounts)
    fresh = itertools.count()  # a key never sent before: Hypothesis' own draws repeat ("0", constants of the schema)

    def flatmap_case(context: schemathesis.HookContext, case: Case) -> st.SearchStrategy[Case]:
        if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
            return st.just(case)
        path = case.operation.path
        if path.endswith("/plan"):
            account = st.one_of(own, own, other, st.just(case.path_parameters["account_id"]))
            return account.map(lambda a: _with(case, path_parameters={"account_id": a}))
        if path.startswith("/api/v1/lists/"):
            day = st.sampled_from([target.day, target.day, case.path_parameters["day"]])
            territory = st.sampled_from([None, None, target.territory, target.other_territory, "keep"])
            rep = st.sampled_from([None, None, target.rep_id, target.other_rep_id, "keep"])
            return st.tuples(day, territory, rep).map(lambda d: _listed(case, *d))
        if path == "/api/v1/outcomes" and isinstance(case.body, dict):
            account = st.one_of(own, own, other, st.just(case.body.get("account_id")))
            size = st.sampled_from(ROLLBACK_PCTS)
            day = st.sampled_from([None, case.body.get("call_date")])
            key = st.one_of(st.just(case.headers.get("idempotency-key")), st.builds(lambda: f"fuzz-{next(fresh)}"))
            return st.tuples(account, st.booleans(), size, key, day).map(lambda a: _outcome(case, target, *a))
        return st.just(case)

    return [flatmap_case]


def _with(case: Case, **parts: Any) -> Case:
    for name, value in parts.items():
        setattr(case, name, value)
    return case


def _listed(case: Case, day: str, territory: str | None, rep: str | None) -> Case:
    query = dict(case.query or {})
    for name, value in (("territory", territory), ("rep", rep)):
        if value is None:
            query.pop(name, None)
        elif value != "keep":
            query[name] = value
    return _with(case, path_parameters={"day": day}, query=query)


def _outcome(case: Case, target: Target, account: Any, answer_request: bool, size: float, key: Any, day: Any) -> Case:
    assert isinstance(case.body, dict)  # noqa: S101 - only JSON objects are steered (flatmap_case)
    body = dict(case.body)
    body["account_id"] = account
    if answer_request and account in target.requests:
        body["request_id"] = target.requests[account]
    # OutcomeIn's rollback rule and call date window are not in the document (BEYOND_THE_DOCUMENT): without this, most
    # positive outcomes would stop at 422 and never reach the store.
    body["rollback_pct"] = size if body.get("offer") == "rollback" else 0
    body["call_date"] = day
    if key is not None:
        case.headers["idempotency-key"] = key
    return _with(case, body=body)


@dataclass
class Found:
    """A check that failed: who sent what and what came back."""

    caller: str
    request: str
    status: int
    response: str
    failures: list[str]

    def __str__(self) -> str:
        titles = "; ".join(self.failures)
        return f"[{self.caller}] {self.request[:600]}\n  -> {self.status} {self.response[:300]}\n  {titles}"


def exercise(case: Case, target: Target, checks: list[CheckFunction] | None = None) -> list[Found]:
    """Send ``case`` as each caller and run the checks on each response; returns what failed.

    An outcome recorded (201) is sent again by the same caller: the replay must answer 200 with the same id.
    """
    found = []
    target.fuzzed = True
    for caller in CALLERS:
        headers = target.headers(caller)
        if caller == "none" and case.headers:
            case.headers.pop("Authorization", None)
        try:
            response = case.call(headers=headers)
        except Exception as error:  # noqa: BLE001 - the app raised through the ASGI transport: a 500 to a client
            found.append(Found(caller, _sent(case, headers), 500, f"{type(error).__name__}: {error}"[:300],
                               ["ServerError: the app raised"]))  # fmt: skip
            continue
        found += _validated(case, caller, response, headers, checks)
        if response.status_code == 201:
            key = str(response.request.headers["idempotency-key"])
            target.acknowledged.append(key)
            replay = case.call(headers=headers)
            found += _validated(case, caller, replay, headers, checks)
            same = replay.status_code == 200 and replay.json().get("outcome_id") == response.json()["outcome_id"]
            if not same:
                found.append(Found(caller, describe(case, replay), replay.status_code, _text(replay),
                                   [f"ReplayNotIdempotent: first answer {_text(response)}"]))  # fmt: skip
            rows = stored_keys(target.outcomes_url, key)[key]
            if rows != 1:
                found.append(Found(caller, describe(case, replay), replay.status_code, _text(replay),
                                   [f"NotStoredOnce: acknowledged, then {rows} rows under its key"]))  # fmt: skip
    target.failed = target.failed or any(known_bug(f) is None for f in found)
    return found


def _validated(
    case: Case, caller: str, response: Any, headers: dict[str, str], checks: list[CheckFunction] | None
) -> list[Found]:
    chosen = checks or CHECKS
    if (case.method.upper(), case.operation.path) in BEYOND_THE_DOCUMENT:
        chosen = [c for c in chosen if c is not positive_data_acceptance]
    try:
        case.validate_response(response, checks=chosen, headers=headers)
    except FailureGroup as group:
        failures = sorted({f"{type(f).__name__}: {f.title}" for f in group.exceptions})
        return [Found(caller, describe(case, response), response.status_code, _text(response), failures)]
    return []


KNOWN_BUGS: dict[str, str] = {}
"""Bugs of the serving layer this fuzzing found and that are not fixed yet, each reproduced by its own xfail test."""


def known_bug(found: Found) -> str | None:
    """The ``KNOWN_BUGS`` entry a failure is an instance of, or None for a new one (none are known today)."""
    return None


def stored_keys(url: str, key: str | None = None) -> Counter[str]:
    """How many outcome rows each idempotency key (or ``key`` alone) has in the store at ``url``.

    Read with SQL, not ``OutcomesStore.outcomes``: that makes a frame, which fails on a call date pandas cannot
    hold, and this count must work whatever was stored.
    """
    column = sa.table("outcomes", sa.column("idempotency_key", sa.String)).c.idempotency_key
    query = sa.select(column) if key is None else sa.select(column).where(column == key)
    with _reader(url).connect() as connection:
        rows: list[Any] = list(connection.execute(query).scalars())
    return Counter(str(k) for k in rows)


_READERS: dict[str, sa.Engine] = {}


def _reader(url: str) -> sa.Engine:
    """One engine per store for the checks' reads (a connection each time would cost more than the request)."""
    if url not in _READERS:
        _READERS[url] = sa.create_engine(url)
    return _READERS[url]


SUCCESS_PATHS = {
    ("/api/v1/health", 200), ("/api/v1/models", 200), ("/api/v1/lists/{day}", 200),
    ("/api/v1/accounts/{account_id}/plan", 200), ("/api/v1/outcomes", 201), ("/api/v1/outcomes", 200),
}  # fmt: skip
REFUSALS = {
    (route, status)
    for route in ("/api/v1/lists/{day}", "/api/v1/accounts/{account_id}/plan", "/api/v1/outcomes")
    for status in (401, 404)
} | {("/api/v1/lists/{day}", 403), ("/api/v1/lists/{day}", 422), ("/api/v1/outcomes", 409), ("/api/v1/outcomes", 422)}
"""What a fuzzing run that reaches the app's paths answers at least once (besides its successes)."""


def unreached(target: Target) -> list[tuple[str, int]]:
    """The success paths and refusals (route, status) no request reached: each means the steering lost its grip."""
    seen = {(route, status) for (_, route, status) in target.app.seen}
    return sorted((SUCCESS_PATHS | REFUSALS) - seen)


def stored_once(target: Target) -> list[str]:
    """What is wrong with the store after a run: an acknowledged key missing or twice, or a row never acknowledged."""
    keys = stored_keys(target.outcomes_url)
    acknowledged = set(target.acknowledged)
    wrong = [f"acknowledged, stored {keys.get(k, 0)} times: {k!r}" for k in acknowledged if keys.get(k) != 1]
    wrong += [f"stored, never acknowledged: {k!r}" for k in set(keys) - acknowledged]
    return wrong


def describe(case: Case, response: Any) -> str:
    """The request as sent, tokens blanked: method, URL, the Idempotency-Key and the body."""
    request = response.request
    key = request.headers.get("idempotency-key")
    body = request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else request.body
    parts = [f"{request.method} {request.url}"]
    if key is not None:
        parts.append(f"Idempotency-Key: {key!r}")
    if body:
        parts.append(f"body: {body}")
    return " | ".join(parts)


def _sent(case: Case, headers: dict[str, str]) -> str:
    """A request that got no response, as Schemathesis would send it (tokens blanked)."""
    shown = {k: ("Bearer ..." if k.lower() == "authorization" else v) for k, v in {**case.headers, **headers}.items()}
    body = json.dumps(case.body, default=str) if case.body is not None else ""
    return f"{case.method} {case.formatted_path} query={case.query} headers={shown} body: {body}"


def _text(response: Any) -> str:
    with contextlib.suppress(ValueError):
        return json.dumps(response.json())
    return str(response.text)
