"""Raw HTTPS access to kubesim for the conformance tests: what the typed clients cannot express
(bad bodies, odd headers, streams) and Warning-header parsing.
"""

from __future__ import annotations

import base64
import json
import ssl
from typing import Any

import urllib3


def warnings_of(response: Any) -> list[str]:
    """The texts of a response's `Warning: 299 - "text"` headers (RFC 7234 quoting undone)."""
    texts = []
    for value in response.headers.getlist("Warning"):
        text = value.split(" ", 2)[2] if value.startswith("299 ") else value
        if text.startswith('"') and text.endswith('"'):
            text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        texts.append(text)
    return texts


class RawClient:
    """urllib3 against kubesim, for what the typed clients cannot express (bad bodies, odd headers)."""

    def __init__(self, instance: Any, token: str | None = None) -> None:
        # `instance`: anything with .url, .token and .ca_data (a KubesimInstance).
        context = ssl.create_default_context(cadata=base64.b64decode(instance.ca_data).decode())
        self.http = urllib3.PoolManager(ssl_context=context)
        self.instance = instance
        self.token = instance.token if token is None else token

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        preload: bool = True,
        timeout: float = 10.0,
    ) -> Any:
        all_headers = {"Accept": "application/json"}
        use_token = self.token if token is None else token
        if use_token:
            all_headers["Authorization"] = f"Bearer {use_token}"
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        all_headers.update(headers or {})
        return self.http.request(
            method,
            self.instance.url + path,
            body=body,
            headers=all_headers,
            preload_content=preload,
            timeout=timeout,
            retries=False,
        )

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        response = self(method, path, body, **kw)
        data = response.data
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            return response.status, data.decode()
