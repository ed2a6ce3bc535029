"""``POST /schedules/explain``: a schedule in words and its next run times, before anything is saved."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from autoloader_api.schemas import ExplainSchedule, ScheduleExplanation
from autoloader_api.tenants import Caller
from autoloader_contracts.schedule import ScheduleError, cron_of, describe, upcoming_fire_times
from autoloader_core.clock import Clock
from autoloader_core.errors import FieldError, ValidationFailed

MAX_UPCOMING = 50


class ScheduleController(Controller):
    """Lets a client (the wizard) show what a schedule means as the user types it."""

    path = "/schedules"
    tags = ["schedules"]

    @post("/explain", status_code=200, summary="A schedule in words and its next run times")
    async def explain(
        self, *, caller: NamedDependency[Caller], clock: NamedDependency[Clock], data: JSONBody[ExplainSchedule]
    ) -> ScheduleExplanation:
        """Validate ``schedule`` as create would, and answer its description and the next ``count`` run times.

        An invalid schedule is 422 naming the field (``schedule.cron_expression``, ``schedule.timezone``, ...).
        """
        del caller  # resolving it is the authentication; the answer does not depend on the tenant
        if not 1 <= data.count <= MAX_UPCOMING:
            raise ValidationFailed([FieldError("count", f"count must be between 1 and {MAX_UPCOMING}")])
        spec = data.schedule
        try:
            return ScheduleExplanation(
                frequency=spec.frequency,
                cron=cron_of(spec),
                timezone=spec.timezone,
                description=describe(spec),
                next_runs=upcoming_fire_times(spec, clock.now(), data.count),
            )
        except ScheduleError as exc:
            raise ValidationFailed([FieldError(f"schedule.{exc.field}", exc.message)]) from None
