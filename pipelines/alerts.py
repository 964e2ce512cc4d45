"""Operational alerts: a sentence to every channel in ``alerts.urls`` (Apprise URLs), once per cause per day.

Sent: a failed nightly, training or intraday flow (``flow_failed``, the flows' Prefect failure hook), a stale extract
(the hook, or the nightly when it publishes with a notice), a gate refusal (``gate_refused``), drift on a warned
feature (the nightly, ``monitoring_alerts``) and, from ``savedesk monitor``, drift and an offer saving below its
promise (``models.monitoring.MonitorWarning``'s causes, the same keys). Each cause is sent once per day at the desk
(``pipelines.freshness.desk_today``): the ledger ``DIR/alerts/sent.jsonl`` (``settings.alerts_ledger``) keeps what
was delivered, so a second failure of the same cause the same day sends nothing more. No URL (the default): no
alert and no ledger. An alert that cannot be delivered is logged and not kept (the next one tries again); sending
never fails the run that sends it.

An alert carries the run's link where one is known: the Prefect flow run's page (with a server's UI URL) or the
MLflow run.
"""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pipelines.freshness import StaleExtract, desk_today, on_day
from pipelines.settings import Settings, load_settings

log = logging.getLogger(__name__)

STALE_EXTRACT = "stale extract"
"""The cause of a stale extract's alert (the nightly stopped, or published with a notice)."""
FAILURE, WARNING = "failure", "warning"
"""Apprise's notification types an alert is sent as."""
OWN_ERRORS = ("WorkspaceError", "StaleExtract")
"""Exceptions whose message is savedesk's own sentence (safe to send); any other is sent as its class only, since a
database's or a library's message can quote a row."""


def alert(settings: Settings, cause: str, text: str, link: str | None = None, kind: str = WARNING) -> bool:
    """Send ``text`` to every channel in ``settings.alerts.urls``, unless ``cause`` was already sent today.

    Args:
        settings: The workspace's settings (its channels, ledger and the desk's day).
        cause: What went wrong, as a stable key ("savedesk-nightly failed", "drift last_increase_pct", ...).
        text: The sentence to send.
        link: Where to look (the flow run's page, the MLflow run), when known.
        kind: ``failure`` or ``warning``.

    Returns:
        Whether the alert was delivered now (False: no channel, already sent today, or not delivered).
    """
    urls = settings.alerts.urls
    if not urls:
        return False
    try:
        day = desk_today(settings).isoformat()
        ledger = settings.alerts_ledger
        ledger.parent.mkdir(parents=True, exist_ok=True)
        with ledger.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # two runs alerting at once send one alert
            handle.seek(0)
            if any(_is(line, day, cause) for line in handle):
                return False
            title = f"savedesk {settings.data.name}: {cause}"
            body = f"{text}\n\n{link}" if link else text
            if not _send(urls, title, body, kind):
                log.warning("Alert %r could not be delivered to its channels; it will be tried again", cause)
                return False
            record = {"day": day, "cause": cause, "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
                      "kind": kind, "text": text, "link": link}  # fmt: skip
            handle.write(json.dumps(record) + "\n")
            return True
    except Exception:  # noqa: BLE001 - an alert never fails the run that sends it
        log.warning("Alert %r could not be sent", cause, exc_info=True)
        return False


def _is(line: str, day: str, cause: str) -> bool:
    try:
        kept = json.loads(line)
    except ValueError:
        return False
    return isinstance(kept, dict) and kept.get("day") == day and kept.get("cause") == cause


def _send(urls: Iterable[str], title: str, body: str, kind: str) -> bool:
    import apprise  # loaded only when there is somewhere to send

    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            log.warning("Not an Apprise URL this version can send to (alerts.urls): %s", url.split("://")[0])
    if not len(notifier):
        return False
    kinds = {FAILURE: apprise.NotifyType.FAILURE, WARNING: apprise.NotifyType.WARNING}
    return bool(notifier.notify(body=body, title=title, notify_type=kinds.get(kind, apprise.NotifyType.INFO)))


def run_link() -> str | None:
    """The page of the Prefect flow run this code runs in, when a server with a UI is known."""
    try:
        from prefect.runtime import flow_run

        url = flow_run.ui_url
    except Exception:  # noqa: BLE001 - outside a flow run there is no link
        return None
    return str(url) if url else None


def described(error: BaseException | None) -> str:
    """An exception as an alert may say it: savedesk's own sentence, or only the class of anything else."""
    if error is None:
        return "it ended without an exception (see the run's logs)"
    name = type(error).__name__
    if name in OWN_ERRORS or isinstance(error, StaleExtract | LookupError):
        return f"{name}: {str(error).strip()}"
    return f"{name} (the message is in the run's logs)"


def flow_failed(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect hook of the three flows (``on_failure``, ``on_crashed``): one alert per cause per day.

    A nightly stopped by a stale extract is sent as ``stale extract``; any other failure as ``<flow> failed``.
    """
    parameters: Mapping[str, Any] = getattr(flow_run, "parameters", None) or {}
    data = parameters.get("data")
    if not data:
        return
    try:
        settings = on_day(load_settings(Path(str(data))), parameters.get("today"))
    except Exception:  # noqa: BLE001 - settings that cannot load cannot say where to alert
        log.warning("No alert for %s: the workspace's settings could not be read", flow.name, exc_info=True)
        return
    if not settings.alerts.urls:
        return
    error = _exception(state)
    from prefect.utilities.urls import url_for

    link = url_for(flow_run)
    if isinstance(error, StaleExtract):
        alert(settings, STALE_EXTRACT, f"The nightly run on {data} stopped. {error}", link, FAILURE)
        return
    run = f"flow run {getattr(flow_run, 'name', '')}".strip()
    alert(settings, f"{flow.name} failed", f"{flow.name} ({run}) failed on {data}: {described(error)}", link, FAILURE)


def _exception(state: Any) -> BaseException | None:
    """The exception a failed or crashed state holds, if it can be read back."""
    try:
        found = state.result(raise_on_failure=False)
    except BaseException as error:  # noqa: BLE001 - reading a crashed state's result may itself raise
        return error
    return found if isinstance(found, BaseException) else None


def gate_refused(settings: Settings, model: str, version: int | None, summary: str, link: str | None = None) -> bool:
    """Alert that the promotion gate refused ``model`` v``version`` (once per model per day)."""
    text = f"The promotion gate kept the champion of {model}: v{version} was not promoted. {summary}".strip()
    return alert(settings, f"gate refused {model}", text, link)


def monitoring_alerts(
    settings: Settings, drift: Mapping[str, str], offers: Mapping[str, str], link: str | None = None
) -> list[str]:
    """Alert drift on warned features and offers saving below their promise; the causes delivered now.

    Args:
        settings: The workspace's settings.
        drift: Each drifted (warned) feature → its warning sentence.
        offers: Each offer saving too few → its warning sentence.
        link: The monitoring run's link.
    """
    sent = []
    for prefix, found in (("drift", drift), ("offer below promise", offers)):
        for name, sentence in found.items():
            cause = f"{prefix} {name}"
            if alert(settings, cause, sentence, link):
                sent.append(cause)
    return sent


def mlflow_link(tracking_uri: str, run_id: str) -> str:
    """Where to see an MLflow run: its page on a server, or the run and its store (never the URI's password)."""
    parts = urlsplit(tracking_uri)
    uri = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1])) if "@" in parts.netloc else tracking_uri
    if parts.scheme in ("http", "https"):
        return f"{uri.rstrip('/')}/#/runs/{run_id}"
    return f"MLflow run {run_id} in {uri}"


def drift_sentences(psi: Mapping[str, float], threshold: float) -> dict[str, str]:
    """Each warned feature whose PSI is above ``threshold`` → its warning sentence (``models.monitoring``'s own)."""
    from models.monitoring import drift_warnings, shifted

    return {c: sentence for c in shifted(psi, threshold) for sentence in drift_warnings({c: psi[c]}, threshold)}
