"""E-mail of the workflow: a new task, a reminder, an escalation, a cancelled task.

Messages are queued inside the transaction of the change and handed over only after it commits
(``transaction.on_commit(..., robust=True)``: a failing mail server never undoes the change),
all of one transaction together: the tasks' e-mail and the transition's (agreements.notifications).
Each message is composed in its recipient's language (``UserPreferences``, else
``settings.LANGUAGE_CODE``) and sent through Django's e-mail backend, either at once or, with
``STIPULA_NOTIFY_ASYNC``, by a Celery worker (workflow.tasks.deliver_mail). What is queued is
plain data (ids, names, ISO times), so the worker composes the same message the web process
would.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

ASSIGNED = "assigned"
REMINDER = "reminder"
ESCALATED = "escalated"
CANCELLED = "cancelled"


@dataclass
class Mail:
    kind: str
    user_id: int
    params: dict = field(default_factory=dict)


def language_of(user) -> str:
    """The language a user reads their e-mail in."""
    try:
        preferences = user.preferences
    except ObjectDoesNotExist:
        return settings.LANGUAGE_CODE
    return preferences.language or settings.LANGUAGE_CODE


def queue(mails: Iterable[Mail]) -> None:
    """Send ``mails`` once the current transaction commits (never if it rolls back)."""
    data = [asdict(mail) for mail in mails]
    if data:
        enqueue(data)


def enqueue(part: list[dict] | Callable[[], list[dict]]) -> None:
    """Add e-mail (mail dicts, or a function returning them once the transaction has committed)
    to the transaction's delivery: everything a transaction queues goes out together after the
    commit, in one delivery (one query for the recipients, one Celery message with
    STIPULA_NOTIFY_ASYNC), in the order it was queued."""
    if connection.in_atomic_block:
        hooks = connection.run_on_commit
        # The delivery already queued at this savepoint level, if it is the last thing queued:
        # a rollback of this level drops both together, as it would drop two callbacks.
        if (
            hooks
            and isinstance(hooks[-1][1], _Delivery)
            and hooks[-1][0] == set(connection.savepoint_ids)
        ):
            hooks[-1][1].parts.append(part)
            return
    transaction.on_commit(_Delivery([part]), robust=True)


class _Delivery:
    """The e-mail of one transaction, handed over after it commits."""

    def __init__(self, parts):
        self.parts = parts
        # Django names a failing robust callback by its __qualname__ when it logs the failure.
        self.__qualname__ = "workflow.notifications.deliver"

    def __call__(self):
        mails = []
        for part in self.parts:
            try:
                mails.extend(part() if callable(part) else part)
            except Exception:
                logger.exception("could not prepare the e-mail of a committed change")
        if mails:
            dispatch(mails)


def dispatch(mails: list[dict]) -> None:
    if settings.STIPULA_NOTIFY_ASYNC:
        from workflow.tasks import deliver_mail

        deliver_mail.delay(mails)
    else:
        deliver(mails)


# E-mail about a transition as a whole (agreements.notifications): composed for its recipients,
# who are found when it is delivered.
TRANSITION = "transition"


def deliver(mails: list[dict]) -> int:
    """Compose each message in its recipient's language and send them; returns how many."""
    from agreements.notifications import compose_transition, transition_recipients

    # One query for the tasks' owners and the responsible legal officers; a transition that
    # concerns more people reads them with a query of its own.
    wanted = {m["params"]["officer"] if m["kind"] == TRANSITION else m["user_id"] for m in mails}
    users = active_users(wanted)
    readers = {}
    for index, mail in enumerate(mails):
        if mail["kind"] == TRANSITION:
            try:
                readers[index] = transition_recipients(mail["params"], users)
            except Exception:
                logger.exception("could not find who hears of %s", mail["params"].get("action"))
                readers[index] = []
    messages = []
    for index, mail in enumerate(mails):
        try:
            if mail["kind"] == TRANSITION:
                messages += in_each_language(readers[index], compose_transition(mail["params"]))
                continue
            user = users.get(mail["user_id"])
            if user is None or not user.email:
                continue
            language = language_of(user)
            with translation.override(language):
                subject, body = COMPOSERS[mail["kind"]](user, mail["params"])
            messages.append(_message(subject, body, [user.email], language))
        except Exception:
            logger.exception("could not compose a %s e-mail", mail["kind"])
    return send_all(messages)


_USERS = {}


def active_users(ids) -> dict:
    """The active users among ``ids``, by id, with their preferences: what
    ``filter(pk__in=ids, is_active=True).select_related("preferences").in_bulk()`` reads."""
    ids = sorted(ids)
    if not ids:
        return {}
    pk = connection.ops.quote_name(get_user_model()._meta.pk.column)
    users = users_where(f"u.{pk} IN ({', '.join(['%s'] * len(ids))})", ids)
    return {user.pk: user for user, _flag in users}


def users_where(condition: str, params: list, flag: str = "FALSE", flag_params=()) -> list:
    """The active users (alias ``u``) meeting the SQL ``condition``, by id, each with their
    preferences and the value of the SQL expression ``flag``: in SQL written once (this runs
    after every transition; the ORM's query compilation costs more than the query)."""
    from workflow.engine import Columns
    from workflow.models import UserPreferences

    if not _USERS:
        user = get_user_model()
        _USERS["columns"] = (Columns(user, "u"), Columns(UserPreferences, "p"))
        quote = connection.ops.quote_name
        columns = ", ".join(c.sql for c in _USERS["columns"])
        active = quote(user._meta.get_field("is_active").column)
        owner = quote(UserPreferences._meta.get_field("user").column)
        pk = quote(user._meta.pk.column)
        _USERS["sql"] = (
            f"SELECT {columns}, ({{flag}}) FROM {quote(user._meta.db_table)} u "  # noqa: S608
            f"LEFT JOIN {quote(UserPreferences._meta.db_table)} p ON p.{owner} = u.{pk} "
            f"WHERE u.{active} = %s AND ({{condition}}) ORDER BY u.{pk}"
        )
        _USERS["preferences"] = user._meta.get_field("preferences")
    user_columns, preference_columns = _USERS["columns"]
    sql = _USERS["sql"].format(flag=flag, condition=condition)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*flag_params, True, *params])
        rows = cursor.fetchall()
    found = []
    split = len(user_columns.fields)
    for row in rows:
        user = user_columns.instance(row[:split])
        preferences = None
        if row[split] is not None:
            preferences = preference_columns.instance(row[split:-1])
        _USERS["preferences"].set_cached_value(user, preferences)
        found.append((user, bool(row[-1])))
    return found


def _message(subject: str, body: str, to: list[str], language: str) -> EmailMessage:
    return EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        headers={"Content-Language": language},
    )


def send_all(messages: list[EmailMessage]) -> int:
    if not messages:
        return 0
    with get_connection() as connection:
        return connection.send_messages(messages) or 0


def send_in_each_language(users, compose: Callable[[], tuple[str, str]]) -> int:
    """One message per language, addressed to the users who read that language, composed by
    ``compose()`` with that language active. For messages whose content is the same for all."""
    return send_all(in_each_language(users, compose))


def in_each_language(users, compose: Callable[[], tuple[str, str]]) -> list[EmailMessage]:
    by_language: dict[str, list[str]] = {}
    for user in users:
        if user.email:
            by_language.setdefault(language_of(user), []).append(user.email)
    messages = []
    for language, emails in sorted(by_language.items()):
        with translation.override(language):
            subject, body = compose()
        messages.append(_message(subject, body, sorted(set(emails)), language))
    return messages


# Composing -------------------------------------------------------------------------------------


def agreement_url(agreement_id: int) -> str:
    try:
        path = reverse("agreements:detail", args=[agreement_id])
    except NoReverseMatch:
        path = f"/agreements/{agreement_id}/"
    return settings.STIPULA_BASE_URL.rstrip("/") + path


def format_due(iso: str | None) -> str:
    if not iso:
        return _("no due date")
    return formats.date_format(timezone.localtime(parse_datetime(iso)), "DATETIME_FORMAT")


def task_title(node: str) -> str:
    from workflow.flows import AgreementFlow

    return str(AgreementFlow.instance.node(node).task_title)


def _note(params: dict) -> str:
    note = params.get("note") or {}
    kind = note.get("kind")
    if kind == "sign":
        return _("You sign for %(party)s.") % note
    if kind == "delegated":
        return (
            _("%(from)s delegated this signature to you for %(party)s (authorising act: %(act)s).")
            % note
        )
    if kind == "declined":
        return (
            _(
                "%(name)s declined to sign for %(party)s. Reason: %(reason)s\nResume the signing "
                "once the party agrees, or withdraw the agreement."
            )
            % note
        )
    if kind == "review":
        return _("Go through the review checklist and approve or request changes.")
    return ""


def _compose_assigned(user, params):
    values = {
        "task": task_title(params["node"]),
        "subject": params["subject"],
        "due": format_due(params.get("due")),
        "url": agreement_url(params["agreement"]),
        "note": _note(params),
        "name": user.get_full_name() or user.get_username(),
    }
    subject = _("[Stipula] New task: %(task)s - %(subject)s") % {
        "task": values["task"],
        "subject": params["subject"][:80],
    }
    body = (
        _(
            "Hello %(name)s,\n\nyou have a new task: %(task)s.\nAgreement: %(subject)s\n"
            "Due: %(due)s\n%(note)s\n\n%(url)s\n"
        )
        % values
    )
    return subject, body


def _compose_reminder(user, params):
    values = {
        "task": task_title(params["node"]),
        "subject": params["subject"],
        "due": format_due(params.get("due")),
        "url": agreement_url(params["agreement"]),
        "name": user.get_full_name() or user.get_username(),
    }
    subject = _("[Stipula] Reminder: %(task)s is due on %(due)s") % values
    body = (
        _(
            "Hello %(name)s,\n\nthis is a reminder: your task «%(task)s» is due on %(due)s.\n"
            "Agreement: %(subject)s\n\n%(url)s\n"
        )
        % values
    )
    return subject, body


def _compose_escalated(user, params):
    values = {
        "task": task_title(params["node"]),
        "subject": params["subject"],
        "due": format_due(params.get("due")),
        "url": agreement_url(params["agreement"]),
        "owner": params.get("owner") or _("nobody (not yet taken)"),
    }
    subject = _("[Stipula] Overdue: %(task)s - %(subject)s") % {
        "task": values["task"],
        "subject": params["subject"][:80],
    }
    body = (
        _(
            "The task «%(task)s», assigned to %(owner)s, was due on %(due)s and is not done yet.\n"
            "As the responsible legal officer, please follow it up.\nAgreement: %(subject)s\n\n"
            "%(url)s\n"
        )
        % values
    )
    return subject, body


def _compose_cancelled(user, params):
    values = {
        "task": task_title(params["node"]),
        "subject": params["subject"],
        "reason": params.get("reason") or "",
        "url": agreement_url(params["agreement"]),
    }
    subject = _("[Stipula] Task cancelled: %(task)s - %(subject)s") % {
        "task": values["task"],
        "subject": params["subject"][:80],
    }
    body = (
        _(
            "Your task «%(task)s» is no longer needed: the agreement was closed.\n"
            "Agreement: %(subject)s\nReason: %(reason)s\n\n%(url)s\n"
        )
        % values
    )
    return subject, body


COMPOSERS = {
    ASSIGNED: _compose_assigned,
    REMINDER: _compose_reminder,
    ESCALATED: _compose_escalated,
    CANCELLED: _compose_cancelled,
}
