"""`--faults FILE`: reproducible failures, as a real cluster shows them, for tests of retry and error paths.

The file (YAML or JSON) is re-read whenever it changes (its mtime is polled), so a test can break
something and heal it mid-run (rewrite it atomically: write elsewhere, then rename). An invalid
rewrite is reported and the previous rules stay; a deleted file means no rules.

    seed: 7                        # seeds the `probability` draws (one generator per rule)
    requests:                      # API requests that fail; the first rule that matches and fires answers
      - id: throttle-pod-lists     # optional; shown in the request log ("fault") and on stdout
        method: GET                # HTTP method(s), a string or a list
        path: /api/v1/namespaces/*/pods   # glob over the URL path (fnmatch: * also crosses /)
        pathRegex: ^/apis/apps/    # or a regular expression (searched)
        verb: list                 # get list watch create update patch delete deletecollection
        resource: pods             # plural, or plural/subresource (pods/log, services/proxy)
        namespace: demo            # glob
        name: web-*                # glob
        count: 3                   # only the first 3 matching requests
        probability: 0.5           # a matching request fails with this probability
        error: 429                 # 429 | 409 | 500 | 503 | drop (close the connection, no answer)
        retryAfter: 2              # 429 (default 1), 503 (default none): Retry-After and details.retryAfterSeconds
        latency: 1.5               # seconds before answering (alone, or before the error)
        message: text              # the Status message (the real server's text otherwise)
    podsNeverReady:                # containers run but never become Ready (a failing readiness probe)
      - {namespace: demo, name: "web-*", labels: {app: web}}
    claimsNeverBind:               # PersistentVolumeClaims stay Pending
      - {namespace: demo, name: "data-*"}
    imagePullErrors:               # ErrImagePull, then ImagePullBackOff, with the kubelet's events
      - {namespace: demo, name: "*", image: "apache/airflow:*", container: "*", message: "..."}

Request faults apply to every request but kubesim's own /kubesim/ endpoints and answer with the
Status objects of a real server (429 TooManyRequests with Retry-After, 500 InternalError, 409
Conflict, 503 ServiceUnavailable). Object faults are decisions the simulated controllers ask for
(`ctx.services["faults"]`: `pod_never_ready`, `claim_blocked`, `image_pull_failure`); readiness goes
through the pods controller's probe list, so it needs nothing else.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import yaml

from . import errors
from .errors import ApiError
from .rest import Request, Response, parse_resource_path

if TYPE_CHECKING:
    from .controllers.base import Context

POLL_SECONDS = 0.2
PULL_SHOWN_SECONDS = 1.0  # ErrImagePull shows until the kubelet's next sync, which finds the back-off
PULL_BACKOFF_START = 10.0
PULL_BACKOFF_MAX = 300.0
ERRORS = (429, 409, 500, 503, "drop")
REQUEST_KEYS = {
    "id",
    "name",
    "method",
    "path",
    "pathRegex",
    "verb",
    "resource",
    "namespace",
    "count",
    "probability",
    "error",
    "retryAfter",
    "latency",
    "message",
}
SELECTOR_KEYS = {"namespace", "name", "labels"}
OBJECT_SECTIONS = {
    "podsNeverReady": set(),
    "claimsNeverBind": set(),
    "imagePullErrors": {"image", "container", "message"},
}


def say(message: str) -> None:
    print(f"kubesim: {message}", flush=True)


class DropConnection(BaseException):
    """Raised by the request hook to close the connection without an answer.

    A BaseException, so the server's catch-all (which would answer 500) lets it through to the
    connection's thread, whose socket is closed on the way out; `quiet_dropped_connections` keeps
    the thread's exit from printing a traceback.
    """


def quiet_dropped_connections() -> None:
    previous = threading.excepthook
    if getattr(previous, "_kubesim_faults", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not DropConnection:
            previous(args)

    hook._kubesim_faults = True  # type: ignore[attr-defined]
    threading.excepthook = hook


# ---- what a request is ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A request as authorization sees it: verb, resource (plural[/subresource]), namespace, name."""

    verb: str
    resource: str = ""
    group: str = ""
    namespace: str = ""
    name: str = ""


def classify(request: Request) -> Target:
    parts = [unquote(p) for p in request.path.split("/") if p]
    route = None
    if len(parts) >= 2 and parts[0] == "api":
        route = parse_resource_path(parts[2:], "", parts[1])
    elif len(parts) >= 3 and parts[0] == "apis":
        route = parse_resource_path(parts[3:], parts[1], parts[2])
    if route is None:
        return Target(request.method.lower())
    resource = f"{route.plural}/{route.subresource}" if route.subresource else route.plural
    name = route.name or _body_name(request)
    return Target(_verb(request, route.name, route.subresource), resource, route.group, route.namespace or "", name)


def _verb(request: Request, name: str, subresource: str) -> str:
    method = request.method
    if name or subresource:
        return {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "POST": "create"}.get(
            method, method.lower()
        )
    if method == "GET":
        return "watch" if request.param("watch") in ("true", "1") else "list"
    return {"POST": "create", "DELETE": "deletecollection"}.get(method, method.lower())


def _body_name(request: Request) -> str:
    if request.method != "POST" or not request.body:
        return ""
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(request.body).get("metadata", {}).get("name", ""))
    return ""


# ---- rules -----------------------------------------------------------------------------------------------


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _glob(value: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value, p) for p in patterns)


@dataclass
class RequestRule:
    index: int
    label: str
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    path_regex: re.Pattern[str] | None = None
    verbs: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    count: int | None = None
    probability: float | None = None
    error: int | str | None = None
    retry_after: int | None = None
    latency: float = 0.0
    message: str = ""
    rng: random.Random = field(default_factory=random.Random)
    fired: int = 0

    def matches(self, request: Request, target: Target) -> bool:
        return (
            _glob(request.method, tuple(m.upper() for m in self.methods))
            and _glob(request.path, self.paths)
            and (self.path_regex is None or self.path_regex.search(request.path) is not None)
            and _glob(target.verb, self.verbs)
            and _glob(target.resource, self.resources)
            and _glob(target.namespace, self.namespaces)
            and _glob(target.name, self.names)
        )

    def fires(self) -> bool:
        """Counts and draws only for matching requests, so a run is reproducible from the seed."""
        if self.count is not None and self.fired >= self.count:
            return False
        if self.probability is not None and self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


@dataclass(frozen=True)
class Selector:
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    images: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    message: str = ""

    def matches(self, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        return (
            _glob(meta.get("namespace", ""), self.namespaces)
            and _glob(meta.get("name", ""), self.names)
            and all(labels.get(k) == v for k, v in self.labels)
        )


@dataclass
class Rules:
    requests: list[RequestRule] = field(default_factory=list)
    pods_never_ready: list[Selector] = field(default_factory=list)
    claims_never_bind: list[Selector] = field(default_factory=list)
    image_pull_errors: list[Selector] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.requests)} request rule(s), {len(self.pods_never_ready)} never-ready pod rule(s), "
            f"{len(self.claims_never_bind)} never-bind claim rule(s), {len(self.image_pull_errors)} image pull rule(s)"
        )


def parse_rules(data: Any) -> Rules:
    """The file's content as Rules; ValueError names what is wrong (unknown keys are refused)."""
    if data is None:
        return Rules()
    if not isinstance(data, dict):
        raise ValueError("the file must hold a mapping")
    unknown = set(data) - {"seed", "requests", *OBJECT_SECTIONS}
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}")
    seed = data.get("seed", 0)
    rules = Rules(requests=[_request_rule(i, r, seed) for i, r in enumerate(data.get("requests") or [])])
    rules.pods_never_ready = [_selector("podsNeverReady", s) for s in data.get("podsNeverReady") or []]
    rules.claims_never_bind = [_selector("claimsNeverBind", s) for s in data.get("claimsNeverBind") or []]
    rules.image_pull_errors = [_selector("imagePullErrors", s) for s in data.get("imagePullErrors") or []]
    return rules


def _request_rule(index: int, raw: Any, seed: Any) -> RequestRule:
    where = f"requests[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a mapping")
    unknown = set(raw) - REQUEST_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
    error = raw.get("error")
    if error is not None and error not in ERRORS:
        raise ValueError(f"{where}.error must be one of {', '.join(map(str, ERRORS))}")
    if error is None and not raw.get("latency"):
        raise ValueError(f"{where} needs an error or a latency")
    probability = raw.get("probability")
    if probability is not None and not 0 <= float(probability) <= 1:
        raise ValueError(f"{where}.probability must be between 0 and 1")
    try:
        regex = re.compile(raw["pathRegex"]) if raw.get("pathRegex") else None
    except re.error as e:
        raise ValueError(f"{where}.pathRegex: {e}") from e
    return RequestRule(
        index=index,
        label=str(raw.get("id") or where),
        methods=_strings(raw.get("method")),
        paths=_strings(raw.get("path")),
        path_regex=regex,
        verbs=_strings(raw.get("verb")),
        resources=_strings(raw.get("resource")),
        namespaces=_strings(raw.get("namespace")),
        names=_strings(raw.get("name")),
        count=int(raw["count"]) if raw.get("count") is not None else None,
        probability=float(probability) if probability is not None else None,
        error=error,
        retry_after=int(raw["retryAfter"]) if raw.get("retryAfter") is not None else None,
        latency=float(raw.get("latency") or 0),
        message=str(raw.get("message") or ""),
        rng=random.Random(f"{seed}/{index}"),
    )


def _selector(section: str, raw: Any) -> Selector:
    if not isinstance(raw, dict):
        raise ValueError(f"{section} entries must be mappings")
    unknown = set(raw) - SELECTOR_KEYS - OBJECT_SECTIONS[section]
    if unknown:
        raise ValueError(f"{section}: unknown key(s) {sorted(unknown)}")
    return Selector(
        namespaces=_strings(raw.get("namespace")),
        names=_strings(raw.get("name")),
        labels=tuple((str(k), str(v)) for k, v in (raw.get("labels") or {}).items()),
        images=_strings(raw.get("image")),
        containers=_strings(raw.get("container")),
        message=str(raw.get("message") or ""),
    )


def load_file(path: Path) -> Rules:
    text = path.read_text()
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise ValueError(str(e)) from e
    return parse_rules(data)


# ---- answers ---------------------------------------------------------------------------------------------


def error_for(rule: RequestRule, target: Target) -> ApiError:
    """The Status a real API server answers for this kind of failure."""
    if rule.error == 429:
        seconds = rule.retry_after or 1  # the API server's max-in-flight filter says 1
        return ApiError(
            429,
            "TooManyRequests",
            rule.message or "Too many requests, please try again later.",
            {"retryAfterSeconds": seconds},
            {"Retry-After": str(seconds)},
        )
    if rule.error == 409:
        plural = target.resource.split("/")[0] or "objects"
        return errors.conflict(plural, target.name, target.group, rule.message)
    if rule.error == 503:
        message = rule.message or "The server is currently unable to handle the request"
        if rule.retry_after is None:
            return ApiError(503, "ServiceUnavailable", message)
        seconds = str(rule.retry_after)
        return ApiError(
            503, "ServiceUnavailable", message, {"retryAfterSeconds": rule.retry_after}, {"Retry-After": seconds}
        )
    return errors.internal_error(rule.message or "injected by kubesim --faults")


@dataclass(frozen=True)
class PullFailure:
    """What the pods controller applies for a failing image pull: events and when to look again."""

    events: list[tuple[str, str, str, str]]  # (container, type, reason, message)
    retry: float


def pull_error_text(image: str, message: str) -> str:
    """The runtime's error for an image that cannot be pulled (containerd's words for a missing tag)."""
    if message:
        return message
    from .controllers.pods import normalize_image

    ref = normalize_image(image)
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to resolve reference '
        f'"{ref}": {ref}: not found'
    )


# ---- the fault injector ----------------------------------------------------------------------------------


class Faults:
    """Rules from `--faults FILE` (none without one), reloaded on change; hooks for the server and controllers."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.rules = Rules()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._loads = 0
        # (pod uid, container) -> (pulls so far, ErrImagePull shown until, back-off end), monotonic seconds
        self._pulls: dict[tuple[str, str], tuple[int, float, float]] = {}
        self._on_change: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.path is not None:
            self._stamp = self._file_stamp()
            try:
                self.rules = load_file(self.path)
            except (OSError, ValueError) as e:
                raise ValueError(f"--faults {self.path}: {e}") from e
            self._loads = 1
            say(f"faults from {self.path}: {self.rules.summary()}")

    # ---- reloading --------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.path is not None:
            self._thread = threading.Thread(target=self._poll, name="kubesim-faults", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _file_stamp(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            stamp = self._file_stamp()
            if stamp == self._stamp:
                continue
            self._stamp = stamp
            self.reload()

    def reload(self) -> None:
        assert self.path is not None
        try:
            rules = load_file(self.path) if self.path.exists() else Rules()
        except (OSError, ValueError) as e:
            say(f"faults: {self.path} not reloaded, keeping the previous rules: {e}")
            return
        with self._lock:
            self.rules = rules
            self._loads += 1
            self._pulls.clear()
        say(f"faults reloaded from {self.path}: {rules.summary()}")
        for callback in self._on_change:
            callback()

    def state(self) -> dict[str, Any]:
        """GET /kubesim/v1/faults: which rules are loaded and how often each request rule fired."""
        with self._lock:
            return {
                "file": str(self.path) if self.path else None,
                "loads": self._loads,
                "requests": [{"id": r.label, "fired": r.fired} for r in self.rules.requests],
                "podsNeverReady": len(self.rules.pods_never_ready),
                "claimsNeverBind": len(self.rules.claims_never_bind),
                "imagePullErrors": len(self.rules.image_pull_errors),
            }

    # ---- request faults (App.before_request) -------------------------------------------------------------
    def request_hook(self, request: Request) -> Response | None:
        if request.path.startswith("/kubesim/") or not self.rules.requests:
            return None
        target = classify(request)
        with self._lock:
            rule = next((r for r in self.rules.requests if r.matches(request, target) and r.fires()), None)
        if rule is None:
            return None
        if rule.latency:
            time.sleep(rule.latency)
        if rule.error is None:
            return None
        if rule.error == "drop":
            say(f"fault {rule.label}: dropping the connection of {request.method} {request.path}")
            raise DropConnection(rule.label)
        error = error_for(rule, target)
        return Response(error.code, error.to_status(), headers=list(error.headers.items()), log={"fault": rule.label})

    # ---- object faults (asked by the controllers) --------------------------------------------------------
    def pod_never_ready(self, pod: dict[str, Any]) -> bool:
        return any(s.matches(pod) for s in self.rules.pods_never_ready)

    def claim_blocked(self, claim: dict[str, Any]) -> bool:
        return any(s.matches(claim) for s in self.rules.claims_never_bind)

    def image_pull_error(self, pod: dict[str, Any], container: dict[str, Any]) -> str | None:
        """The runtime's pull error for this container's image, or None when the pull succeeds."""
        image = container.get("image", "")
        for s in self.rules.image_pull_errors:
            if s.matches(pod) and _glob(image, s.images) and _glob(container.get("name", ""), s.containers):
                return pull_error_text(image, s.message)
        return None

    def probe(self, pod: dict[str, Any], container: str) -> bool | None:
        """A readiness probe for ctx.services["probes"]: False for never-ready pods, no opinion otherwise."""
        del container
        return False if self.pod_never_ready(pod) else None

    def image_pull_failure(
        self, pod: dict[str, Any], container: dict[str, Any], cs: dict[str, Any]
    ) -> PullFailure | None:
        """The kubelet's image pull for a waiting container: None when it succeeds; else sets `cs`'s
        waiting state (ErrImagePull, then ImagePullBackOff until the back-off ends, then a new pull)."""
        key = ((pod.get("metadata") or {}).get("uid", ""), container.get("name", ""))
        text = self.image_pull_error(pod, container)
        if text is None:
            self._pulls.pop(key, None)
            return None
        image, name = container.get("image", ""), container.get("name", "")
        attempts, shown_until, backoff_end = self._pulls.get(key, (0, 0.0, 0.0))
        reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        now = time.monotonic()
        if reason == "ErrImagePull" and now < shown_until:
            return PullFailure([], shown_until - now)  # the failed pull stays reported until the next sync
        if reason in ("ErrImagePull", "ImagePullBackOff") and now < backoff_end:
            events = []
            if reason == "ErrImagePull":
                events = [
                    (name, "Normal", "BackOff", f'Back-off pulling image "{image}"'),
                    (name, "Warning", "Failed", "Error: ImagePullBackOff"),
                ]
            message = f'Back-off pulling image "{image}": {text}'
            cs["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": message}}
            return PullFailure(events, backoff_end - now)
        backoff = min(PULL_BACKOFF_START * 2**attempts, PULL_BACKOFF_MAX)
        self._pulls[key] = (attempts + 1, now + PULL_SHOWN_SECONDS, now + backoff)
        cs["state"] = {"waiting": {"reason": "ErrImagePull", "message": text}}
        return PullFailure(
            [
                (name, "Normal", "Pulling", f'Pulling image "{image}"'),
                (name, "Warning", "Failed", f'Failed to pull image "{image}": {text}'),
                (name, "Warning", "Failed", "Error: ErrImagePull"),
            ],
            PULL_SHOWN_SECONDS,
        )

    # ---- wiring --------------------------------------------------------------------------------------------
    def attach(self, ctx: Context) -> None:
        """Offer the object faults to the controllers, and look at everything again when the rules change."""
        ctx.services["faults"] = self
        probes = ctx.services.setdefault("probes", [])
        if self.probe not in probes:
            probes.insert(0, self.probe)  # first: a never-ready verdict wins over Portworx's probes
        manager = ctx.manager

        def resync() -> None:
            for controller in list(manager.controllers.values()):
                for key in controller.resync_keys():
                    manager.enqueue(controller.name, key)

        self._on_change.append(resync)
