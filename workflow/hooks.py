"""Where the agreement and signing services tell the process what happened, and ask it whose turn
it is. Each hook runs inside the calling service's transaction, with the agreement row locked, so
a task and the transition it stands for commit together or not at all (issue 5).

The work is in workflow.engine; an agreement without a process (one that predates the workflow,
with STIPULA_WORKFLOW_AUTOSTART off) follows the plain lifecycle: every signatory may sign at any
time. Imports are local: agreements.services imports this module while it loads.
"""


def agreement_created(*, agreement, actor, event=None) -> None:
    """After ``agreement`` was created (its row written, in the creating transaction): start its
    process with the drafting task for the responsible legal officer."""
    from django.conf import settings

    from workflow import engine

    if settings.STIPULA_WORKFLOW_AUTOSTART:
        engine.start_process(agreement, actor)


def agreement_transitioned(*, agreement, name: str, actor, event=None) -> bool:
    """After the transition ``name`` of ``agreement`` (locked) and its audit ``event``: move its
    process. Returns whether the agreement has a process (its people then hear of their tasks
    from the tasks' own e-mail)."""
    from workflow import engine

    return engine.on_transition(agreement=agreement, name=name, actor=actor)


def signing_turn_error(*, agreement, signatory) -> str | None:
    """Why ``signatory`` may not sign ``agreement`` now (the signing order), or None."""
    from workflow import engine

    return engine.turn_error(agreement, signatory)


def signature_recorded(*, agreement, signature, actor) -> None:
    """After a signature of ``agreement`` (locked) was recorded, PASSED or INDETERMINATE."""
    from workflow import engine

    engine.on_signature(
        agreement=agreement,
        signatory_id=signature.signatory_id,
        indication=signature.indication,
        actor=actor,
        signature_id=signature.pk,
    )


def signature_validated(*, agreement, signature, validation, actor) -> None:
    """After a pending signature of ``agreement`` (locked) was validated again."""
    from workflow import engine

    engine.on_signature(
        agreement=agreement,
        signatory_id=signature.signatory_id,
        indication=validation.indication,
        actor=actor,
        signature_id=signature.pk,
    )
