"""Wire settings, database and caches into the context every entrypoint uses."""

from __future__ import annotations

from dataclasses import dataclass

from iphs_flow.config import Settings
from iphs_flow.engine.models import ModelCache
from iphs_flow.engine.workers import EngineWorkers, Limits, shared_pool
from iphs_flow.services.errors import StaleCase
from iphs_flow.store.database import make_engine
from iphs_flow.store.unit_of_work import UnitOfWork


@dataclass
class AppContext:
    """What a use case needs: settings, the unit of work, the parsed-model cache, the engine workers."""

    settings: Settings
    uow: UnitOfWork
    models: ModelCache
    engine: EngineWorkers

    def close(self) -> None:
        self.uow.engine.dispose()


def build(settings: Settings | None = None) -> AppContext:
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    limits = Limits(cpu_seconds=settings.engine_cpu_seconds, memory_mb=settings.engine_memory_mb,
                    wall_seconds=settings.engine_wall_seconds)
    workers = shared_pool(settings.engine_workers, limits, in_process=settings.engine_in_process)
    return AppContext(settings=settings, uow=UnitOfWork(engine, stale_error=StaleCase), models=ModelCache(),
                      engine=workers)
