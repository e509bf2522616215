"""What an action will do to a saga, in words, found by running the pure state machine on
a copy of the saga's state: the confirmation an operator reads before pressing the button
says exactly what the service layer will then do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sagas.definition import Saga
from sagas.engine import statemachine
from sagas.engine.state import SagaState
from sagas.exceptions import ActionNotAllowed, ReasonRequired, SagaError
from sagas.statuses import Phase, SagaStatus


@dataclass(frozen=True)
class Effect:
    allowed: bool
    text: str  # what it will do, or why it cannot


def step_label(definition: type[Saga], index: int) -> str:
    return f"step {index + 1} ({definition.steps[index].name})"


def _labels(definition: type[Saga], indexes: tuple[int, ...] | list[int]) -> str:
    labels = [step_label(definition, i) for i in indexes]
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def describe(
    definition: type[Saga], state: SagaState, action: str, command: type, now: datetime
) -> Effect:
    """The effect of `action` (its state-machine command class `command`) on `state`."""
    try:
        after = statemachine.apply(definition, state, command(now, "preview", "preview")).state
    except ReasonRequired:
        after = statemachine.apply(definition, state, command(now, "preview", "a reason")).state
    except (ActionNotAllowed, SagaError) as exc:
        return Effect(False, str(exc))
    except (IndexError, KeyError):
        return Effect(False, "the saga's state does not fit its definition any more")
    here = step_label(definition, state.step)
    what = f"the compensation of {here}" if state.phase == Phase.COMPENSATION else here
    if action in ("compensate", "cancel"):
        if not after.plan:
            return Effect(True, "nothing has to be undone: the saga ends compensated at once")
        return Effect(True, f"compensates {_labels(definition, after.plan)}, in reverse order")
    if action in ("retry", "retry_with_input"):
        edit = "replaces the saga's input, then " if action == "retry_with_input" else ""
        warning = ""
        if state.maybe_done and definition.steps[state.step].pivot:
            warning = (
                "; careful: an attempt under the old key may have taken effect, and a refusal "
                "under the new key cannot rule that out, so the saga could not compensate "
                "(resume asks under the old key instead)"
            )
        return Effect(
            True,
            f"{edit}runs {what} again with a new idempotency key "
            f"(generation {after.generation}: the participant treats it as new work){warning}",
        )
    if action == "resume":
        return Effect(
            True,
            f"runs {what} again with the same idempotency key (generation "
            f"{after.generation}: a participant that did it already answers from its inbox)",
        )
    if action == "skip":
        done = "compensated" if state.phase == Phase.COMPENSATION else "done"
        return Effect(True, f"marks {what} as {done} by hand, then {_next(definition, after)}")
    return Effect(True, f"applies {action}")


def _next(definition: type[Saga], after: SagaState) -> str:
    if after.status == SagaStatus.COMPLETED:
        return "the saga is completed"
    if after.status == SagaStatus.COMPENSATED:
        return "the saga is compensated"
    if after.phase == Phase.COMPENSATION:
        return f"compensates {_labels(definition, after.plan)}, in reverse order"
    return f"continues with {step_label(definition, after.step)}"
