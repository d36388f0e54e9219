"""Jobs: pods to completion, failure accounting, terminal conditions (pkg/controller/job/job_controller.go).

- Pods come from the template (`<job>-<random>`, or `<job>-<index>-<random>` when Indexed), owned
  by the Job, with the batch.kubernetes.io/job-tracking finalizer: a finished pod is first listed
  in status.uncountedTerminatedPods, then loses the finalizer, then is counted in
  status.succeeded/failed, so deleting a pod never loses its result.
- Up to `parallelism` pods run until `completions` succeeded; a failed pod is replaced (after the
  "backoff" delay of `--delays`, doubling per failure) until more than `backoffLimit` failed (for
  restartPolicy OnFailure, container restarts count too).
- Terminal conditions (1.31+, JobManagedBy/JobPodReplacementPolicy): SuccessCriteriaMet then Complete
  (reason CompletionsReached), FailureTarget then Failed (reason BackoffLimitExceeded or
  DeadlineExceeded), the terminal one only once no pod is left running. 1.30 sets Complete / Failed
  directly. Events Completed, BackoffLimitExceeded, DeadlineExceeded, SuccessfulCreate,
  SuccessfulDelete; status.startTime, completionTime, active, ready, terminating.
- suspend, activeDeadlineSeconds and ttlSecondsAfterFinished are honoured.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import ApiError
from ..store import Obj, clone
from .base import (
    JOBS,
    PODS,
    Key,
    OwnerController,
    condition_true,
    meta,
    now_rfc3339,
    owned_by,
    parse_time,
    set_condition,
    spec,
    status,
)
from .events import NORMAL, WARNING
from .pods import pod_from_template, pod_ready

COMPONENT = "job-controller"
TRACKING = "batch.kubernetes.io/job-tracking"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
BACKOFF_MAX = 360.0  # DefaultJobPodFailureBackOff doubles up to MaxJobPodFailureBackOff (6 min)
TERMINAL = ("Succeeded", "Failed")


def finished(job: Obj) -> bool:
    return condition_true(job, "Complete") or condition_true(job, "Failed")


def format_indexes(indexes: set[int]) -> str:
    """status.completedIndexes: "1,3-5,7" (intervals of consecutive indexes)."""
    out: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def pod_index(pod: Obj) -> int | None:
    try:
        return int((meta(pod).get("annotations") or {}).get(INDEX_ANNOTATION, ""))
    except ValueError:
        return None


class JobController(OwnerController):
    name = "jobs"
    owner_key, owner_kind, owned_key = JOBS, "Job", PODS

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._not_before: dict[str, float] = {}  # "<job uid>/<failures>" -> when failed pods may be replaced
        self._create_failures: dict[str, tuple[int, float]] = {}  # job uid -> (refused creates, retry time)

    def reconcile(self, key: Key) -> float | None:
        ns, name = key
        job = self.client.get(JOBS, ns, name)
        if job is None or meta(job).get("deletionTimestamp"):
            self._release_orphans(ns, name, job)
            return None
        pods = self.client.owned(job, PODS)
        job = self._account(job, pods)
        pods = self.client.owned(job, PODS)
        if finished(job):
            self._release(pods)
            return self._ttl(job)
        if spec(job).get("suspend"):
            return self._suspend(job, pods)
        return self._run(job, pods)

    # ---- accounting -----------------------------------------------------------------------------------
    def _account(self, job: Obj, pods: list[Obj]) -> Obj:
        """Count finished pods exactly once, through status.uncountedTerminatedPods."""
        st = status(job)
        uncounted = st.get("uncountedTerminatedPods") or {}
        listed = set(uncounted.get("succeeded") or []) | set(uncounted.get("failed") or [])
        fresh = [
            p
            for p in pods
            if TRACKING in (meta(p).get("finalizers") or [])
            and status(p).get("phase") in TERMINAL
            and meta(p)["uid"] not in listed
        ]
        if fresh:
            new_uncounted = {k: list(v) for k, v in uncounted.items()}
            for pod in fresh:
                bucket = "succeeded" if status(pod).get("phase") == "Succeeded" else "failed"
                new_uncounted.setdefault(bucket, []).append(meta(pod)["uid"])
            job = self._write(job, {**st, "uncountedTerminatedPods": new_uncounted})
            uncounted, st = new_uncounted, status(job)
        if not any(uncounted.values()):
            return job
        by_uid = {meta(p)["uid"]: p for p in pods}
        for uid in [u for v in uncounted.values() for u in v]:
            pod = by_uid.get(uid)
            if pod is not None and TRACKING in (meta(pod).get("finalizers") or []):
                self._drop_finalizer(pod)
        succeeded = [by_uid[u] for u in uncounted.get("succeeded") or [] if u in by_uid]
        indexes = self._completed_indexes(job) | {i for i in (pod_index(p) for p in succeeded) if i is not None}
        counts = {
            "succeeded": st.get("succeeded", 0) + len(uncounted.get("succeeded") or []),
            "failed": st.get("failed", 0) + len(uncounted.get("failed") or []),
        }
        new_status = {**st, **{k: v for k, v in counts.items() if v}, "uncountedTerminatedPods": {}}
        if spec(job).get("completionMode") == "Indexed":
            new_status["completedIndexes"] = format_indexes(indexes)
        return self._write(job, new_status)

    def _completed_indexes(self, job: Obj) -> set[int]:
        out: set[int] = set()
        for part in (status(job).get("completedIndexes") or "").split(","):
            if "-" in part:
                low, high = part.split("-", 1)
                out.update(range(int(low), int(high) + 1))
            elif part:
                out.add(int(part))
        return out

    def _drop_finalizer(self, pod: Obj) -> None:
        current = self.client.get(PODS, meta(pod)["namespace"], meta(pod)["name"])
        if current is None or TRACKING not in (meta(current).get("finalizers") or []):
            return
        updated = clone(current)
        updated["metadata"]["finalizers"] = [f for f in meta(current)["finalizers"] if f != TRACKING]
        self.client.update(updated)

    def _release(self, pods: list[Obj]) -> None:
        for pod in pods:
            if TRACKING in (meta(pod).get("finalizers") or []) and (
                status(pod).get("phase") in TERMINAL or meta(pod).get("deletionTimestamp")
            ):
                self._drop_finalizer(pod)

    def _release_orphans(self, ns: str, name: str, job: Obj | None) -> None:
        """A deleted Job's pods lose the tracking finalizer (the garbage collector does the rest)."""
        for pod in self.client.list(PODS, ns):
            if owned_by(pod, "Job") == name and TRACKING in (meta(pod).get("finalizers") or []):
                owner_uid = next(r.get("uid") for r in meta(pod)["ownerReferences"] if r.get("controller"))
                if job is None or meta(job)["uid"] == owner_uid:
                    self._drop_finalizer(pod)

    # ---- running ----------------------------------------------------------------------------------------
    def _run(self, job: Obj, pods: list[Obj]) -> float | None:
        js, st = spec(job), status(job)
        if not st.get("startTime"):
            job = self._write(job, {**st, "startTime": now_rfc3339()})
            st = status(job)
        active = [p for p in pods if status(p).get("phase") not in TERMINAL and not meta(p).get("deletionTimestamp")]
        verdict = self._verdict(job, pods, active)
        if verdict is not None:
            return self._finish(job, pods, active, *verdict)
        retry = self._create_pods(job, active)
        job = self.client.get(JOBS, meta(job)["namespace"], meta(job)["name"]) or job
        pods = self.client.owned(job, PODS)
        self._write(job, self._live_counts(job, pods))
        deadline = js.get("activeDeadlineSeconds")
        if deadline:
            left = (parse_time(status(job).get("startTime")) or time.time()) + deadline - time.time()
            retry = min(retry, left + 0.05) if retry is not None else left + 0.05
        return retry

    def _verdict(self, job: Obj, pods: list[Obj], active: list[Obj]) -> tuple[bool, str, str] | None:
        """(succeeded?, reason, message) when the Job is done, else None."""
        js, st = spec(job), status(job)
        if condition_true(job, "FailureTarget"):
            c = next(c for c in st["conditions"] if c["type"] == "FailureTarget")
            return False, c.get("reason", ""), c.get("message", "")
        if condition_true(job, "SuccessCriteriaMet"):
            return True, "CompletionsReached", "Reached expected number of succeeded pods"
        failed = st.get("failed", 0)
        if js.get("template", {}).get("spec", {}).get("restartPolicy") == "OnFailure":
            failed += sum(cs.get("restartCount", 0) for p in active for cs in status(p).get("containerStatuses") or [])
        if failed > js.get("backoffLimit", 6):
            return False, "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        deadline = js.get("activeDeadlineSeconds")
        started = parse_time(st.get("startTime"))
        if deadline and started is not None and time.time() >= started + deadline:
            return False, "DeadlineExceeded", "Job was active longer than specified deadline"
        succeeded = st.get("succeeded", 0)
        completions = js.get("completions")
        if completions is not None:
            if js.get("completionMode") == "Indexed":
                done = len(self._completed_indexes(job)) >= completions
            else:
                done = succeeded >= completions
        else:
            done = succeeded > 0 and not active  # a work queue: done when one succeeded and the rest ended
        if done:
            return True, "CompletionsReached", "Reached expected number of succeeded pods"
        return None

    def _create_pods(self, job: Obj, active: list[Obj]) -> float | None:
        js, st = spec(job), status(job)
        parallelism = js.get("parallelism", 1)
        completions = js.get("completions")
        indexed = js.get("completionMode") == "Indexed"
        if indexed:
            running = {pod_index(p) for p in active}
            todo = [i for i in range(completions or 0) if i not in self._completed_indexes(job) and i not in running]
            wanted = todo[: max(parallelism - len(active), 0)]
        else:
            remaining = parallelism if completions is None else min(parallelism, completions - st.get("succeeded", 0))
            wanted = [None] * max(remaining - len(active), 0)
        if not wanted:
            return None
        wait = self._backoff(job)
        if wait:
            return wait
        uid = meta(job)["uid"]
        if self._create_failures.get(uid, (0, 0.0))[1] > time.monotonic():
            return self._create_failures[uid][1] - time.monotonic()  # backing off after a refused create
        for index in wanted:
            if not self._create_pod(job, index):
                failures = self._create_failures.get(uid, (0, 0.0))[0]
                delay = min(2 ** min(failures, 6), 60)
                self._create_failures[uid] = (failures + 1, time.monotonic() + delay)
                return delay
        self._create_failures.pop(uid, None)
        return None

    def _backoff(self, job: Obj) -> float:
        """Seconds to wait before replacing failed pods: base * 2^(failures-1), at most 6 minutes."""
        failed = status(job).get("failed", 0)
        base = self.ctx.delays.lookup("backoff", [("Job", meta(job)["name"])])
        if not failed or base <= 0:
            return 0.0
        uid = meta(job)["uid"]
        key = f"{uid}/{failed}"
        due = self._not_before.setdefault(key, time.monotonic() + min(base * 2 ** (failed - 1), BACKOFF_MAX))
        return max(due - time.monotonic(), 0.0)

    def _create_pod(self, job: Obj, index: int | None) -> bool:
        template = clone(spec(job).get("template") or {})
        name = meta(job)["name"]
        labels: dict[str, str] = {}
        annotations: dict[str, str] = {}
        generate = f"{name}-"
        if index is not None:
            annotations[INDEX_ANNOTATION] = str(index)
            labels[INDEX_ANNOTATION] = str(index)
            generate = f"{name}-{index}-"
            pod_spec = template.setdefault("spec", {})
            pod_spec.setdefault("hostname", f"{name}-{index}")
            for container in pod_spec.get("containers") or []:
                env = [e for e in container.get("env") or [] if e.get("name") != "JOB_COMPLETION_INDEX"]
                env.append(
                    {
                        "name": "JOB_COMPLETION_INDEX",
                        "valueFrom": {
                            "fieldRef": {"apiVersion": "v1", "fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}
                        },
                    }
                )
                container["env"] = env
        pod = pod_from_template(
            job, template, generate_name=generate, labels=labels, annotations=annotations, finalizers=[TRACKING]
        )
        try:
            created = self.client.create(pod)
        except ApiError as e:
            self.ctx.recorder.event(job, WARNING, "FailedCreate", f"Error creating: {e.message}", COMPONENT)
            return False
        self.ctx.recorder.event(
            job, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}", COMPONENT
        )
        return True

    def _live_counts(self, job: Obj, pods: list[Obj]) -> dict[str, Any]:
        st = dict(status(job))
        active = [p for p in pods if status(p).get("phase") not in TERMINAL and not meta(p).get("deletionTimestamp")]
        if active:
            st["active"] = len(active)
        else:
            st.pop("active", None)
        if self.client.minor >= 29:
            st["ready"] = sum(1 for p in active if pod_ready(p))
            st["terminating"] = sum(
                1 for p in pods if meta(p).get("deletionTimestamp") and status(p).get("phase") not in TERMINAL
            )
        st.setdefault("uncountedTerminatedPods", {})
        return st

    # ---- finishing ----------------------------------------------------------------------------------------
    def _finish(
        self, job: Obj, pods: list[Obj], active: list[Obj], success: bool, reason: str, message: str
    ) -> float | None:
        now = now_rfc3339()
        st = dict(status(job))
        conditions = list(st.get("conditions") or [])
        interim = "SuccessCriteriaMet" if success else "FailureTarget"
        delayed = self.client.minor >= 31
        if delayed and not condition_true(job, interim):
            conditions = set_condition(conditions, interim, "True", reason, message, now=now, probe_time=True)
            job = self._write(job, {**st, "conditions": _probe(conditions, now)})
            st = dict(status(job))
        for pod in active:
            if not meta(pod).get("deletionTimestamp"):
                self.client.delete(pod)
                self.ctx.recorder.event(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}", COMPONENT)
        pods = self.client.owned(job, PODS)
        if delayed and any(status(p).get("phase") not in TERMINAL for p in pods):
            self._write(job, self._live_counts(job, pods))
            return None  # the terminal condition waits for the pods to stop
        terminal = "Complete" if success else "Failed"
        if success and not delayed:
            conditions = set_condition(conditions, terminal, "True", now=now, probe_time=True)  # 1.30: no reason
        else:
            conditions = set_condition(conditions, terminal, "True", reason, message, now=now, probe_time=True)
        st = self._live_counts(job, pods)
        st["conditions"] = _probe(conditions, now)
        if success:
            st["completionTime"] = now
        self._write(job, st)
        if success:
            self.ctx.recorder.event(job, NORMAL, "Completed", "Job completed", COMPONENT)
        else:
            self.ctx.recorder.event(job, WARNING, reason, message, COMPONENT)
        return self._ttl(self.client.get(JOBS, meta(job)["namespace"], meta(job)["name"]) or job)

    def _ttl(self, job: Obj) -> float | None:
        """ttlSecondsAfterFinished: the TTL-after-finished controller deletes the Job (and its pods)."""
        ttl = spec(job).get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        ended = next(
            (
                parse_time(c.get("lastTransitionTime"))
                for c in status(job).get("conditions") or []
                if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            ),
            None,
        )
        if ended is None:
            return None
        left = ended + ttl - time.time()
        if left > 0:
            return left + 0.05
        self.client.delete(job, propagation="Background")
        return None

    def _suspend(self, job: Obj, pods: list[Obj]) -> float | None:
        for pod in pods:
            if status(pod).get("phase") not in TERMINAL and not meta(pod).get("deletionTimestamp"):
                self.client.delete(pod)
                self.ctx.recorder.event(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}", COMPONENT)
        if not condition_true(job, "Suspended"):
            st = dict(status(job))
            st["conditions"] = _probe(
                set_condition(
                    list(st.get("conditions") or []),
                    "Suspended",
                    "True",
                    "JobSuspended",
                    "Job suspended",
                    probe_time=True,
                ),
                now_rfc3339(),
            )
            st.pop("startTime", None)
            self._write(job, st)
            self.ctx.recorder.event(job, NORMAL, "Suspended", "Job suspended", COMPONENT)
        return None

    def _write(self, job: Obj, new_status: dict[str, Any]) -> Obj:
        if condition_true(job, "Suspended") and not spec(job).get("suspend"):
            new_status["conditions"] = _probe(
                set_condition(
                    list(new_status.get("conditions") or []),
                    "Suspended",
                    "False",
                    "JobResumed",
                    "Job resumed",
                    probe_time=True,
                ),
                now_rfc3339(),
            )
            self.ctx.recorder.event(job, NORMAL, "Resumed", "Job resumed", COMPONENT)
        if new_status == status(job):
            return job
        updated = clone(job)
        updated["status"] = new_status
        return self.client.update_status(updated)


def _probe(conditions: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """Job conditions carry lastProbeTime (set with the transition, as newCondition does)."""
    out = []
    for c in conditions:
        if c.get("lastProbeTime") is None:
            c = {**c, "lastProbeTime": c.get("lastTransitionTime", now)}
        out.append(c)
    return out
