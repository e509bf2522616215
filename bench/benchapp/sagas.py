"""The benchmark's saga: four trivial local steps, the shape bench/throughput.py measures."""

from __future__ import annotations

from sagas.definition import Saga, Step, StepContext


def bump(ctx: StepContext) -> dict[str, int]:
    return {"n": int(ctx.input.get("n", 0)) + 1}


class TrivialSaga(Saga):
    name = "bench_trivial"
    steps = [Step(f"step{i}", action=bump, compensation=bump) for i in range(1, 4)] + [
        Step("step4", action=bump, pivot=True)
    ]
