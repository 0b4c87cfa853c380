"""Maintenance from the server: ``POST /v1/maintain`` (on demand) and the schedule of
``remem serve --maintain-every SECONDS`` (a daemon thread started and stopped with the
app's lifespan), with its state at ``GET /v1/maintain/status``.

One run at a time: an on-demand run waits for a scheduled one (and the other way
round, a scheduled run due while another is going is skipped, not queued). The schedule
waits ``every`` seconds after a run ends before the next (the first run comes ``every``
seconds after start-up); a failing run is logged and counted, never fatal.

Who may run what: a tenant key maintains one user of its tenant (``user_id`` required,
through the caller's ``TenantMemory``); an admin key, or a server with ``--no-auth``, may
omit it to maintain every user (through the server's own, unconfined view).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from fastapi import Depends, FastAPI

from ..config import ForgetPolicy, MaintainConfig
from . import models as M
from .errors import forbidden
from .tenancy import Principal, TenantMemory

if TYPE_CHECKING:
    from ..types import MaintainReport

log = logging.getLogger("remem.server.upkeep")


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat() if t is not None else None


class Upkeep:
    """The maintenance runs of one server: ``run`` on demand, ``start``/``stop`` the
    schedule (every ``every`` seconds; ``None`` or 0: no schedule) over ``server``, the
    server's own view of the store (every user)."""

    def __init__(self, server: TenantMemory, every: float | None = None,
                 config: MaintainConfig | None = None, *, stop_timeout: float = 10.0) -> None:
        self.server, self.every = server, every or None
        self.config = config or MaintainConfig()
        self.stop_timeout = stop_timeout
        self._lock = threading.Lock()  # held by the run in progress
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = self.failures = self.skipped = 0
        self.last: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.last_started: float | None = None
        self.last_finished: float | None = None

    def run(self, view: TenantMemory, user_id: str | None,
            config: MaintainConfig) -> "MaintainReport":
        """One run now through ``view`` (``user_id`` None: every user it may maintain),
        after any run in progress."""
        return view.maintain(user_id, config=config, serial=self._lock)  # type: ignore[no-any-return]

    def tick(self) -> bool:
        """One scheduled run over every user, unless a run is going. Never raises."""
        if not self._lock.acquire(blocking=False):
            self.skipped += 1
            log.info("scheduled maintenance skipped: another run is in progress")
            return False
        try:
            self.last_started = time.time()
            report = self.server.maintain(config=self.config)
        except Exception as exc:  # the schedule must outlive any failure
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("scheduled maintenance failed")
            return False
        finally:
            self.last_finished = time.time()
            self._lock.release()
        self.runs += 1
        self.last = report.to_dict()
        self.last_error = None
        log.log(logging.WARNING if report.errors else logging.INFO,
                "scheduled maintenance: %s", json.dumps(self.last))
        return True

    def _loop(self) -> None:
        assert self.every is not None
        while not self._stop.wait(self.every):
            self.tick()

    def start(self) -> None:
        if self.every is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="remem-upkeep", daemon=True)
        self._thread.start()
        log.info("maintenance every %gs (forget: %s)", self.every,
                 "off" if self.config.forget is None else
                 f"half-life {self.config.forget.half_life_days:g} days")

    def stop(self) -> None:
        """End the schedule; waits up to ``stop_timeout`` for a run in progress."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(self.stop_timeout)
        if thread.is_alive():
            log.warning("maintenance still running at shutdown; abandoning it")

    def status(self) -> dict[str, Any]:
        forget = self.config.forget
        return {"every_seconds": self.every if self._thread is not None else None,
                "forget_half_life_days": forget.half_life_days if forget else None,
                "running": self._lock.locked(), "runs": self.runs,
                "failures": self.failures, "skipped": self.skipped,
                "last_started_at": _iso(self.last_started),
                "last_finished_at": _iso(self.last_finished),
                "last": self.last, "last_error": self.last_error}


def schedule_config(forget_days: float | None) -> MaintainConfig:
    """The scheduled runs' config: the defaults, forgetting only with a half-life."""
    return MaintainConfig(forget=ForgetPolicy(half_life_days=forget_days) if forget_days else None)


def _config(body: M.MaintainRequest) -> MaintainConfig:
    forget = ForgetPolicy(**body.forget.model_dump()) if body.forget is not None else None
    return MaintainConfig(dedupe=body.dedupe, summaries=body.summaries,
                          profiles=body.profiles, forget=forget)


def register(app: FastAPI, upkeep: Upkeep, principal: Callable[..., Principal],
             tenant: Callable[[Principal], TenantMemory], errors: dict[int | str, Any]) -> None:
    """``POST /v1/maintain`` and ``GET /v1/maintain/status``. ``principal`` is the auth
    dependency that admits admin keys too; ``tenant(principal)`` the caller's view."""
    who = Depends(principal)

    @app.post("/v1/maintain", response_model=M.MaintainReportOut, tags=["lifecycle"],
              summary="merge near-duplicates, refresh summaries and profiles, optionally "
                      "forget (Memory.maintain)", responses=errors)
    def maintain(body: M.MaintainRequest, p: Principal = who) -> dict[str, Any]:
        if p.admin:  # least privilege: a key admin manages keys, it does not change memories
            raise forbidden("admin keys manage keys only; maintain one user with its "
                            "tenant's key, or every user with `remem maintain` on the host "
                            "or `remem serve --maintain-every`")
        # a tenant key: one of its users, never all users; --no-auth: one user or all
        return upkeep.run(tenant(p), body.user_id, _config(body)).to_dict()

    @app.get("/v1/maintain/status", response_model=M.MaintainStatus, tags=["lifecycle"],
             summary="the maintenance schedule and its last run (admin key or --no-auth)",
             responses=errors)
    def status(p: Principal = who) -> dict[str, Any]:
        if p.tenant is not None:
            raise forbidden("the maintenance status needs an admin key")
        return upkeep.status()
