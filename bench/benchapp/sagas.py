"""The benchmark's saga: four trivial local steps, the shape bench/throughput.py measures."""

from __future__ import annotations

from sagas.definition import Retry, Saga, Step, StepContext


def bump(ctx: StepContext) -> dict[str, int]:
    return {"n": int(ctx.input.get("n", 0)) + 1}


class TrivialSaga(Saga):
    name = "bench_trivial"
    steps = [Step(f"step{i}", action=bump, compensation=bump) for i in range(1, 4)] + [
        Step("step4", action=bump, pivot=True)
    ]


def pay(ctx: StepContext) -> dict[str, str]:
    # bench/alert_latency.py's outage: the payment service is down for every order.
    raise ConnectionError(f"payment service down: order {ctx.input.get('n', 0)} not charged")


class OutageSaga(Saga):
    """Fails after its pivot for one cause (payment down), so each saga needs an operator."""

    name = "bench_outage"
    steps = [
        Step("reserve", action=bump, pivot=True),
        Step("pay", action=pay, retriable=True, retry=Retry(max_attempts=2, backoff=0.01)),
    ]
