"""Settings from the environment, so one image serves every installation.

Every setting has an `IPHS_` environment variable; the defaults give the embedded
installation (SQLite under `instance/`, the shipped `bpmn/` and `forms/`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

OWNER = "@owner"

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
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///instance/iphs_flow.db"
    bpmn_dir: Path = Path("bpmn")
    forms_dir: Path = Path("forms")
    case_number_format: str = "IPHS {year}/{seq:04d}"
    lane_groups: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LANE_GROUPS))
    script_time_limit: float = 1.0
    timer_batch: int = 200
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 5000

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
            case_number_format=_env("IPHS_CASE_NUMBER_FORMAT", cls.case_number_format),
            lane_groups=lane_groups,
            script_time_limit=float(_env("IPHS_SCRIPT_TIME_LIMIT", str(cls.script_time_limit))),
            timer_batch=int(_env("IPHS_TIMER_BATCH", str(cls.timer_batch))),
            secret_key=_env("IPHS_SECRET_KEY", ""),
            host=_env("IPHS_HOST", cls.host),
            port=int(_env("IPHS_PORT", str(cls.port))),
        )
        return replace(settings, **overrides) if overrides else settings
