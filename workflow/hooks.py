"""Where the agreement and signing services tell the process what happened, and ask it whose turn
it is. Each hook runs inside the calling service's transaction, so a task and the transition it
stands for commit together or not at all (issue 5).

Until the process is built these do nothing: every signatory may sign at any time.
"""


def agreement_transitioned(*, agreement, name: str, actor, event) -> None:
    """After the transition ``name`` of ``agreement`` (locked) and its audit ``event``."""


def signing_turn_error(*, agreement, signatory) -> str | None:
    """Why ``signatory`` may not sign ``agreement`` now (the signing order), or None."""
    return None


def signature_recorded(*, agreement, signature, actor) -> None:
    """After a signature of ``agreement`` (locked) was recorded, PASSED or INDETERMINATE."""


def signature_validated(*, agreement, signature, validation, actor) -> None:
    """After a pending signature of ``agreement`` (locked) was validated again."""
