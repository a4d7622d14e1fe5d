"""Template helpers of the workflow pages: the inbox count on the home page."""

from django import template

register = template.Library()


@register.simple_tag
def open_task_counts(user) -> dict:
    """How many open tasks ``user`` holds, how many of them are overdue, and how many unassigned
    tasks they may take (workflow.selectors.open_tasks_for)."""
    from workflow.selectors import open_tasks_for

    if user is None or not user.is_authenticated:
        return {"mine": 0, "overdue": 0, "claimable": 0}
    items = open_tasks_for(user)
    mine = [item for item in items if not item.claimable]
    return {
        "mine": len(mine),
        "overdue": sum(1 for item in mine if item.overdue),
        "claimable": len(items) - len(mine),
    }
