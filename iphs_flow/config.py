"""Settings from the environment, so one image serves every installation.

Every setting has an `IPHS_` environment variable; the defaults give the embedded
installation (SQLite under `instance/`, the shipped `bpmn/` and `forms/`).
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

OWNER = "@owner"

NO_LANE = "*"  # engine/model_checks.NO_LANE: the lane mapping's entry for user tasks in no lane
DEFAULT_LANE_GROUPS = {
    "Idéägare": OWNER,
    "Behovsägare": OWNER,
    "Innovationsledare": "innovation-leads",
    "Beslutsfattare": "gate-deciders",
    "Enhetschef": "unit-managers",
    "Utvärderare": "evaluators",
    "Administratör": "administrators",
}


def _env(name: str, default: str) -> str:
    """An empty variable counts as unset, so `VAR=` in a compose or .env file keeps the default."""
    return os.environ.get(name) or default


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _json_env(name: str) -> Any:
    try:
        return json.loads(os.environ.get(name) or "{}")
    except json.JSONDecodeError as err:
        raise ValueError(f"{name} is not valid JSON: {err.msg} at column {err.colno}") from None


def _networks(name: str) -> tuple[str, ...]:
    """Comma-separated address ranges (`10.20.0.0/16, fd00:1::/64`), checked now rather than at a login."""

    found = tuple(n.strip() for n in (os.environ.get(name) or "").split(",") if n.strip())
    for network in found:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"{name}: {network!r} is not an address range like 10.20.0.0/16") from None
    return found


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///instance/iphs_flow.db"
    bpmn_dir: Path = Path("bpmn")
    forms_dir: Path = Path("forms")
    case_number_format: str = "IPHS {year}/{seq:04d}"
    lane_groups: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LANE_GROUPS))
    script_time_limit: float = 1.0
    timer_batch: int = 200
    # Engine steps run in worker processes with hard limits (engine/workers.py).
    engine_workers: int = 2
    engine_cpu_seconds: int = 5
    engine_memory_mb: int = 1024
    engine_wall_seconds: float = 10.0
    engine_in_process: bool = False  # only for bench/engine.py's comparison; never read from the environment
    # Who gets a user task drawn in no lane (with no candidate group); empty: such models are refused.
    fallback_group: str = "innovation-leads"
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 5000
    base_url: str = ""
    session_hours: float = 8.0
    session_max_hours: float = 12.0  # however active, a session ends this long after its login
    ratelimit_storage: str = "memory://"
    login_rate: str = "10/minute"
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_groups_claim: str = "groups"
    oidc_role_map: dict[str, Any] = field(default_factory=dict)
    oidc_scopes: str = "openid profile email"
    oidc_api_audience: str = ""  # the `aud` API bearer JWTs must carry; empty: the client id
    api_rate: str = "300/minute"
    proxy_hops: int = 0
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_timeout: float = 30.0
    mail_from: str = "IPHS Flow <iphs-flow@localhost>"
    mail_max_attempts: int = 6
    mail_retry_seconds: float = 30.0
    job_lease_seconds: float = 120.0
    job_batch: int = 100
    scheduler_poll_seconds: float = 2.0
    attachments_dir: Path = Path("instance/attachments")
    attachment_max_bytes: int = 20 * 1024 * 1024
    # The e-archive: who delivers (arkivbildare) and for which processes people are pseudonymised.
    organisation: str = "Stockholms stad"
    organisation_code: str = "212000-0142"
    archive_submission_agreement: str = ""
    archive_pseudonymise: frozenset[str] = frozenset()
    # `iphs-flow serve` (gunicorn, threaded workers; see iphs_flow/serving.py)
    workers: int = 2
    threads: int = 8
    worker_timeout: float = 60.0
    graceful_timeout: float = 30.0
    keepalive: float = 5.0
    header_timeout: float = 10.0
    worker_connections: int = 1000
    # production footing (issue 14)
    retry_after_seconds: int = 5
    heartbeat_stale_seconds: float = 60.0
    max_body_bytes: int = 4 * 1024 * 1024  # a large BPMN diagram saved from the designer fits
    json_max_depth: int = 32
    break_glass_networks: tuple[str, ...] = ()
    login_delay_max_seconds: float = 30.0

    def __post_init__(self) -> None:
        # The fallback group travels with the lane mapping as the entry for "no lane" ("*").
        if self.fallback_group:
            self.lane_groups.setdefault(NO_LANE, self.fallback_group)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        lane_groups = dict(DEFAULT_LANE_GROUPS)
        extra = os.environ.get("IPHS_LANE_GROUPS")
        if extra:
            lane_groups.update(json.loads(extra))
        settings = cls(
            database_url=_env("IPHS_DATABASE_URL", cls.database_url),
            bpmn_dir=Path(_env("IPHS_BPMN_DIR", "bpmn")),
            forms_dir=Path(_env("IPHS_FORMS_DIR", "forms")),
            # Absolute, so files are found whatever the working directory of a later call.
            attachments_dir=Path(_env("IPHS_ATTACHMENTS_DIR", "instance/attachments")).resolve(),
            case_number_format=_env("IPHS_CASE_NUMBER_FORMAT", cls.case_number_format),
            lane_groups=lane_groups,
            script_time_limit=float(_env("IPHS_SCRIPT_TIME_LIMIT", str(cls.script_time_limit))),
            timer_batch=int(_env("IPHS_TIMER_BATCH", str(cls.timer_batch))),
            engine_workers=int(_env("IPHS_ENGINE_WORKERS", str(cls.engine_workers))),
            fallback_group=_env("IPHS_FALLBACK_GROUP", cls.fallback_group),
            engine_cpu_seconds=int(_env("IPHS_ENGINE_CPU_SECONDS", str(cls.engine_cpu_seconds))),
            engine_memory_mb=int(_env("IPHS_ENGINE_MEMORY_MB", str(cls.engine_memory_mb))),
            engine_wall_seconds=float(_env("IPHS_ENGINE_WALL_SECONDS", str(cls.engine_wall_seconds))),
            secret_key=_env("IPHS_SECRET_KEY", ""),
            host=_env("IPHS_HOST", cls.host),
            port=int(_env("IPHS_PORT", str(cls.port))),
            base_url=_env("IPHS_BASE_URL", ""),
            session_hours=float(_env("IPHS_SESSION_HOURS", str(cls.session_hours))),
            session_max_hours=float(_env("IPHS_SESSION_MAX_HOURS", str(cls.session_max_hours))),
            ratelimit_storage=_env("IPHS_RATELIMIT_STORAGE", cls.ratelimit_storage),
            login_rate=_env("IPHS_LOGIN_RATE", cls.login_rate),
            oidc_issuer=_env("IPHS_OIDC_ISSUER", ""),
            oidc_client_id=_env("IPHS_OIDC_CLIENT_ID", ""),
            oidc_client_secret=_env("IPHS_OIDC_CLIENT_SECRET", ""),
            oidc_groups_claim=_env("IPHS_OIDC_GROUPS_CLAIM", cls.oidc_groups_claim),
            oidc_role_map=_json_env("IPHS_OIDC_ROLE_MAP"),
            oidc_scopes=_env("IPHS_OIDC_SCOPES", cls.oidc_scopes),
            oidc_api_audience=_env("IPHS_OIDC_API_AUDIENCE", ""),
            api_rate=_env("IPHS_API_RATE", cls.api_rate),
            proxy_hops=int(_env("IPHS_PROXY_HOPS", "0")),
            smtp_host=_env("IPHS_SMTP_HOST", ""),
            smtp_port=int(_env("IPHS_SMTP_PORT", "465" if _flag("IPHS_SMTP_SSL") else "25")),
            smtp_starttls=_flag("IPHS_SMTP_STARTTLS"),
            smtp_ssl=_flag("IPHS_SMTP_SSL"),
            smtp_user=_env("IPHS_SMTP_USER", ""),
            smtp_password=_env("IPHS_SMTP_PASSWORD", ""),
            smtp_timeout=float(_env("IPHS_SMTP_TIMEOUT", str(cls.smtp_timeout))),
            mail_from=_env("IPHS_MAIL_FROM", cls.mail_from),
            mail_max_attempts=int(_env("IPHS_MAIL_MAX_ATTEMPTS", str(cls.mail_max_attempts))),
            mail_retry_seconds=float(_env("IPHS_MAIL_RETRY_SECONDS", str(cls.mail_retry_seconds))),
            job_lease_seconds=float(_env("IPHS_JOB_LEASE_SECONDS", str(cls.job_lease_seconds))),
            job_batch=int(_env("IPHS_JOB_BATCH", str(cls.job_batch))),
            scheduler_poll_seconds=float(_env("IPHS_SCHEDULER_POLL_SECONDS", str(cls.scheduler_poll_seconds))),
            organisation=_env("IPHS_ORGANISATION", cls.organisation),
            organisation_code=_env("IPHS_ORGANISATION_CODE", cls.organisation_code),
            archive_submission_agreement=_env("IPHS_ARCHIVE_SUBMISSION_AGREEMENT", ""),
            archive_pseudonymise=frozenset(
                k.strip() for k in _env("IPHS_ARCHIVE_PSEUDONYMISE", "").split(",") if k.strip()),
            workers=int(_env("IPHS_WORKERS", str(cls.workers))),
            threads=int(_env("IPHS_THREADS", str(cls.threads))),
            worker_timeout=float(_env("IPHS_WORKER_TIMEOUT", str(cls.worker_timeout))),
            graceful_timeout=float(_env("IPHS_GRACEFUL_TIMEOUT", str(cls.graceful_timeout))),
            keepalive=float(_env("IPHS_KEEPALIVE", str(cls.keepalive))),
            header_timeout=float(_env("IPHS_HEADER_TIMEOUT", str(cls.header_timeout))),
            worker_connections=int(_env("IPHS_WORKER_CONNECTIONS", str(cls.worker_connections))),
            retry_after_seconds=int(_env("IPHS_RETRY_AFTER_SECONDS", str(cls.retry_after_seconds))),
            heartbeat_stale_seconds=float(_env("IPHS_HEARTBEAT_STALE_SECONDS", str(cls.heartbeat_stale_seconds))),
            max_body_bytes=int(_env("IPHS_MAX_BODY_BYTES", str(cls.max_body_bytes))),
            json_max_depth=int(_env("IPHS_JSON_MAX_DEPTH", str(cls.json_max_depth))),
            break_glass_networks=_networks("IPHS_BREAK_GLASS_NETWORKS"),
            login_delay_max_seconds=float(_env("IPHS_LOGIN_DELAY_MAX_SECONDS", str(cls.login_delay_max_seconds))),
        )
        return replace(settings, **overrides) if overrides else settings
