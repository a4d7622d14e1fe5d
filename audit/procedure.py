"""The procedure verification report (RULES.md V1: «verifica e controllo delle procedure»).

For one agreement, or every agreement concluded (signed or registered) in a period, an auditor gets
each check of V1 with its outcome, PASS, FAIL or NOT APPLICABLE (with the reason, e.g. not
registered yet), and the evidence it rests on: audit event numbers, document hashes, signature and
validation ids. The checks, in V1's order:

``order``         every step happened in the order the lifecycle allows (the agreement's audit
                  events replayed through the state machine's transitions);
``entitled``      each step was done by someone entitled to it at that time (the role recorded in
                  the event, the responsible legal officer, the reviewers named then, the signatory
                  of record; the user's groups today are shown as corroboration, since group
                  membership keeps no history);
``four_eyes``     nobody who reviewed or approved drafted (created the agreement or a version);
``signatures``    every signature covers the approved content (the hash recorded at approval, the
                  prepared PDF re-hashed, each signed revision extending it byte for byte) and
                  passed validation (its latest validation is PASSED);
``signatories``   each signatory was the authorised representative of their party (recorded with
                  an authorising act, a member of the party's organisation, and the certificate's
                  fiscal code is theirs, RULES.md S8);
``registration``  registration came after the last signature and its impronta matches the stored
                  file (the stored bytes are hashed again);
``chain``         the audit chain verifies from the first event (``verify_chain``) and every event
                  of the agreement is in it, its hash recomputed and linked to the event before.

Nothing here writes: the views record that a report was produced (audit.auditor). The texts are in
the active language; the codes (check codes, PASS/FAIL/NOT_APPLICABLE) never change.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from agreements.models import (
    Agreement,
    AgreementState,
    AgreementVersion,
    OrganisationMember,
    Signatory,
)
from agreements.roles import Role
from agreements.transitions import TRANSITIONS
from audit.chain import canonical_bytes, event_hash
from audit.models import AuditAction, AuditEvent
from audit.selectors import ChainStatus, verify_chain

A = AuditAction
S = AgreementState
ROME = ZoneInfo("Europe/Rome")
SCHEMA = "stipula/procedure-verification-report/1"


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 (an outcome, not a password)
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"


STATUS_LABELS = {
    Status.PASS: gettext_lazy("PASS"),
    Status.FAIL: gettext_lazy("FAIL"),
    Status.NOT_APPLICABLE: gettext_lazy("NOT APPLICABLE"),
}

CHECK_TITLES = {
    "order": gettext_lazy("Every step happened in the allowed order"),
    "entitled": gettext_lazy("Each step was done by someone entitled to it at that time"),
    "four_eyes": gettext_lazy("Legal review by someone other than the drafters (four-eyes)"),
    "signatures": gettext_lazy("Every signature covers the approved content and passed validation"),
    "signatories": gettext_lazy("Each signatory was the authorised representative of their party"),
    "registration": gettext_lazy(
        "Registration came after the last signature and its impronta matches the stored file"
    ),
    "chain": gettext_lazy("The audit chain verifies and holds every event of the agreement"),
}
CHECK_CODES = tuple(CHECK_TITLES)


# The report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """One finding of a check. ``ok`` is False for what makes the check fail, None for a note."""

    text: str
    ok: bool | None = True
    events: tuple[int, ...] = ()
    hashes: tuple[tuple[str, str], ...] = ()
    refs: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "text": self.text,
            "events": list(self.events),
            "hashes": [{"label": label, "sha256": value} for label, value in self.hashes],
            "refs": [{"kind": kind, "id": value} for kind, value in self.refs],
        }


@dataclass(frozen=True)
class Check:
    code: str
    status: Status
    summary: str
    evidence: tuple[Evidence, ...] = ()

    @property
    def title(self) -> str:
        return str(CHECK_TITLES[self.code])

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])

    @property
    def failures(self) -> list[Evidence]:
        return [item for item in self.evidence if item.ok is False]

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "title": self.title,
            "status": str(self.status),
            "summary": self.summary,
            "evidence": [item.to_dict() for item in self.evidence],
        }


@dataclass(frozen=True)
class AgreementReport:
    agreement_id: int
    subject: str
    kind: str
    state: str
    state_label: str
    legal_officer: str
    checks: tuple[Check, ...]
    registration: str = ""

    @property
    def status(self) -> Status:
        return Status.FAIL if self.failed else Status.PASS

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.status == Status.FAIL]

    def check(self, code: str) -> Check:
        return next(check for check in self.checks if check.code == code)

    def to_dict(self) -> dict:
        return {
            "agreement": self.agreement_id,
            "subject": self.subject,
            "kind": self.kind,
            "state": self.state,
            "legal_officer": self.legal_officer,
            "registration": self.registration,
            "status": str(self.status),
            "checks": [check.to_dict() for check in self.checks],
        }


@dataclass(frozen=True)
class ChainSummary:
    ok: bool
    count: int
    head_hash: str
    first_bad_seq: int | None
    problem: str

    @classmethod
    def of(cls, status: ChainStatus) -> ChainSummary:
        return cls(status.ok, status.count, status.head_hash, status.first_bad_seq, status.problem)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "events": self.count,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class ProcedureReport:
    """The report for one agreement (``date_from``/``date_to`` None) or for a period."""

    generated_at: datetime.datetime
    chain: ChainSummary
    agreements: tuple[AgreementReport, ...]
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None

    @property
    def is_period(self) -> bool:
        return self.date_from is not None

    @property
    def status(self) -> Status:
        if any(report.status == Status.FAIL for report in self.agreements):
            return Status.FAIL
        return Status.PASS if self.agreements else Status.NOT_APPLICABLE

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])

    def counts(self) -> dict[str, int]:
        totals = {str(status): 0 for status in Status}
        for report in self.agreements:
            totals[str(report.status)] += 1
        return totals

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "generated_at": self.generated_at.astimezone(datetime.UTC).isoformat(),
            "scope": "period" if self.is_period else "agreement",
            "period": (
                {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
                if self.is_period
                else None
            ),
            "status": str(self.status),
            "chain": self.chain.to_dict(),
            "agreements": [report.to_dict() for report in self.agreements],
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2).encode()


# What the checks read ---------------------------------------------------------------------------


@dataclass
class _Facts:
    """Everything one agreement's checks read, loaded once in a fixed number of queries."""

    agreement: Agreement
    events: list[AuditEvent]
    payloads: dict[int, dict]
    users: dict[int, object]
    versions: list[AgreementVersion]
    signatories: dict[int, Signatory]
    signatures: list
    document: object | None
    registration: object | None
    members: set[tuple[int, int]]
    previous_hashes: dict[int, str]
    chain: ChainStatus
    checkpoint: object | None = None
    reader: object | None = None
    files: dict[str, bytes | None] = field(default_factory=dict)

    def of(self, *actions) -> list[AuditEvent]:
        wanted = {str(action) for action in actions}
        return [event for event in self.events if event.action in wanted]

    def last(self, *actions) -> AuditEvent | None:
        found = self.of(*actions)
        return found[-1] if found else None

    def payload(self, event: AuditEvent) -> dict:
        return self.payloads[event.seq]

    def read(self, name: str) -> bytes | None:
        """The stored bytes of ``name`` (None when missing), read once per report."""
        if name not in self.files:
            try:
                with default_storage.open(name, "rb") as handle:
                    self.files[name] = handle.read()
            except (FileNotFoundError, OSError):
                self.files[name] = None
        return self.files[name]


def _load(agreement_id: int, chain: ChainStatus, checkpoint=None, reader=None) -> _Facts:
    from registry.models import Registration
    from signing.models import Signature, SignatureValidation, SigningDocument

    agreement = Agreement.objects.select_related("legal_officer", "approved_version").get(
        pk=agreement_id
    )
    events = list(AuditEvent.objects.filter(agreement_id=agreement_id).order_by("seq"))
    payloads = {event.seq: event.payload_data for event in events}
    signatories = {
        signatory.pk: signatory
        for signatory in Signatory.objects.filter(party__agreement_id=agreement_id)
        .select_related("party__organisation", "user")
        .order_by("party__position", "position", "pk")
    }
    signatures = list(
        Signature.objects.filter(signatory_id__in=list(signatories))
        .prefetch_related(
            Prefetch("validations", queryset=SignatureValidation.objects.order_by("pk"))
        )
        .order_by("pk")
    )
    versions = list(AgreementVersion.objects.filter(agreement_id=agreement_id).order_by("number"))
    document = SigningDocument.objects.filter(agreement_id=agreement_id).first()
    registration = Registration.objects.filter(agreement_id=agreement_id).first()
    user_ids = {event.actor_id for event in events if event.actor_id is not None}
    user_ids |= {s.user_id for s in signatories.values()}
    user_ids |= {v.author_id for v in versions} | {agreement.legal_officer_id}
    users = {
        user.pk: user
        for user in get_user_model().objects.filter(pk__in=user_ids).prefetch_related("groups")
    }
    members = set(
        OrganisationMember.objects.filter(
            organisation_id__in={s.party.organisation_id for s in signatories.values()},
            user_id__in={s.user_id for s in signatories.values()},
        ).values_list("organisation_id", "user_id")
    )
    previous_hashes = dict(
        AuditEvent.objects.filter(seq__in=[event.seq - 1 for event in events]).values_list(
            "seq", "hash"
        )
    )
    return _Facts(
        agreement=agreement,
        events=events,
        payloads=payloads,
        users=users,
        versions=versions,
        signatories=signatories,
        signatures=signatures,
        document=document,
        registration=registration,
        members=members,
        previous_hashes=previous_hashes,
        chain=chain,
        checkpoint=checkpoint,
        reader=reader,
    )


def _label(action: str) -> str:
    try:
        return str(AuditAction(action).label)
    except ValueError:
        return action


def _state_label(state: str | None) -> str:
    if not state:
        return "—"
    try:
        return str(AgreementState(state).label)
    except ValueError:
        return state


def _state_at(payload: dict, moment: str) -> str | None:
    value = payload.get(moment)
    return value.get("state") if isinstance(value, dict) else None


def _document_hash(event: AuditEvent | None, name: str) -> str:
    if event is None:
        return ""
    for document in event.document_list:
        if document.get("name") == name:
            return document.get("sha256", "")
    return ""


def _moment(value) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) and value else None


def _rome(moment: datetime.datetime | None) -> str:
    return moment.astimezone(ROME).strftime("%d/%m/%Y %H:%M:%S") if moment else "—"


def _outcome(code: str, evidence: list[Evidence], *, passed: str, failed: str) -> Check:
    if any(item.ok is False for item in evidence):
        return Check(code, Status.FAIL, failed, tuple(evidence))
    return Check(code, Status.PASS, passed, tuple(evidence))


def _not_applicable(code: str, reason: str, evidence: list[Evidence] | None = None) -> Check:
    return Check(code, Status.NOT_APPLICABLE, reason, tuple(evidence or ()))


# 1. Order ----------------------------------------------------------------------------------------


def _lifecycle_moves() -> dict[str, dict[str, str]]:
    """Audit action of each lifecycle transition -> {source state: target state}, read from the
    state machine itself, so a transition added to the lifecycle is checked without change here."""
    moves: dict[str, dict[str, str]] = {}
    for name, info in TRANSITIONS.items():
        meta = getattr(getattr(Agreement, name, None), "_django_fsm", None)
        if meta is None:
            continue
        moves[str(info.action)] = {
            str(source): str(transition.target) for source, transition in meta.transitions.items()
        }
    return moves


# Steps that are not transitions, and the states they may happen in.
STATE_BOUND = {
    A.PARTY_ADDED: (S.DRAFT, S.NEGOTIATION),
    A.SIGNATORY_ADDED: (S.DRAFT, S.NEGOTIATION),
    A.VERSION_CREATED: (S.DRAFT, S.NEGOTIATION),
    A.VERSION_RENDERED: (S.DRAFT, S.NEGOTIATION),
    A.ROUND_OPENED: (S.NEGOTIATION,),
    A.PROPOSAL_ACCEPTED: (S.NEGOTIATION,),
    A.REVIEW_SUBMITTED: (S.LEGAL_REVIEW,),
    A.SIGNING_PREPARED: (S.SIGNATURE,),
    A.SIGNATURE_APPLIED: (S.SIGNATURE,),
    A.SIGNING_ARCHIVED: (S.SIGNATURE,),
    A.REGISTRATION_CHANGED: (S.REGISTERED, S.ANNULLED),
}


def check_order(facts: _Facts) -> Check:
    moves = _lifecycle_moves()
    evidence: list[Evidence] = []
    state: str | None = None
    created = False
    steps = 0
    for event in facts.events:
        action = event.action
        if action == A.ACTION_REFUSED:
            continue  # a refused attempt changed nothing
        payload = facts.payload(event)
        if action == A.AGREEMENT_CREATED:
            after = _state_at(payload, "after") or S.DRAFT
            ok = not created and after == S.DRAFT
            evidence.append(
                Evidence(
                    _("#%(seq)d created in state «%(state)s».")
                    % {"seq": event.seq, "state": _state_label(after)}
                    if ok
                    else _("#%(seq)d: the agreement is created a second time, or not in draft.")
                    % {"seq": event.seq},
                    ok,
                    (event.seq,),
                )
            )
            created, state = True, after
            continue
        if not created and (action in moves or action in STATE_BOUND):
            evidence.append(
                Evidence(
                    _("#%(seq)d «%(action)s» comes before the agreement was created.")
                    % {"seq": event.seq, "action": _label(action)},
                    False,
                    (event.seq,),
                )
            )
            continue
        if action in moves:
            steps += 1
            before, after = _state_at(payload, "before"), _state_at(payload, "after")
            values = {
                "seq": event.seq,
                "action": _label(action),
                "before": _state_label(before),
                "after": _state_label(after),
                "state": _state_label(state),
            }
            if moves[action].get(before) != after and moves[action].get("*") != after:
                evidence.append(
                    Evidence(
                        _(
                            "#%(seq)d «%(action)s» from «%(before)s» to «%(after)s» is not a "
                            "transition of the lifecycle."
                        )
                        % values,
                        False,
                        (event.seq,),
                    )
                )
            elif before != state:
                evidence.append(
                    Evidence(
                        _(
                            "#%(seq)d «%(action)s» starts from «%(before)s», but the agreement "
                            "was in «%(state)s»: a step is missing or out of order."
                        )
                        % values,
                        False,
                        (event.seq,),
                    )
                )
            else:
                evidence.append(
                    Evidence(
                        _("#%(seq)d «%(action)s»: «%(before)s» → «%(after)s».") % values,
                        True,
                        (event.seq,),
                    )
                )
            state = after
        elif action in STATE_BOUND and state not in STATE_BOUND[action]:
            evidence.append(
                Evidence(
                    _(
                        "#%(seq)d «%(action)s» happened in state «%(state)s»; it is allowed only "
                        "in %(allowed)s."
                    )
                    % {
                        "seq": event.seq,
                        "action": _label(action),
                        "state": _state_label(state),
                        "allowed": ", ".join(f"«{_state_label(s)}»" for s in STATE_BOUND[action]),
                    },
                    False,
                    (event.seq,),
                )
            )
    if not created:
        evidence.append(
            Evidence(_("The audit trail has no event of the agreement's creation."), False)
        )
    elif state != facts.agreement.state:
        evidence.append(
            Evidence(
                _(
                    "The audit trail ends in state «%(trail)s», but the agreement is in state "
                    "«%(state)s»: a change of state was not recorded."
                )
                % {
                    "trail": _state_label(state),
                    "state": _state_label(facts.agreement.state),
                },
                False,
            )
        )
    return _outcome(
        "order",
        evidence,
        passed=ngettext(
            "%(steps)d transition, allowed from the state before it.",
            "%(steps)d transitions, each allowed from the state before it.",
            steps,
        )
        % {"steps": steps},
        failed=_("Some steps are not in an order the lifecycle allows."),
    )


# 2. Entitlement ----------------------------------------------------------------------------------

LEGAL_OFFICER_STEPS = (
    A.PARTY_ADDED,
    A.SIGNATORY_ADDED,
    A.VERSION_CREATED,
    A.VERSION_RENDERED,
    A.NEGOTIATION_OPENED,
    A.SUBMITTED_FOR_REVIEW,
    A.ROUND_OPENED,
    A.ROUND_CLOSED,
    A.PROPOSAL_ACCEPTED,
    A.PROPOSAL_REJECTED,
)
REVIEW_STEPS = (A.REVIEW_SUBMITTED, A.CHANGES_REQUESTED, A.APPROVED, A.REJECTED)
REGISTRAR_STEPS = (A.REGISTERED, A.ANNULLED, A.REGISTRATION_CHANGED)
SYSTEM_OR_OFFICER_STEPS = (A.SIGNING_COMPLETED,)


def _groups(user) -> set[str]:
    names = {group.name for group in user.groups.all()}
    if user.is_superuser:
        names.add(Role.ADMINISTRATOR.value)
    return names


class _Entitlement:
    """Replays the trail and says, for each step, whether its actor was entitled to it then."""

    def __init__(self, facts: _Facts):
        self.facts = facts
        self.officer_id = facts.agreement.legal_officer_id
        self.named: set[str] = set()  # usernames of the reviewers named so far
        self.previous: AuditEvent | None = None

    def who(self, event: AuditEvent) -> str:
        return event.actor_username or _("the system")

    def item(self, event: AuditEvent, ok: bool, text: str) -> Evidence:
        return Evidence(text, ok, (event.seq,))

    def role_today(self, event: AuditEvent, role: str) -> Evidence | None:
        """A note when the actor no longer holds the role: groups keep no history, so the role
        recorded at the time is what counts."""
        user = self.facts.users.get(event.actor_id)
        if user is None or role in _groups(user):
            return None
        return Evidence(
            _(
                "#%(seq)d: %(who)s no longer holds the role «%(role)s» today (the role recorded "
                "at the time is what counts)."
            )
            % {"seq": event.seq, "who": self.who(event), "role": Role(role).label},
            None,
            (event.seq,),
        )

    def judge(self, event: AuditEvent) -> list[Evidence]:
        action, seq, who = event.action, event.seq, self.who(event)
        values = {"seq": seq, "action": _label(action), "who": who, "role": event.actor_role}
        out: list[Evidence] = []
        if action == A.REVIEWER_NAMED:
            self.named.add(self.facts.payload(event).get("reviewer", ""))
            return out
        if action == A.REVIEWER_REMOVED:
            self.named.discard(self.facts.payload(event).get("reviewer", ""))
            return out
        if action == A.AGREEMENT_CREATED or action in LEGAL_OFFICER_STEPS:
            ok = event.actor_id == self.officer_id and event.actor_role == Role.LEGAL_OFFICER.value
            out.append(
                self.item(
                    event,
                    ok,
                    _("#%(seq)d «%(action)s» by %(who)s, the responsible legal officer.") % values
                    if ok
                    else _(
                        "#%(seq)d «%(action)s» by %(who)s (role «%(role)s»), who is not the "
                        "responsible legal officer."
                    )
                    % values,
                )
            )
            role = Role.LEGAL_OFFICER.value
        elif action in REVIEW_STEPS:
            ok = event.actor_id is not None and event.actor_role == Role.REVIEWER.value
            if ok and self.named and event.actor_username not in self.named:
                out.append(
                    self.item(
                        event,
                        False,
                        _(
                            "#%(seq)d «%(action)s» by %(who)s, who was not among the reviewers "
                            "named then (%(named)s)."
                        )
                        % {**values, "named": ", ".join(sorted(self.named))},
                    )
                )
            elif ok:
                named = _("named reviewer") if self.named else _("reviewer (no reviewer was named)")
                out.append(
                    self.item(
                        event,
                        True,
                        _("#%(seq)d «%(action)s» by %(who)s, %(named)s.")
                        % {**values, "named": named},
                    )
                )
            else:
                out.append(
                    self.item(
                        event,
                        False,
                        _("#%(seq)d «%(action)s» by %(who)s in role «%(role)s», not a reviewer.")
                        % values,
                    )
                )
            role = Role.REVIEWER.value
        elif action == A.WITHDRAWN:
            if event.actor_role == Role.ADMINISTRATOR.value:
                user = self.facts.users.get(event.actor_id)
                ok = user is not None and Role.ADMINISTRATOR.value in _groups(user)
                role = Role.ADMINISTRATOR.value
            else:
                ok = event.actor_id == self.officer_id
                role = Role.LEGAL_OFFICER.value
            out.append(
                self.item(
                    event,
                    ok,
                    _("#%(seq)d «%(action)s» by %(who)s (role «%(role)s»).") % values
                    if ok
                    else _(
                        "#%(seq)d «%(action)s» by %(who)s, neither the responsible legal officer "
                        "nor an administrator."
                    )
                    % values,
                )
            )
        elif action == A.SIGNING_PREPARED:
            # Approval prepares the PDF in its own transaction, as the approving reviewer.
            approval = self.previous is not None and self.previous.action == A.APPROVED
            ok = (
                event.actor_id is None
                or event.actor_id == self.officer_id
                or (approval and self.previous.actor_id == event.actor_id)
            )
            out.append(
                self.item(
                    event,
                    ok,
                    _("#%(seq)d «%(action)s» by %(who)s, as part of the approval or by the system.")
                    % values
                    if ok
                    else _("#%(seq)d «%(action)s» by %(who)s, not entitled to prepare it.")
                    % values,
                )
            )
            role = ""
        elif action in (A.SIGNATURE_APPLIED, A.DECLINED_TO_SIGN):
            signatory = self.facts.signatories.get(
                _signatory_id(self.facts.payload(event).get("signatory"))
            )
            ok = (
                signatory is not None
                and event.actor_id is not None
                and event.actor_id == signatory.user_id
                and (action != A.SIGNATURE_APPLIED or event.actor_role == Role.SIGNATORY.value)
            )
            out.append(
                self.item(
                    event,
                    ok,
                    _("#%(seq)d «%(action)s» by %(who)s, the signatory of record.") % values
                    if ok
                    else _(
                        "#%(seq)d «%(action)s» by %(who)s, who is not the signatory it is "
                        "recorded for."
                    )
                    % values,
                )
            )
            role = ""
        elif action in SYSTEM_OR_OFFICER_STEPS or action == A.SIGNING_ARCHIVED:
            ok = event.actor_id is None or (
                action != A.SIGNING_ARCHIVED and event.actor_id == self.officer_id
            )
            out.append(
                self.item(
                    event,
                    ok,
                    _("#%(seq)d «%(action)s» by %(who)s.") % values
                    if ok
                    else _("#%(seq)d «%(action)s» by %(who)s, not entitled to it.") % values,
                )
            )
            role = Role.LEGAL_OFFICER.value if event.actor_id is not None else ""
        elif action in REGISTRAR_STEPS:
            user = self.facts.users.get(event.actor_id)
            ok = user is not None and event.actor_role == Role.REGISTRAR.value
            out.append(
                self.item(
                    event,
                    ok,
                    _("#%(seq)d «%(action)s» by %(who)s, registrar.") % values
                    if ok
                    else _("#%(seq)d «%(action)s» by %(who)s in role «%(role)s», not a registrar.")
                    % values,
                )
            )
            role = Role.REGISTRAR.value
        else:
            return out
        self.previous = event
        if role and event.actor_id is not None:
            note = self.role_today(event, role)
            if note is not None:
                out.append(note)
        return out


def _signatory_id(value) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def check_entitled(facts: _Facts) -> Check:
    judge = _Entitlement(facts)
    evidence: list[Evidence] = []
    for event in facts.events:
        if event.action == A.ACTION_REFUSED:
            continue
        found = judge.judge(event)
        evidence.extend(found)
        if not found and event.action not in (A.REVIEWER_NAMED, A.REVIEWER_REMOVED):
            judge.previous = event
    judged = sum(1 for item in evidence if item.ok is not None)
    return _outcome(
        "entitled",
        evidence,
        passed=ngettext(
            "%(steps)d step, by someone entitled to it.",
            "%(steps)d steps, each by someone entitled to it.",
            judged,
        )
        % {"steps": judged},
        failed=_("Some steps were done by someone not entitled to them."),
    )


# 3. Four-eyes ------------------------------------------------------------------------------------


def check_four_eyes(facts: _Facts) -> Check:
    reviews = facts.of(*REVIEW_STEPS)
    if not reviews:
        return _not_applicable("four_eyes", _("No legal review decision has been recorded yet."))
    # Who drafted: whoever created the agreement, a version of its text or a proposal that became
    # one, by the trail and by the version rows themselves (policies.is_drafter reads the latter).
    drafters: dict[int, list[Evidence]] = defaultdict(list)
    officer = facts.agreement.legal_officer
    drafters[officer.pk].append(
        Evidence(
            _("%(who)s is the responsible legal officer.") % {"who": officer.get_username()},
            None,
        )
    )
    drafting = (
        A.AGREEMENT_CREATED,
        A.VERSION_CREATED,
        A.VERSION_RENDERED,
        A.PROPOSAL_SUBMITTED,
        A.PROPOSAL_ACCEPTED,
    )
    for event in facts.of(*drafting):
        if event.actor_id is not None:
            drafters[event.actor_id].append(
                Evidence(
                    _("#%(seq)d «%(action)s» by %(who)s.")
                    % {
                        "seq": event.seq,
                        "action": _label(event.action),
                        "who": event.actor_username,
                    },
                    None,
                    (event.seq,),
                )
            )
    for version in facts.versions:
        author = facts.users.get(version.author_id)
        drafters[version.author_id].append(
            Evidence(
                _("Version %(number)d was written by %(who)s.")
                % {
                    "number": version.number,
                    "who": author.get_username() if author else version.author_id,
                },
                None,
                hashes=((f"v{version.number}.docx", version.docx_sha256),),
                refs=(("version", str(version.pk)),),
            )
        )
    evidence: list[Evidence] = []
    for event in reviews:
        values = {"seq": event.seq, "action": _label(event.action), "who": event.actor_username}
        drafted = drafters.get(event.actor_id) if event.actor_id is not None else None
        if drafted:
            evidence.append(
                Evidence(
                    _("#%(seq)d «%(action)s» by %(who)s, who drafted the agreement:") % values,
                    False,
                    (event.seq,),
                )
            )
            evidence.extend(drafted)
        else:
            evidence.append(
                Evidence(
                    _("#%(seq)d «%(action)s» by %(who)s, who drafted nothing.") % values,
                    True,
                    (event.seq,),
                )
            )
    return _outcome(
        "four_eyes",
        evidence,
        passed=_("Every review decision was taken by someone who did not draft the agreement."),
        failed=_("A reviewer or approver also drafted the agreement."),
    )


# 4. Signatures -----------------------------------------------------------------------------------


def _latest(signature):
    validations = list(signature.validations.all())
    return validations[-1] if validations else None


def check_signatures(facts: _Facts) -> Check:
    from signing.models import Signature

    document, agreement = facts.document, facts.agreement
    if document is None and not facts.signatures:
        return _not_applicable(
            "signatures",
            _("Not signed: the agreement was not approved for signing (state «%(state)s»).")
            % {"state": _state_label(agreement.state)},
        )
    evidence: list[Evidence] = []
    approval = facts.last(A.APPROVED)
    approved = agreement.approved_version
    approved_hash = _document_hash(approval, f"v{approved.number}.pdf") if approved else ""
    if approved is None or approval is None:
        evidence.append(Evidence(_("There is no recorded approval of a version."), False))
    elif approved_hash != approved.pdf_sha256:
        evidence.append(
            Evidence(
                _(
                    "The approved version %(number)d's PDF does not have the hash recorded at "
                    "approval #%(seq)d."
                )
                % {"number": approved.number, "seq": approval.seq},
                False,
                (approval.seq,),
                ((_("recorded at approval"), approved_hash), (_("stored"), approved.pdf_sha256)),
            )
        )
    else:
        evidence.append(
            Evidence(
                _("Version %(number)d approved at #%(seq)d, its PDF as recorded then.")
                % {"number": approved.number, "seq": approval.seq},
                True,
                (approval.seq,),
                ((f"v{approved.number}.pdf", approved.pdf_sha256),),
            )
        )
    prepared_bytes = None
    if document is None:
        evidence.append(Evidence(_("Signatures exist but no document was prepared."), False))
    else:
        prepared_event = facts.last(A.SIGNING_PREPARED)
        recorded = _document_hash(prepared_event, "prepared.pdf")
        prepared_bytes = facts.read(document.prepared_pdf.name)
        rehashed = hashlib.sha256(prepared_bytes).hexdigest() if prepared_bytes else ""
        hashes = (
            (_("prepared PDF as recorded"), recorded),
            (_("prepared PDF in the signing record"), document.prepared_sha256),
            (_("prepared PDF re-hashed"), rehashed),
        )
        seqs = (prepared_event.seq,) if prepared_event else ()
        same_version = approved is not None and document.approved_version_id == approved.pk
        from_approved = (
            approved is not None
            and _document_hash(prepared_event, f"v{approved.number}.pdf") == approved.pdf_sha256
        )
        if not (recorded == document.prepared_sha256 == rehashed) or not (
            same_version and from_approved
        ):
            evidence.append(
                Evidence(
                    _(
                        "The document to sign is not the one prepared from the approved version "
                        "(or its stored bytes changed)."
                    ),
                    False,
                    seqs,
                    hashes,
                )
            )
            prepared_bytes = None if rehashed != recorded else prepared_bytes
        else:
            evidence.append(
                Evidence(
                    _("The document to sign was prepared from the approved version at #%(seq)d.")
                    % {"seq": prepared_event.seq},
                    True,
                    seqs,
                    hashes[:1],
                )
            )
    applied = {event.object_id: event for event in facts.of(A.SIGNATURE_APPLIED)}
    for signature in facts.signatures:
        signatory = facts.signatories.get(signature.signatory_id)
        latest = _latest(signature)
        report = (latest.report if latest else signature.report) or {}
        indication = latest.indication if latest else signature.indication
        event = applied.get(str(signature.pk))
        values = {"name": signatory.full_name if signatory else signature.signatory_id}
        refs = (("signature", str(signature.pk)),) + (
            (("validation", str(latest.pk)),) if latest else ()
        )
        seqs = (event.seq,) if event else ()
        problems = []
        if event is None:
            problems.append(_("no audit event records it"))
        elif _document_hash(event, "signed.pdf") != signature.pdf_sha256:
            problems.append(_("its signed revision is not the one recorded when it was applied"))
        if report.get("covers_approved") is not True:
            problems.append(_("its validation report says it does not cover the approved content"))
        revision = facts.read(signature.pdf_name) if signature.pdf_sha256 else None
        if revision is None:
            problems.append(_("the revision it signed is missing from the storage"))
        elif hashlib.sha256(revision).hexdigest() != signature.pdf_sha256:
            problems.append(_("the stored revision it signed does not match its hash"))
        elif prepared_bytes is not None and not revision.startswith(prepared_bytes):
            problems.append(_("the revision it signed does not extend the approved content"))
        if indication != Signature.Indication.PASSED:
            problems.append(
                _("its latest validation is %(indication)s %(sub)s")
                % {"indication": indication, "sub": latest.sub_indication if latest else ""}
            )
        hashes = ((_("signed revision"), signature.pdf_sha256),)
        if problems:
            evidence.append(
                Evidence(
                    _("Signature of %(name)s: %(problems)s.")
                    % {**values, "problems": "; ".join(str(p) for p in problems)},
                    False,
                    seqs,
                    hashes,
                    refs,
                )
            )
        else:
            evidence.append(
                Evidence(
                    _(
                        "Signature of %(name)s covers the approved content and passed "
                        "validation (level %(level)s)."
                    )
                    % {**values, "level": report.get("level") or "—"},
                    True,
                    seqs,
                    hashes,
                    refs,
                )
            )
    if facts.of(A.SIGNING_COMPLETED):
        passed = {
            signature.signatory_id
            for signature in facts.signatures
            if (_latest(signature) or signature).indication == Signature.Indication.PASSED
        }
        for signatory in facts.signatories.values():
            if signatory.required and signatory.pk not in passed:
                evidence.append(
                    Evidence(
                        _("%(name)s had to sign but has no passed signature.")
                        % {"name": signatory.full_name},
                        False,
                        refs=(("signatory", str(signatory.pk)),),
                    )
                )
    count = len(facts.signatures)
    if not count and all(item.ok is not False for item in evidence):
        return _not_applicable(
            "signatures",
            _("Nobody has signed yet; the document to sign is the approved one."),
            evidence,
        )
    return _outcome(
        "signatures",
        evidence,
        passed=ngettext(
            "%(count)d signature, over the approved content and PASSED.",
            "%(count)d signatures, each over the approved content and PASSED.",
            count,
        )
        % {"count": count},
        failed=_("A signature does not cover the approved content or did not pass validation."),
    )


# 5. Signatories ----------------------------------------------------------------------------------


def _representative_records(facts: _Facts) -> dict[int, list[tuple[AuditEvent, dict]]]:
    """Per signatory id, what the trail recorded about them, in order: added, then delegations."""
    records: dict[int, list[tuple[AuditEvent, dict]]] = defaultdict(list)
    for event in facts.of(A.SIGNATORY_ADDED, A.TASK_DELEGATED):
        payload = facts.payload(event)
        if event.action == A.SIGNATORY_ADDED:
            signatory_id = _signatory_id(event.object_id)
            record = payload
        else:
            signatory_id = _signatory_id(payload.get("signatory"))
            record = {**payload.get("after", {}), "user": payload.get("to", "")}
        if signatory_id is not None:
            records[signatory_id].append((event, record))
    return records


def check_signatories(facts: _Facts) -> Check:
    if not facts.signatures:
        return _not_applicable("signatories", _("Nobody has signed the agreement yet."))
    records = _representative_records(facts)
    applied = {event.object_id: event for event in facts.of(A.SIGNATURE_APPLIED)}
    evidence: list[Evidence] = []
    for signature in facts.signatures:
        signatory = facts.signatories.get(signature.signatory_id)
        event = applied.get(str(signature.pk))
        refs = (("signature", str(signature.pk)), ("signatory", str(signature.signatory_id)))
        if signatory is None:
            evidence.append(
                Evidence(
                    _("Signature %(id)d is by someone who is not a signatory of this agreement.")
                    % {"id": signature.pk},
                    False,
                    refs=refs,
                )
            )
            continue
        latest = _latest(signature)
        report = (latest.report if latest else signature.report) or {}
        party = signatory.party.organisation.name
        known = [
            (recorded, record)
            for recorded, record in records.get(signatory.pk, [])
            if event is None or recorded.seq < event.seq
        ]
        seqs = tuple(recorded.seq for recorded, _record in known) + ((event.seq,) if event else ())
        problems = []
        record = known[-1][1] if known else None
        if record is None:
            problems.append(_("the trail does not record them as signatory before the signature"))
        else:
            if record.get("user", signatory.user.get_username()) != signatory.user.get_username():
                problems.append(_("the signatory of record is not the person recorded then"))
            if (record.get("fiscal_code") or "") != signatory.fiscal_code:
                problems.append(
                    _("the fiscal code of record (%(now)s) is not the one recorded then (%(then)s)")
                    % {
                        "now": signatory.fiscal_code or "—",
                        "then": record.get("fiscal_code") or "—",
                    }
                )
        if not signatory.authorising_act.strip():
            problems.append(_("no act authorises them to sign"))
        if (signatory.party.organisation_id, signatory.user_id) not in facts.members:
            problems.append(_("they do not act for %(party)s") % {"party": party})
        certificate = (report.get("fiscal_code") or "").upper()
        expected = signatory.fiscal_code.strip().upper()
        if not expected:
            problems.append(_("no fiscal code is recorded to match their certificate against"))
        elif certificate != expected:
            problems.append(
                _("the certificate belongs to fiscal code %(found)s, not %(expected)s")
                % {"found": certificate or "—", "expected": expected}
            )
        values = {
            "name": signatory.full_name,
            "title": signatory.title,
            "party": party,
            "act": signatory.authorising_act or "—",
        }
        if problems:
            evidence.append(
                Evidence(
                    _("%(name)s for %(party)s: %(problems)s.")
                    % {**values, "problems": "; ".join(str(p) for p in problems)},
                    False,
                    seqs,
                    refs=refs,
                )
            )
        else:
            evidence.append(
                Evidence(
                    _(
                        "%(name)s, %(title)s, for %(party)s, authorised by «%(act)s»; the "
                        "certificate's fiscal code %(code)s is theirs."
                    )
                    % {**values, "code": expected},
                    True,
                    seqs,
                    refs=refs,
                )
            )
    return _outcome(
        "signatories",
        evidence,
        passed=_("Every signature is by the authorised representative of its party."),
        failed=_("A signature is not by the authorised representative of its party."),
    )


# 6. Registration ---------------------------------------------------------------------------------


def check_registration(facts: _Facts) -> Check:
    registration = facts.registration
    event = facts.last(A.REGISTERED)
    if registration is None and event is None:
        return _not_applicable(
            "registration",
            _("Not registered yet (state «%(state)s»).")
            % {"state": _state_label(facts.agreement.state)},
        )
    evidence: list[Evidence] = []
    if registration is None or event is None:
        evidence.append(
            Evidence(
                _("The registration and its audit event do not both exist."),
                False,
                (event.seq,) if event else (),
            )
        )
        return _outcome("registration", evidence, passed="", failed=evidence[0].text)
    recorded = facts.payload(event).get("registration", {})
    recorded_hash = (recorded.get("document") or {}).get("sha256", "")
    recorded_at = _moment(recorded.get("registered_at"))
    label = registration.label
    if recorded_hash != registration.document_sha256 or recorded_at != registration.registered_at:
        evidence.append(
            Evidence(
                _(
                    "Registration %(label)s does not hold the impronta and time recorded at "
                    "#%(seq)d."
                )
                % {"label": label, "seq": event.seq},
                False,
                (event.seq,),
                (
                    (_("recorded"), recorded_hash),
                    (_("in the register"), registration.document_sha256),
                ),
                (("registration", label),),
            )
        )
    signature_events = facts.of(A.SIGNATURE_APPLIED)
    last_event = signature_events[-1] if signature_events else None
    completion = facts.last(A.SIGNING_COMPLETED)
    last_signed = max((s.created_at for s in facts.signatures), default=None)
    if last_event is None or last_signed is None:
        evidence.append(
            Evidence(_("The registration has no signature before it."), False, (event.seq,))
        )
    else:
        values = {
            "label": label,
            "seq": event.seq,
            "when": _rome(registration.registered_at),
            "last_seq": last_event.seq,
            "last": _rome(last_signed),
        }
        after_completion = completion is not None and event.seq > completion.seq
        seqs = (last_event.seq, *((completion.seq,) if completion else ()), event.seq)
        if (
            event.seq > last_event.seq
            and after_completion
            and registration.registered_at >= last_signed
        ):
            evidence.append(
                Evidence(
                    _(
                        "Registered as %(label)s at #%(seq)d on %(when)s, after the last signature "
                        "(#%(last_seq)d, %(last)s) and the end of signing."
                    )
                    % values,
                    True,
                    seqs,
                    refs=(("registration", label),),
                )
            )
        else:
            evidence.append(
                Evidence(
                    _(
                        "Registration %(label)s (#%(seq)d, %(when)s) does not come after the last "
                        "signature (#%(last_seq)d, %(last)s) and the end of signing."
                    )
                    % values,
                    False,
                    seqs,
                    refs=(("registration", label),),
                )
            )
    stored = facts.read(registration.document_file)
    rehashed = hashlib.sha256(stored).hexdigest() if stored is not None else ""
    signed = facts.document.current_sha256 if facts.document is not None else ""
    hashes = (
        (_("impronta"), registration.document_sha256),
        (_("stored file re-hashed"), rehashed or "—"),
        (_("signed PDF of the signing record"), signed or "—"),
    )
    if stored is None:
        evidence.append(
            Evidence(_("The registered file is missing from the storage."), False, hashes=hashes)
        )
    elif rehashed != registration.document_sha256 or len(stored) != registration.document_size:
        evidence.append(
            Evidence(
                _("The stored file does not match the impronta: it changed after registration."),
                False,
                hashes=hashes,
            )
        )
    elif signed and signed != registration.document_sha256:
        evidence.append(
            Evidence(
                _("The registered file is not the signed PDF of the agreement."),
                False,
                hashes=hashes,
            )
        )
    else:
        evidence.append(
            Evidence(
                _("The stored file (%(size)d bytes) hashes to the impronta.")
                % {"size": len(stored)},
                True,
                hashes=hashes[:1],
            )
        )
    for attachment in registration.attachments:
        data = facts.read(attachment.get("file", ""))
        found = hashlib.sha256(data).hexdigest() if data is not None else ""
        ok = found == attachment.get("sha256")
        evidence.append(
            Evidence(
                (
                    _("Attachment «%(name)s» hashes to its impronta.")
                    if ok
                    else _("Attachment «%(name)s» is missing or does not match its impronta.")
                )
                % {"name": attachment.get("name", "")},
                ok,
                hashes=((attachment.get("name", ""), attachment.get("sha256", "")),),
            )
        )
    if hasattr(registration, "annulment"):
        evidence.append(
            Evidence(
                _("The registration was annulled on %(when)s: %(reason)s")
                % {
                    "when": _rome(registration.annulment.annulled_at),
                    "reason": registration.annulment.reason,
                },
                None,
            )
        )
    return _outcome(
        "registration",
        evidence,
        passed=_("Registered as %(label)s after the last signature; the impronta matches.")
        % {"label": label},
        failed=_("The registration is out of order or its impronta does not match."),
    )


# 7. Chain ----------------------------------------------------------------------------------------


def _recomputed(event: AuditEvent) -> str:
    return event_hash(
        event.prev_hash,
        canonical_bytes(
            event.seq,
            event.created_at,
            event.actor_id,
            event.actor_username,
            event.actor_role,
            event.action,
            event.object_type,
            event.object_id,
            event.agreement_id,
            event.payload,
            event.documents,
            event.reason,
            event.request_id,
        ),
    )


def check_chain(facts: _Facts) -> Check:
    chain = facts.chain
    evidence: list[Evidence] = []
    if chain.ok:
        evidence.append(
            Evidence(
                _("The whole chain verifies: %(count)d events.") % {"count": chain.count},
                True,
                hashes=((_("head"), chain.head_hash),),
            )
        )
    else:
        evidence.append(
            Evidence(
                _("The chain breaks at event #%(seq)s: %(problem)s")
                % {"seq": chain.first_bad_seq, "problem": chain.problem},
                False,
                (chain.first_bad_seq,) if chain.first_bad_seq else (),
            )
        )
    broken = []
    for event in facts.events:
        linked = facts.previous_hashes.get(event.seq - 1, "0" * 64) == event.prev_hash
        if _recomputed(event) != event.hash or not linked:
            broken.append(event.seq)
    verified = chain.count if chain.ok else (chain.first_bad_seq or 1) - 1
    beyond = [event.seq for event in facts.events if event.seq > verified]
    if broken:
        evidence.append(
            Evidence(
                _("Events of the agreement whose hash does not match their content: %(seqs)s.")
                % {"seqs": ", ".join(f"#{seq}" for seq in broken)},
                False,
                tuple(broken),
            )
        )
    if beyond and chain.ok:
        # Appended after the check began: they belong to the next verification.
        evidence.append(
            Evidence(
                _("%(count)d events came after the verification started.") % {"count": len(beyond)},
                None,
                tuple(beyond),
            )
        )
    elif beyond:
        evidence.append(
            Evidence(
                _("%(count)d events of the agreement lie past the break and are not verified.")
                % {"count": len(beyond)},
                False,
                tuple(beyond),
            )
        )
    if facts.events and not broken:
        first, last = facts.events[0], facts.events[-1]
        evidence.append(
            Evidence(
                _("The agreement's %(count)d events (#%(first)d to #%(last)d) are in the chain.")
                % {"count": len(facts.events), "first": first.seq, "last": last.seq},
                True,
                (first.seq, last.seq),
                ((_("last event"), last.hash),),
            )
        )
    evidence.extend(_inclusion(facts))
    return _outcome(
        "chain",
        evidence,
        passed=_("The audit chain verifies and holds every event of the agreement."),
        failed=_("The audit chain does not verify, or an event of the agreement was altered."),
    )


def _inclusion(facts: _Facts) -> list[Evidence]:
    """Each of the agreement's events that the latest checkpoint covers is proved to be in its
    signed tree (RFC 6962 inclusion proof, audit.checkpoints): the log as stored is the log the
    seal signed."""
    from audit.checkpoints import CheckpointRefused, inclusion_proof

    checkpoint = facts.checkpoint
    if checkpoint is None:
        return [Evidence(_("No checkpoint of the log has been made yet."), None)]
    covered = [event.seq for event in facts.events if event.seq <= checkpoint.tree_size]
    values = {
        "number": checkpoint.number,
        "size": checkpoint.tree_size,
        "count": len(covered),
        "when": _rome(checkpoint.created_at),
    }
    hashes = ((_("Merkle root"), checkpoint.root_hash),)
    if not covered:
        return [
            Evidence(
                _(
                    "Checkpoint #%(number)d (%(when)s, %(size)d events) predates the agreement's "
                    "events: the next checkpoint will cover them."
                )
                % values,
                None,
                hashes=hashes,
            )
        ]
    refused = []
    for seq in covered:
        try:
            inclusion_proof(seq, checkpoint=checkpoint, reader=facts.reader)
        except CheckpointRefused:
            refused.append(seq)
    if refused:
        return [
            Evidence(
                _("Events not in the tree signed by checkpoint #%(number)d: %(seqs)s.")
                % {**values, "seqs": ", ".join(f"#{seq}" for seq in refused)},
                False,
                tuple(refused),
                hashes,
                (("checkpoint", str(checkpoint.number)),),
            )
        ]
    return [
        Evidence(
            _(
                "%(count)d events of the agreement are proved included in checkpoint #%(number)d "
                "(%(when)s, %(size)d events)."
            )
            % values,
            True,
            (covered[0], covered[-1]),
            hashes,
            (("checkpoint", str(checkpoint.number)),),
        )
    ]


# Building reports --------------------------------------------------------------------------------

CHECKERS = (
    check_order,
    check_entitled,
    check_four_eyes,
    check_signatures,
    check_signatories,
    check_registration,
    check_chain,
)


def agreement_report(
    agreement_id: int, *, chain: ChainStatus, checkpoint=None, reader=None
) -> AgreementReport:
    """The checks of one agreement, against the verification ``chain`` of the whole log and the
    ``checkpoint`` its events are proved to be included under (None: no checkpoint yet)."""
    facts = _load(agreement_id, chain, checkpoint, reader)
    agreement = facts.agreement
    return AgreementReport(
        agreement_id=agreement.pk,
        subject=agreement.subject,
        kind=agreement.get_kind_display(),
        state=agreement.state,
        state_label=agreement.get_state_display(),
        legal_officer=agreement.legal_officer.get_full_name()
        or agreement.legal_officer.get_username(),
        checks=tuple(checker(facts) for checker in CHECKERS),
        registration=facts.registration.label if facts.registration is not None else "",
    )


def procedure_report(agreement: Agreement | int) -> ProcedureReport:
    """The report for one agreement."""
    agreement_id = agreement if isinstance(agreement, int) else agreement.pk
    chain = verify_chain()
    return ProcedureReport(
        generated_at=timezone.now(),
        chain=ChainSummary.of(chain),
        agreements=(agreement_report(agreement_id, chain=chain, **_checkpoint()),),
    )


def _checkpoint() -> dict:
    """The latest checkpoint (audit.checkpoints) and one tree reader for all the proofs."""
    from audit import tree
    from audit.checkpoints import latest_checkpoint

    return {"checkpoint": latest_checkpoint(), "reader": tree.TreeReader()}


CONCLUDED = (A.SIGNING_COMPLETED, A.REGISTERED)


def concluded_between(date_from: datetime.date, date_to: datetime.date) -> list[int]:
    """Agreements signed or registered between the two days (Europe/Rome, both included)."""
    start = datetime.datetime.combine(date_from, datetime.time.min, tzinfo=ROME)
    end = datetime.datetime.combine(date_to + datetime.timedelta(days=1), datetime.time.min, ROME)
    return list(
        AuditEvent.objects.filter(
            action__in=[str(action) for action in CONCLUDED],
            created_at__gte=start,
            created_at__lt=end,
            agreement_id__isnull=False,
        )
        .order_by("agreement_id")
        .values_list("agreement_id", flat=True)
        .distinct()
    )


def period_report(date_from: datetime.date, date_to: datetime.date) -> ProcedureReport:
    """The report for every agreement concluded (signed or registered) in the period."""
    chain = verify_chain()
    checkpoint = _checkpoint()
    return ProcedureReport(
        generated_at=timezone.now(),
        chain=ChainSummary.of(chain),
        agreements=tuple(
            agreement_report(pk, chain=chain, **checkpoint)
            for pk in concluded_between(date_from, date_to)
        ),
        date_from=date_from,
        date_to=date_to,
    )


# PDF ---------------------------------------------------------------------------------------------

STATUS_COLOURS = {Status.PASS: "#1b5e20", Status.FAIL: "#b71c1c", Status.NOT_APPLICABLE: "#616161"}


def report_pdf(report: ProcedureReport) -> bytes:
    """The report as a PDF (reportlab), in the active language, times in Europe/Rome."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, PageBreak, Paragraph, Spacer, Table, TableStyle
    from reportlab.platypus.flowables import HRFlowable

    from stipula.pdf import Styles, build, escape, grid

    styles = Styles()
    story: list = [Paragraph("Stipula", styles.title)]
    title = _("Procedure verification report")
    story.append(Paragraph(escape(title), styles.subtitle))
    if report.is_period:
        scope = _("Agreements signed or registered from %(start)s to %(end)s: %(count)d.") % {
            "start": report.date_from.strftime("%d/%m/%Y"),
            "end": report.date_to.strftime("%d/%m/%Y"),
            "count": len(report.agreements),
        }
        story.append(Paragraph(escape(scope), styles.body))
    story.append(
        Paragraph(
            escape(_("Generated on %(time)s") % {"time": _rome(report.generated_at)}),
            styles.small,
        )
    )
    chain = report.chain
    chain_text = (
        _("Audit chain: verified, %(count)d events, head %(head)s.")
        % {"count": chain.count, "head": chain.head_hash}
        if chain.ok
        else _("Audit chain: BROKEN at event #%(seq)s: %(problem)s")
        % {"seq": chain.first_bad_seq, "problem": chain.problem}
    )
    story.append(Paragraph(escape(chain_text), styles.body))
    story.append(HRFlowable(width="100%", color=colors.HexColor("#888888"), spaceBefore=4))
    if report.is_period:
        story.append(Spacer(1, 3 * mm))
        story.append(
            grid(
                [_("No."), _("Subject"), _("State"), _("Outcome"), _("Failed checks")],
                [
                    [
                        str(item.agreement_id),
                        item.subject[:120],
                        item.state_label,
                        item.status_label,
                        ", ".join(check.code for check in item.failed) or "—",
                    ]
                    for item in report.agreements
                ],
                [14 * mm, 70 * mm, 26 * mm, 24 * mm, 40 * mm],
                styles,
            )
        )
        if not report.agreements:
            story.append(
                Paragraph(escape(_("No agreement was concluded in the period.")), styles.body)
            )
    for index, item in enumerate(report.agreements):
        if report.is_period or index:
            story.append(PageBreak())
        story.append(Spacer(1, 3 * mm))
        story.append(
            Paragraph(
                escape(
                    _("Agreement no. %(number)d: %(subject)s")
                    % {"number": item.agreement_id, "subject": item.subject}
                ),
                styles.subtitle,
            )
        )
        facts = [
            f"{_('State')}: {item.state_label}",
            f"{_('Responsible legal officer')}: {item.legal_officer}",
        ]
        if item.registration:
            facts.append(f"{_('Registration')}: {item.registration}")
        facts.append(f"{_('Outcome')}: {item.status_label}")
        story.append(Paragraph(escape(" · ".join(facts)), styles.body))
        for check in item.checks:
            colour = colors.HexColor(STATUS_COLOURS[check.status])
            head = Table(
                [
                    [
                        Paragraph(escape(check.title), styles.heading),
                        Paragraph(
                            f'<font color="{STATUS_COLOURS[check.status]}"><b>'
                            f"{escape(check.status_label)}</b></font>",
                            styles.body,
                        ),
                    ]
                ],
                colWidths=[140 * mm, 34 * mm],
            )
            head.setStyle(
                TableStyle(
                    [
                        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                        ("LINEBEFORE", (0, 0), (0, 0), 3, colour),
                        ("LEFTPADDING", (0, 0), (-1, -1), 4),
                    ]
                )
            )
            block = [head, Paragraph(escape(check.summary), styles.body)]
            for evidence in check.evidence:
                mark = {True: "✓", False: "✗", None: "•"}[evidence.ok]
                detail = evidence.text
                if evidence.events:
                    detail += (
                        "  ["
                        + _("events")
                        + " "
                        + ", ".join(f"#{seq}" for seq in evidence.events)
                        + "]"
                    )
                if evidence.refs:
                    detail += "  [" + ", ".join(f"{k} {v}" for k, v in evidence.refs) + "]"
                block.append(Paragraph(escape(f"{mark} {detail}"), styles.body))
                for label, value in evidence.hashes:
                    block.append(Paragraph(escape(f"{label}: {value}"), styles.mono))
            story.append(Spacer(1, 2 * mm))
            story.append(KeepTogether(block[:4]))
            story.extend(block[4:])
    return build(story, title=title)
