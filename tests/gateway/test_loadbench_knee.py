"""``fieldcheck bench load``'s verdicts: the knee is a rate the gateway sustains, and the
overload check reads the step at twice it."""

from __future__ import annotations

from gateway.loadbench import knee_of, overload_verdict


def step(rate: float, p95_ms: float, *, sent: int = 60, answered: int | None = None,
         refused: int = 0, rejections: int | None = None) -> dict:
    return {"offered_per_s": rate, "sent": sent, "answered": sent if answered is None else answered,
            "admitted_p95_ms": p95_ms, "checks_rejected_at_least_once": refused,
            "rejections_503": refused if rejections is None else rejections}


def test_the_knee_is_the_last_step_of_the_unbroken_run_within_target() -> None:
    steps = [step(0.4, 1200), step(0.6, 1700), step(0.8, 2300), step(1.2, 1900, refused=3)]
    # 1.2/s is within 2 s again, but only after 0.8/s broke it: not a sustained rate
    assert knee_of(steps, 2.0) == 0.6
    assert knee_of(steps[::-1], 2.0) == 0.6  # read by rate, not in the order given
    assert knee_of([], 2.0) is None


def test_the_knee_bounds_are_inclusive() -> None:
    # exactly 2 s, exactly 90% answered, exactly 10% refused: still sustained
    assert knee_of([step(0.5, 2000, sent=50, answered=45, refused=5)], 2.0) == 0.5
    assert knee_of([step(0.5, 2001)], 2.0) is None
    assert knee_of([step(0.5, 900, sent=50, answered=44)], 2.0) is None
    assert knee_of([step(0.5, 900, sent=50, refused=6)], 2.0) is None
    assert knee_of([step(0.5, float("nan"), sent=0)], 2.0) is None  # a step that sent nothing


def test_a_step_carried_by_refusing_checks_is_not_sustained() -> None:
    # admission keeps the admitted few fast by refusing many: fast, but not carried
    steps = [step(0.5, 1100, refused=2), step(1.0, 1800, refused=20)]
    assert knee_of(steps, 2.0) == 0.5


def test_a_step_that_answers_too_few_is_not_sustained() -> None:
    assert knee_of([step(0.5, 900, answered=50)], 2.0) is None
    assert knee_of([step(0.5, 2100)], 2.0) is None


def test_the_overload_verdict_reads_the_first_step_at_twice_the_knee() -> None:
    steps = [step(0.4, 1200), step(0.6, 1700), step(1.0, 2600, refused=5),
             step(1.2, 2800, refused=12, rejections=30), step(2.0, 3200, refused=40)]
    verdict = overload_verdict(steps, knee_of(steps, 2.0), 3.0)
    assert verdict is not None
    assert verdict["offered_per_s"] == 1.2 and verdict["times_knee"] == 2.0
    assert verdict["rejections_503"] == 30 and verdict["within_target"] is True
    assert verdict["all_steps_beyond_within_target"] is False  # 2.0/s: 3.2 s
    assert overload_verdict(steps[:3], 0.6, 3.0) is None  # no step reached twice the knee
    assert overload_verdict(steps[::-1], 0.6, 3.0) == verdict
    # nothing admitted at twice the knee (p95 of nothing): not within the target
    empty = overload_verdict([step(0.5, 900), step(1.0, float("nan"), refused=60)], 0.5, 3.0)
    assert empty is not None and empty["within_target"] is False
    assert overload_verdict(steps, None, 3.0) is None


def test_bench_load_refuses_rates_it_could_not_offer() -> None:
    # a rate of 0 crashed the arrival loop, a negative one made it spin for ever
    from typer.testing import CliRunner

    from gateway.cli import app

    for rates in ("0", "1,-2", ","):
        result = CliRunner().invoke(app, ["bench", "load", "--rates", rates])
        assert result.exit_code == 2, (rates, result.output)
        assert "--rates must be checks per second above 0" in result.output


def test_a_step_counts_refusals_at_capacity_apart_from_faults() -> None:
    from gateway.loadbench import _Sent, _step_report
    from simulator.devices import CheckRecord, PlannedCheck

    def record(status: str, *, log: list[str], refusals: int = 0, latency: float | None = None,
               http: int = 200) -> CheckRecord:
        plan = PlannedCheck(seq=0, device="D", person_index=0, expected_subject=None,
                            modality="face", quality="good", fingers=[], face=b"", mrz=None,
                            captured_t=1.0)
        return CheckRecord(plan, status=status, attempt_log=log, refusals=refusals,
                           latency_ms=latency, acked_t=None if latency is None else 3.0,
                           http_status=http)

    sent = [
        _Sent(0, "face", record("acknowledged", log=["1.0s HTTP 503 at capacity"] * 2,
                                refusals=2, latency=800.0)),
        _Sent(0, "face", record("acknowledged", log=["1.0s HTTP 503", "2.0s timeout"],
                                latency=900.0)),
        _Sent(0, "face", record("error", log=[], http=422)),
        _Sent(0, "face", record("lost", log=["1.0s HTTP 503 at capacity"], refusals=1)),
        _Sent(1, "face", record("acknowledged", log=[], latency=100.0)),
    ]
    step = _step_report(0, 0.5, sent, 60.0)
    assert step["sent"] == 4 and step["answered"] == 3  # the lost one is not answered
    assert step["rejections_503"] == 3 and step["checks_rejected_at_least_once"] == 2
    assert step["errors"] == 3  # the database-busy 503, the timeout, the 422 answer
    assert step["error_statuses"] == {"HTTP 503": 1, "timeout": 1, "HTTP 422": 1}
    assert step["admitted_p50_ms"] == 850.0  # of the two acknowledged: 800 and 900 ms
    assert step["end_to_end_p95_ms"] == 2000.0  # captured at 1 s, answered at 3 s
