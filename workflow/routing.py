"""What the flow's gateways and task nodes ask while the process moves: who owns a task, which
tasks a split creates, which way a switch goes. Gateways read the agreement's state, which the
service has already changed: the state machine decides, the process follows.

The functions read the agreement the engine attached to the process (the caller's locked row)
and cache what one move needs on the process object, so a move reads each thing once.
"""

from django.contrib.auth import get_user_model
from viewflow.workflow.status import STATUS

from agreements.models import AgreementState, Signatory
from workflow.models import AgreementWorkflow, Reviewer, SigningOrder

S = AgreementState


def _cache(process) -> dict:
    return process.__dict__.setdefault("_cache", {})


def _users(process) -> dict:
    return _cache(process).setdefault("users", {})


def remember_users(process, users) -> None:
    _users(process).update({user.pk: user for user in users})


# Owners ------------------------------------------------------------------------------------


def legal_officer(activation):
    agreement = activation.process.agreement
    officer = agreement.legal_officer
    _users(activation.process)[officer.pk] = officer
    return officer


def task_user(activation):
    """The user a split named in the task's data (a reviewer, a signatory), or nobody: a task
    without an owner is claimed by someone with the role in ``data["role"]``."""
    user_id = activation.task.data.get("user")
    if user_id is None:
        return None
    users = _users(activation.process)
    if user_id not in users:
        users[user_id] = get_user_model().objects.get(pk=user_id)
    return users[user_id]


# Gateways ----------------------------------------------------------------------------------


def in_state(*states):
    def condition(activation) -> bool:
        return activation.process.agreement.state in states

    condition.__name__ = "in_" + "_or_".join(states)
    return condition


def was_declined(activation) -> bool:
    return bool(activation.process.data.get("declined"))


def has_more_to_sign(activation) -> bool:
    return bool(pending_signatories(activation.process))


# Splits ------------------------------------------------------------------------------------


def review_assignments(activation):
    """One review task per named reviewer; with none named, one task any independent reviewer
    can claim. Each review round (one per submission for review) is numbered."""
    process = activation.process
    round_ = process.data.get("review_round", 0) + 1
    process.data["review_round"] = round_
    process.save(update_fields=["data"])
    reviewers = list(
        Reviewer.objects.filter(agreement_id=process.agreement.pk)
        .select_related("user")
        .order_by("named_at", "pk")
    )
    if not reviewers:
        return [({"user": None, "role": "reviewer", "round": round_}, None)]
    remember_users(process, [r.user for r in reviewers])
    return [({"user": r.user_id, "reviewer": r.pk, "round": round_}, r) for r in reviewers]


def signing_turn(activation):
    """One signing task per signatory of the first stage with someone still to sign."""
    process = activation.process
    pending = pending_signatories(process)
    _cache(process).pop("pending", None)
    round_ = process.data.get("signing_round", 1)
    remember_users(process, [s.user for s in pending])
    return [
        (
            {
                "user": s.user_id,
                "signatory": s.pk,
                "name": s.full_name,
                "party": s.party.organisation.name,
                "stage": s._stage,
                "round": round_,
            },
            s,
        )
        for s in pending
    ]


def signing_stages(agreement, config: AgreementWorkflow | None) -> list[list[Signatory]]:
    """The required signatories in signing order: a list of stages, each signed in parallel.

    Parallel: one stage. Sequential: one signatory per stage, in party order (then the order of
    the signatories within their party). Staged: the configured groups of parties, in order;
    parties in no group sign last, together.
    """
    signatories = list(
        Signatory.objects.filter(party__agreement_id=agreement.pk, required=True)
        .select_related("party__organisation", "user")
        .order_by("party__position", "position", "pk")
    )
    order = config.signing_order if config is not None else SigningOrder.PARALLEL
    if order == SigningOrder.SEQUENTIAL:
        return [[s] for s in signatories]
    if order == SigningOrder.STAGED and config.signing_stages:
        stage_of = {
            party_id: index
            for index, parties in enumerate(config.signing_stages)
            for party_id in parties
        }
        last = len(config.signing_stages)
        stages = [[] for _ in range(last + 1)]
        for s in signatories:
            stages[stage_of.get(s.party_id, last)].append(s)
        return [stage for stage in stages if stage]
    return [signatories] if signatories else []


def signed_in_round(process) -> set[int]:
    """Signatories whose signing task of the current round is done (signed, not declined)."""
    from workflow.flows import AgreementFlow

    round_ = process.data.get("signing_round", 1)
    rows = process.task_set.filter(flow_task=AgreementFlow.sign, status=STATUS.DONE).values_list(
        "seed_object_id", "data"
    )
    return {
        seed
        for seed, data in rows
        if data.get("round") == round_ and data.get("outcome") == "signed"
    }


def pending_signatories(process) -> list[Signatory]:
    """The signatories of the first stage that still has someone to sign, each marked with its
    stage number (``_stage``, from 1); empty when everyone has signed."""
    cache = _cache(process)
    if "pending" in cache:
        return cache["pending"]
    from signing.models import Signature, latest_indication

    agreement = process.agreement
    config = AgreementWorkflow.objects.filter(agreement_id=agreement.pk).first()
    done = signed_in_round(process)
    if process.data.get("late_start"):
        # Signatures made before the process existed count too; otherwise a signing task done
        # is what counts (a PASSED signature completes it in the same transaction).
        done |= set(
            Signature.objects.filter(signatory__party__agreement_id=agreement.pk)
            .annotate(current=latest_indication())
            .filter(current=Signature.Indication.PASSED)
            .values_list("signatory_id", flat=True)
        )
    pending = []
    for number, stage in enumerate(signing_stages(agreement, config), start=1):
        pending = [s for s in stage if s.pk not in done]
        if pending:
            for s in pending:
                s._stage = number
            break
    cache["pending"] = pending
    return pending
