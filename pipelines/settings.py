"""The one typed, frozen settings object of savedesk.

Settings come, in rising priority, from the defaults below, an optional TOML
file (``savedesk.toml`` in the workspace, or the path in ``SAVEDESK_CONFIG``),
``SAVEDESK_*`` environment variables (nested with ``__``, for example
``SAVEDESK_MLFLOW__TRACKING_URI``) and explicit keyword arguments. Nothing here
touches the disk or a clock at import time: folders are created by the commands
that write into them.

On embedded defaults everything of one workspace lives in its folder, so two
workspaces never mix; each part can be pointed elsewhere (an MLflow server,
PostgreSQL, object storage) by setting its URL.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from models.exploration import Exploration
from models.gate import GateRules
from models.guardrails import GuardrailRules
from models.offers import OfferCatalog
from models.outreach_params import UpliftParams
from models.params import ChurnParams, EmpcParams, SaveParams, SearchParams
from serving.publication.catalog import PublishedCatalog
from sources.reject_limits import RejectLimits

CONFIG_FILE_NAME = "savedesk.toml"


class MlflowSettings(BaseModel):
    """Where MLflow keeps runs and models. Empty means inside the workspace."""

    model_config = ConfigDict(frozen=True)

    tracking_uri: str = ""
    artifact_root: str = ""


class PrefectSettings(BaseModel):
    """Where Prefect keeps its state. Empty home means inside the workspace."""

    model_config = ConfigDict(frozen=True)

    home: str = ""
    api_url: str = ""
    server_startup_timeout_seconds: int = 120


class ChurnModelSettings(BaseModel):
    """How the churn model is trained, judged and promoted."""

    model_config = ConfigDict(frozen=True)

    horizon_days: int = 90
    lead_days: int = 0
    definition: Literal["request_or_close", "no_billing"] = "request_or_close"
    """What churn means: a cancellation request or a close, or billing that stops (``features.labels``)."""
    no_billing_days: int = Field(default=60, ge=31)
    """Under ``no_billing``: days without an invoice that mean the customer has gone (over a month's cycle)."""
    train_months: int = 5
    """Monthly snapshots before the validation month used for training."""
    training: Literal["local", "sample"] = "local"
    """"local": every account of every month of the split in one process; "sample": a seeded case-control
    sample of accounts (all months of each: every churned account, the stayed ones weighted by one over their
    share) whose training rows come to at most ``max_training_rows``, trained, calibrated and judged on
    (``models.training_sample``; the whole book when it fits)."""
    max_training_rows: int = Field(default=2_000_000, ge=10_000)
    """Under ``training = "sample"``: the most training rows (held-in accounts × training months)."""
    sample_seed: int = 7
    """Under ``training = "sample"``: the seed of the account draw."""
    params: ChurnParams = ChurnParams()
    search: SearchParams = SearchParams()
    """The settings search inside the training months (``budget_seconds`` 0, the default: ``params`` as declared)."""
    gate: GateRules = GateRules()
    empc: EmpcParams = EmpcParams()


SAVE_GATE = GateRules(min_auc=0.70, max_ece=0.08, max_ece_increase=0.02, segment_auc_margin=0.05, min_segment_rows=150)
"""The save model's gate: segments are the requests' reasons.

A test period holds a few hundred to a few thousand requests, so the
calibration error's sampling noise alone is a few points: the ECE threshold
sits above that noise (a 20,000-account hauler's 600 test requests measured
0.05 on a well-calibrated model).
"""


class SaveSettings(BaseModel):
    """The save model, the offer catalog and its economics, and the guardrails of the save policy."""

    model_config = ConfigDict(frozen=True)

    durable_days: int = 90
    """Days a saved account must stay active and billed for the save to count."""
    test_months: int = 3
    """Months of the latest fully labelled requests the save model and the policy are judged on."""
    max_training_requests: int = Field(default=500_000, ge=100)
    """Under ``churn.training = "sample"`` (a book too large for one process): the most training requests the
    save model is fit on. Past it, the requests of a seeded share of the accounts (``churn.sample_seed``), every
    training request of each drawn account; the test period's are all kept. A uniform draw: no weights needed."""
    params: SaveParams = SaveParams()
    gate: GateRules = SAVE_GATE
    offers: OfferCatalog = OfferCatalog()
    guardrails: GuardrailRules = GuardrailRules()
    exploration: Exploration = Exploration(rate=0.0)
    """How open requests' offers are randomized among the near-best (``rate`` 0: always the best). Off until the
    live plan draws as the nightly does; ``rate`` 0.2 with the default margins is what ``bench/closed_loop.py`` runs."""


class NightlySettings(BaseModel):
    """How the nightly flow runs: shards, task runner, the desk's lists and the schedules."""

    model_config = ConfigDict(frozen=True)

    shards: int = 4
    """Account shards scoring, planning and talking points are mapped over."""
    task_runner: str = "threads"
    """"threads" (one machine) or "dask" (prefect-dask: ``dask_address``, or a local cluster)."""
    threads: int = 2
    dask_address: str = ""
    """A running Dask scheduler (``tcp://host:8786``); empty starts a local cluster of ``dask_workers``."""
    dask_workers: int = 2
    worker_memory: str = "4GB"
    """Memory limit of each worker of the local cluster (Dask's ``memory_limit``: it spills, pauses, and restarts a
    worker past it); a cluster at ``dask_address`` sets its own (``dask worker --memory-limit``)."""
    open_request_days: int = 7
    """Unresolved requests made in these many days up to the business date are on the inbound queue."""
    proactive_per_rep: int = 20
    """Proactive calls a rep makes a day."""
    proactive_candidates: float = 3.0
    """Accounts planned for proactive calls, as a multiple of the desk's daily capacity."""
    shadow_nights: int = 0
    """Nights the nightly also scores a challenger the gate did not promote, writing its lists to ``DIR/shadow``
    (never the published folder) for review before ``savedesk promote``; 0: no shadow runs."""
    time_zone: str = "America/Chicago"
    max_extract_age_days: int = 1
    """Days an extract's last day may lie before today's business date (in ``time_zone``): a nightly run at 02:00
    normally reads an extract ending yesterday (1 day); one more missed night makes it stale."""
    stale_extract: Literal["stop", "publish_with_notice"] = "stop"
    """A stale extract stops the nightly with a sentence naming the dates, or publishes its lists with a notice the
    rep page shows."""
    today: date | None = None
    """Today's business date, for a replay or a test; empty: the clock in ``time_zone`` (a simulated extract, which
    has no clock, is judged as of its own last day)."""
    nightly_cron: str = "0 2 * * *"
    training_cron: str = "0 4 * * 0"
    intraday_cron: str = "0 9-17 * * 1-5"


class ServingSettings(BaseModel):
    """The API and the rep web page (``savedesk serve``)."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = 8765
    requests_per_minute: int = 600
    """Rate limit per token; a request over it gets 429 with Retry-After."""
    max_body_bytes: int = 16_384
    """Larger request bodies are refused with 413 before they are parsed."""
    secure_cookies: bool = False
    """Mark the web page's session cookie Secure (set behind HTTPS)."""


class MonitorSettings(BaseModel):
    """Thresholds of the monitoring report (``savedesk monitor``) and of the nightly flow's warnings."""

    model_config = ConfigDict(frozen=True)

    psi_warning: float = 0.25
    """Population stability index of a feature or of the score above which it is reported as shifted."""
    min_auc: float = 0.65
    """Realized AUC of a matured month's list below which the churn model is reported as degraded."""
    max_ece: float = 0.05
    """Realized calibration error of a matured month above which the churn model is reported as miscalibrated."""
    concession_gap_pct: float = 3.0
    """Mean rollback points by which one segment may exceed another for the same reason before it is reported."""
    min_requests: int = 30
    """Matured requests an offer, rep or territory needs before its saves are judged against the save model's promise
    or its mix of calls (fewer are noise), and a
    reason × segment needs for a desk save rate of its own in the reps' mix comparison."""
    min_rollbacks: int = 20
    """Rollbacks a segment needs for a reason before its mean rollback % is compared with other segments'."""


class OutreachSettings(BaseModel):
    """Proactive outreach: the randomized holdout (``models.holdout``) and the uplift model (``models.uplift``)."""

    model_config = ConfigDict(frozen=True)

    holdout_share: float = Field(default=0.10, ge=0.0, lt=1.0)
    """Share of the eligible proactive accounts never listed, so the desk can measure what its calls change."""
    holdout_period: Literal["month", "quarter", "year"] = "quarter"
    """How long one holdout draw stands: the same accounts are held out every night of the period."""
    holdout_seed: int = 18
    """Seed of the holdout's draw (a new seed draws a new control group)."""
    uplift: UpliftParams = UpliftParams()
    """The uplift model and the matured outcomes it needs before it may rank."""


class ValidationRunSettings(BaseModel):
    """How ``savedesk validate`` runs (what it may quarantine is ``[validation]``)."""

    model_config = ConfigDict(frozen=True)

    shards: int = Field(default=1, ge=1)
    """Account shards validation checks apart and writes apart (``clean/<table>/<shard>.parquet``); 1 checks in one
    pass and writes ``clean/<table>.parquet``. The report, rejects and clean rows are the same either way."""
    task_runner: Literal["threads", "dask"] = "threads"
    """Where the shards are checked: ``threads`` in this process, or ``dask`` on the cluster the nightly uses
    (``nightly.dask_address``, or a local cluster of ``nightly.dask_workers`` capped at ``nightly.worker_memory``)."""
    threads: int = Field(default=2, ge=1)
    """Shards checked at once with ``threads`` (each holds one shard)."""


class AlertSettings(BaseModel):
    """Where operational alerts go (``pipelines.alerts``): Apprise URLs, none by default (no alerts)."""

    model_config = ConfigDict(frozen=True)

    urls: list[str] = []
    """Apprise URLs (``mailtos://...``, ``slack://...``, ``json://host:port/path``); each alert goes to every one."""


class Settings(BaseSettings):
    """Everything savedesk can be configured with.

    Attributes:
        data: The workspace folder. Raw tables live in ``data/raw``; every other
            embedded default (features, MLflow, Prefect, published lists,
            outcomes) lives beside them.
        storage_url: Where derived files go; empty means the workspace itself.
        outcomes_url: SQLAlchemy URL of the outcomes store; empty means SQLite
            in the workspace.
        mlflow: MLflow tracking and artifact locations.
        prefect: Prefect home and API.
        validation: How much of each raw table validation may quarantine before it refuses the extract
            (``[validation] max_reject_rate``, ``per_table``, ``min_rows``; declared in
            ``sources.reject_limits``).
    """

    model_config = SettingsConfigDict(
        env_prefix="SAVEDESK_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    data: Path = Path("data/demo")
    storage_url: str = ""
    outcomes_url: str = ""
    mlflow: MlflowSettings = MlflowSettings()
    prefect: PrefectSettings = PrefectSettings()
    churn: ChurnModelSettings = ChurnModelSettings()
    save: SaveSettings = SaveSettings()
    nightly: NightlySettings = NightlySettings()
    serving: ServingSettings = ServingSettings()
    monitor: MonitorSettings = MonitorSettings()
    validation: RejectLimits = RejectLimits()
    validation_run: ValidationRunSettings = ValidationRunSettings()
    alerts: AlertSettings = AlertSettings()
    outreach: OutreachSettings = OutreachSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments beat the environment, which beats the file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file(init_settings())
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    # Derived locations: one place decides where each part of a workspace lives.

    @property
    def raw_dir(self) -> Path:
        """Folder of the raw tables (the data contract)."""
        return self.data / "raw"

    @property
    def truth_dir(self) -> Path:
        """Folder of the simulator's hidden truth, when the data is simulated."""
        return self.data / "truth"

    @property
    def rejects_dir(self) -> Path:
        """Folder of quarantined rows, one Parquet file per table."""
        return self.data / "rejects"

    @property
    def clean_dir(self) -> Path:
        """Folder of validated, typed tables: raw minus quarantined rows."""
        return self.data / "clean"

    @property
    def features_dir(self) -> Path:
        """Folder of feature snapshots."""
        return self.data / "features"

    @property
    def published_dir(self) -> Path:
        """Folder of published call lists, one subfolder per business date."""
        return self.data / "published"

    @property
    def catalog(self) -> PublishedCatalog:
        """The published days and the nights' account contexts (``DIR/published``, ``DIR/features/nightly``)."""
        return PublishedCatalog(self.published_dir, self.features_dir / "nightly")

    @property
    def mlflow_tracking_uri(self) -> str:
        """MLflow tracking URI; SQLite inside the workspace by default."""
        if self.mlflow.tracking_uri:
            return self.mlflow.tracking_uri
        return f"sqlite:///{(self.data / 'mlflow' / 'mlflow.db').resolve()}"

    @property
    def mlflow_artifact_root(self) -> str:
        """Where MLflow stores artifacts; inside the workspace by default."""
        if self.mlflow.artifact_root:
            return self.mlflow.artifact_root
        return (self.data / "mlflow" / "artifacts").resolve().as_uri()

    @property
    def registry_audit_log(self) -> Path:
        """Append-only JSON-lines log of every alias move and refusal of the model registry."""
        return self.data / "mlflow" / "registry-audit.jsonl"

    @property
    def prefect_home(self) -> Path:
        """Prefect's home folder; inside the workspace by default."""
        return Path(self.prefect.home) if self.prefect.home else self.data / "prefect"

    @property
    def shadow_dir(self) -> Path:
        """Folder of the challengers' shadow lists, one folder per business date (never read by the desk)."""
        return self.data / "shadow"

    @property
    def reports_dir(self) -> Path:
        """Folder of monitoring reports, one HTML page per as-of date."""
        return self.data / "reports"

    @property
    def alerts_ledger(self) -> Path:
        """JSON-lines ledger of the alerts sent (one per cause per day)."""
        return self.data / "alerts" / "sent.jsonl"

    @property
    def outcomes_database_url(self) -> str:
        """SQLAlchemy URL of the outcomes store; SQLite in the workspace by default."""
        if self.outcomes_url:
            return self.outcomes_url
        return f"sqlite:///{(self.data / 'outcomes.db').resolve()}"


def _config_file(init_values: dict[str, Any]) -> Path | None:
    """The TOML file to read, if any: ``SAVEDESK_CONFIG`` or the workspace's own."""
    explicit = os.environ.get("SAVEDESK_CONFIG")
    if explicit:
        return Path(explicit)
    data = init_values.get("data") or os.environ.get("SAVEDESK_DATA")
    if data:
        candidate = Path(data) / CONFIG_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def prefect_environment(settings: Settings) -> dict[str, str]:
    """The environment Prefect must see before it is imported: its home in the workspace, no telemetry.

    An API URL in the settings points the flows at a running server (``prefect server start``); without
    one Prefect starts a temporary server, which takes 20-40 s on a busy machine, hence the timeout.
    """
    env = {
        "PREFECT_HOME": str(settings.prefect_home.resolve()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(settings.prefect.server_startup_timeout_seconds),
        "DO_NOT_TRACK": "1",
    }
    if settings.prefect.api_url:
        env["PREFECT_API_URL"] = settings.prefect.api_url
    return env


def use_prefect(settings: Settings) -> None:
    """What a command does before it imports Prefect: its environment set, and its home created.

    ``prefect_environment`` goes into this process's environment, where a value set already wins.
    """
    os.environ.update({k: v for k, v in prefect_environment(settings).items() if k not in os.environ})
    settings.prefect_home.mkdir(parents=True, exist_ok=True)


def load_settings(data: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings for one workspace.

    Args:
        data: The workspace folder; when None, ``SAVEDESK_DATA`` or the default.
        **overrides: Explicit values that beat every other source.

    Returns:
        The frozen settings object.
    """
    if data is not None:
        overrides["data"] = data
    return Settings(**overrides)
