"""Injected faults, read per service from the environment."""

from __future__ import annotations

import time

import pytest

from sagas.demo.faults import Faults, TransientFault


def test_parse_reads_every_knob_and_refuses_unknown_ones():
    faults = Faults.parse(
        "failure_rate=0.1,latency=0.2,slow_rate=0.05,slow_seconds=8,"
        "failure_rate.refund=0.5,outage_every=60,outage_seconds=5"
    )
    assert (faults.failure_rate, faults.latency, faults.slow_rate, faults.slow_seconds) == (
        0.1,
        0.2,
        0.05,
        8,
    )
    assert faults.per_command == {"refund": 0.5} and faults.active
    assert not Faults.parse("").active
    with pytest.raises(ValueError, match="unknown fault 'explode'"):
        Faults.parse("explode=1")
    with pytest.raises(ValueError, match="must be a number"):
        Faults.parse("latency=slow")


def test_failure_rates_apply_per_command():
    faults = Faults.parse("failure_rate=0,failure_rate.refund=1")
    faults.maybe_fail("charge")  # rate 0: never fails
    with pytest.raises(TransientFault, match="refund"):
        faults.maybe_fail("refund")


def test_an_outage_comes_at_the_end_of_each_period():
    faults = Faults.parse("outage_every=10,outage_seconds=2")
    faults.started = time.monotonic()
    assert not faults.down()  # a service starts healthy
    faults.started = time.monotonic() - 9
    assert faults.down()
    faults.started = time.monotonic() - 11
    assert not faults.down()


def test_participants_read_their_faults_from_the_environment(monkeypatch):
    monkeypatch.setenv("SAGASCOPE_FAULTS_PAYMENT", "latency=0.3")
    assert Faults.from_environment("payment").latency == 0.3
    assert not Faults.from_environment("email").active
