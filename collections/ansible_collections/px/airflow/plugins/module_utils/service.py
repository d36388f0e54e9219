# Copyright: px.airflow contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way px.airflow reads and writes Kubernetes objects.

``KubeService`` resolves REST paths from one kinds table (or the cluster's discovery for the
kinds it does not know), and reads, lists, creates, patches, replaces and deletes by kind. The
policies every module needs live here once:

- throttling and transient server errors are retried with back-off, honouring Retry-After
  (API Priority and Fairness asks for 1 to 32 s), within a bounded budget;
- a write that must not overwrite someone else's change carries the resourceVersion it read
  (a precondition), and ``update`` re-reads and retries after a 409;
- failures are typed (``NotFound``, ``Conflict``, ``ApiFailure``, ``ConnectionError_``) and their
  messages name the operation, the API server's answer and what to check.

It talks to the API through a transport (``transport.RestClient``, or a fake in unit tests) that
has one method: ``request(method, path, query, body, headers, timeout)``.
"""

from __future__ import annotations

import json
import random
import time

from ansible_collections.px.airflow.plugins.module_utils.errors import ApiFailure, ConnectionError_, InvalidInput
from ansible_collections.px.airflow.plugins.module_utils.transport import RestError

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

# (apiVersion, kind) -> (plural, namespaced) for the built-in kinds the collection reads and writes;
# others (custom resources such as VolumeSnapshot, which may not be installed) are discovered.
KNOWN_KINDS = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "PersistentVolume"): ("persistentvolumes", False),
    ("v1", "Pod"): ("pods", True),
    ("v1", "Event"): ("events", True),
    ("v1", "Node"): ("nodes", False),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("apps/v1", "DaemonSet"): ("daemonsets", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("batch/v1", "CronJob"): ("cronjobs", True),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("storage.k8s.io/v1", "StorageClass"): ("storageclasses", False),
    ("storage.k8s.io/v1", "CSIDriver"): ("csidrivers", False),
    # Portworx's operator CRDs: read where they may be missing (a 404 then says "not installed").
    ("core.libopenstorage.org/v1", "StorageCluster"): ("storageclusters", True),
    ("core.libopenstorage.org/v1", "StorageNode"): ("storagenodes", True),
}

# How often each answer is tried before it is reported: 429 (and any answer carrying Retry-After)
# is the server asking us to come back; 502-504 are a proxy or an API server restarting; 500 is
# usually a refusal that will not change (a failing admission webhook), so it is retried least.
ATTEMPTS = {429: 8, 500: 3, 502: 6, 503: 6, 504: 6}
CONNECT_ATTEMPTS = 2
RETRY_AFTER_MAX = 32.0  # API Priority and Fairness asks for at most 32 s
RETRY_BUDGET = 120.0  # seconds spent sleeping between attempts of one request, at most


class NotFound(ApiFailure):
    """The object, its namespace, or its kind does not exist (404)."""


class Conflict(ApiFailure):
    """The object changed since it was read (409 on a write with a resourceVersion), or already exists."""


class KindNotServed(InvalidInput):
    """The cluster does not serve this apiVersion and kind (its CRD or API group is missing)."""


def api_base(api_version):
    """The REST path of an API version: the core group under /api, the others under /apis."""
    return "/api/v1" if api_version == "v1" else "/apis/%s" % api_version


def label(obj):
    """``Kind namespace/name`` of an object (or of a reference with apiVersion, kind and metadata)."""
    meta = obj["metadata"]
    where = "%s/" % meta["namespace"] if meta.get("namespace") else ""
    return "%s %s%s" % (obj["kind"], where, meta["name"])


def ref(api_version, kind, name, namespace=None):
    """A reference to an object: what ``label`` and the service's methods take."""
    metadata = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


class KubeService:
    def __init__(self, transport, sleep=time.sleep):
        self.transport = transport
        self.sleep = sleep
        self.discovered = {}

    # ---------------------------------------------------------------- paths

    def resource(self, api_version, kind):
        """(plural, namespaced) of a kind, from the kinds table or the cluster's discovery."""
        known = KNOWN_KINDS.get((api_version, kind))
        if known:
            return known
        if api_version not in self.discovered:
            try:
                self.discovered[api_version] = self.request("GET", api_base(api_version), "discover %s" % api_version)
            except NotFound:
                self.discovered[api_version] = {}
        for resource in (self.discovered[api_version] or {}).get("resources", []):
            if resource.get("kind") == kind and "/" not in resource.get("name", ""):
                return resource["name"], resource.get("namespaced", False)
        raise KindNotServed(
            "the cluster does not serve %s %s: is its CRD or API group installed?" % (api_version, kind)
        )

    def collection_path(self, api_version, kind, namespace=None):
        plural, namespaced = self.resource(api_version, kind)
        base = api_base(api_version)
        if namespaced and namespace:
            base += "/namespaces/%s" % namespace
        return base + "/" + plural

    def path(self, obj, subresource=None):
        meta = obj["metadata"]
        path = "%s/%s" % (self.collection_path(obj["apiVersion"], obj["kind"], meta.get("namespace")), meta["name"])
        return path + ("/" + subresource if subresource else "")

    # ---------------------------------------------------------------- requests

    def request(self, method, path, what, body=None, query=None, content_type=None, raw=False):
        """One API request, retried as ATTEMPTS says; the decoded JSON answer (None when empty).

        ``what`` names the operation for error messages ("create Secret airflow/af-secrets").
        ``raw`` answers the body as text (a pod's log).
        """
        headers = {"Accept": "*/*" if raw else "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        delay, slept, attempt = 0.5, 0.0, 0
        while True:
            attempt += 1
            try:
                response = self.transport.request(method, path, query=query, body=body, headers=headers)
                break
            except RestError as exc:
                wait = self._retry_wait(exc, attempt, delay)
                if wait is None or slept + wait > RETRY_BUDGET:
                    raise self._failure(exc, what, attempt) from exc
            except Exception as exc:  # urllib3: connection refused, TLS, DNS, timeouts
                if not _is_connection_error(exc):
                    raise
                # urllib3 has already retried the connection itself: give up sooner than on a 5xx.
                if attempt >= CONNECT_ATTEMPTS:
                    raise ConnectionError_(
                        "Cannot reach the Kubernetes API at %s (%s) to %s: %s. Check that the cluster is up "
                        "and that kubeconfig/context point at it."
                        % (
                            getattr(self.transport, "host", "?"),
                            getattr(self.transport, "px_target", "?"),
                            what,
                            exc,
                        )
                    ) from exc
                wait = delay
            self.sleep(wait)
            slept += wait
            delay = min(delay * 2, 8.0)
        if raw:
            return response.data.decode("utf-8", "replace")
        return json.loads(response.data) if response.data else None

    @staticmethod
    def _retry_wait(exc, attempt, delay):
        """Seconds to wait before trying again, or None to give up."""
        retry_after = _retry_after(exc)
        if attempt >= ATTEMPTS.get(exc.status, 8 if retry_after is not None else 1):
            return None
        if retry_after is not None:
            return retry_after
        return delay * (1 + random.random() / 4)

    @staticmethod
    def _failure(exc, what, attempts):
        message = "Failed to %s: %s %s%s" % (what, exc.status, exc.reason, _status_message(exc))
        if exc.status == 429:
            message += (
                " (still throttled after %d attempts: the API server's priority and fairness limits are "
                "exhausted; retry later or ask the cluster's administrators about the FlowSchema that "
                "matches this user)" % attempts
            )
        elif exc.status in (401, 403):
            message += " (check the kubeconfig user's credentials and its RBAC permissions)"
        error = {404: NotFound, 409: Conflict}.get(exc.status, ApiFailure)
        return error(message, status=exc.status, reason=exc.reason, body=exc.body)

    # ---------------------------------------------------------------- by kind

    def get(self, obj, subresource=None):
        """The live object, or None when it (or its namespace, or its kind) does not exist."""
        try:
            return self.request("GET", self.path(obj, subresource), "read %s" % label(obj))
        except (NotFound, KindNotServed):
            return None

    def get_path(self, path):
        """GET a REST path the caller built (None on 404): for reads not tied to one kind."""
        try:
            return self.request("GET", path, "read %s" % path)
        except NotFound:
            return None

    def list(self, api_version, kind, namespace=None, selector=None, field_selector=None, what=None):
        """The items of a kind (in a namespace, or everywhere); [] when the kind is not served."""
        try:
            path = self.collection_path(api_version, kind, namespace)
        except KindNotServed:
            return []
        query = [("labelSelector", selector)] if selector else []
        if field_selector:
            query.append(("fieldSelector", field_selector))
        where = " in %s" % namespace if namespace else ""
        try:
            answer = self.request("GET", path, what or "list %s%s" % (kind, where), query=query)
        except NotFound:
            return []
        return (answer or {}).get("items") or []

    def create(self, obj):
        """Create the object; a Conflict when it already exists."""
        meta = obj["metadata"]
        path = self.collection_path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        return self.request("POST", path, "create %s" % label(obj), obj)

    def patch(self, obj, patch, content_type=MERGE_PATCH, resource_version=None, what=None):
        """Patch the object; with ``resource_version``, only if nobody wrote it since (else Conflict)."""
        if resource_version:
            patch = dict(patch, metadata=dict(patch.get("metadata") or {}, resourceVersion=resource_version))
        return self.request("PATCH", self.path(obj), what or "update %s" % label(obj), patch, content_type=content_type)

    def replace(self, obj, resource_version, what=None):
        """Replace the object as a whole, only if it is still at ``resource_version`` (else Conflict)."""
        body = dict(obj, metadata=dict(obj["metadata"], resourceVersion=resource_version))
        return self.request("PUT", self.path(obj), what or "replace %s" % label(obj), body)

    def delete(self, obj, propagation=None):
        """Delete the object; False when it was already gone."""
        query = [("propagationPolicy", propagation)] if propagation else None
        try:
            self.request("DELETE", self.path(obj), "delete %s" % label(obj), query=query)
        except NotFound:
            return False
        return True

    def update(self, obj, decide, attempts=4):
        """Read the object, let ``decide(live)`` write it, and on a 409 read it again and retry.

        ``decide`` returns what the caller wants to return; it writes with the resourceVersion it
        read (``patch(..., resource_version=...)``, ``replace``) or creates the object, so a change
        made in between is never overwritten: it is read and decided on again.
        """
        for attempt in range(1, attempts + 1):
            try:
                return decide(self.get(obj))
            except Conflict:
                if attempt == attempts:
                    raise
                self.sleep(0.2 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def pod_log(self, namespace, name, tail_lines):
        """The last ``tail_lines`` lines of a pod's log, as text (NotFound before it has one)."""
        return self.request(
            "GET",
            self.path(ref("v1", "Pod", name, namespace), "log"),
            "read the log of pod %s/%s" % (namespace, name),
            query=[("tailLines", tail_lines)],
            raw=True,
        )


def _retry_after(exc):
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_MAX)
    except (TypeError, ValueError):
        return None


def _status_message(exc):
    try:
        message = json.loads(exc.body).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return ": %s" % message if message else ""


def _is_connection_error(exc):
    try:
        import urllib3.exceptions as u3
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (u3.MaxRetryError, u3.NewConnectionError, u3.ProtocolError, u3.TimeoutError, OSError))
