"""Celery tasks of the registry: the nightly daily register."""

from celery import shared_task


@shared_task(name="registry.produce_daily_registers")
def produce_daily_registers() -> list[str]:
    from registry.daily import produce_missing

    return [register.day.isoformat() for register in produce_missing()]
