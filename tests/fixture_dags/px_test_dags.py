"""DAGs the dag_run tests trigger on a real local Airflow: one succeeds, one fails, one is slow."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from airflow.sdk import dag, task


@dag(dag_id="px-test-ok", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False)
def ok():
    @task
    def hello(params: dict | None = None) -> str:
        print("hello from px-test-ok")
        return "ok"

    hello()


@dag(dag_id="px-test-fail", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False)
def fail():
    @task(retries=0)
    def boom() -> None:
        print("about to fail: px-marker-7d1f")
        raise RuntimeError("the px-test-fail task failed on purpose")

    boom()


@dag(dag_id="px-test-slow", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False)
def slow():
    @task
    def wait() -> None:
        time.sleep(120)

    wait()


@dag(dag_id="px-test-paused", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False)
def paused():
    @task
    def never() -> None:
        print("never runs: no test unpauses this DAG")

    never()


ok()
fail()
slow()
paused()
