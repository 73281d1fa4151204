"""The HTTP side shared by remote backends: timeouts, retries, a circuit breaker, the API key.

* connect and read timeouts are separate (``connect_timeout_s``, ``timeout_s``);
* only safe failures are retried (connect errors, 429/502/503/504), a bounded number of
  times with exponential backoff that honours ``Retry-After``;
* after ``BREAKER_THRESHOLD`` consecutive failures the circuit opens and requests fail fast
  for ``BREAKER_COOLDOWN_S``, then one trial request is let through;
* TLS is always verified (``ca_bundle`` adds a private CA); proxies come from the environment;
* the API key is read from the environment variable *named* by ``api_key_env`` for each
  request, never stored, logged or put in an error, and never sent to another origin: redirects
  are followed by hand and the key is dropped as soon as the host, port or scheme changes.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import ssl
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

from codetune_lsp.models._httpx import httpx
from codetune_lsp.models.base import BackendError
from codetune_lsp.redaction import mask_url, redact
from codetune_lsp.settings import ModelProfile

log = logging.getLogger(__name__)

# httpcore asks ``import sniffio`` on every request (twice); without sniffio installed each
# failed import searches sys.path again (~0.5 ms). A None entry makes the failure instant.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN_S = 30.0
MAX_REDIRECTS = 3
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 5.0


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parts = urlsplit(str(url))
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), port)


class CircuitBreaker:
    """Counts consecutive failures; open means fail fast until the cooldown has passed."""

    def __init__(self, threshold: int = BREAKER_THRESHOLD, cooldown_s: float = BREAKER_COOLDOWN_S):
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.opened_at: float | None = None

    def check(self) -> float:
        """0 when a request may go; otherwise the seconds until the next trial."""
        if self.opened_at is None:
            return 0.0
        left = self.opened_at + self.cooldown_s - time.monotonic()
        return max(left, 0.0)

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()


class RemoteClient:
    """One async HTTP client per remote profile."""

    def __init__(
        self,
        name: str,
        profile: ModelProfile,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not profile.url:
            raise BackendError(name, "no server URL is set", f"set models.{name}.url")
        self.name = name
        self.profile = profile
        self.base_url = profile.url.rstrip("/")
        self._origin = _origin(self.base_url)
        self.breaker = breaker or CircuitBreaker()
        verify: ssl.SSLContext | bool = True
        if profile.ca_bundle:
            verify = ssl.create_default_context(cafile=os.path.expanduser(profile.ca_bundle))
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=profile.connect_timeout_s,
                read=profile.timeout_s,
                write=profile.timeout_s,
                pool=profile.connect_timeout_s,
            ),
            verify=verify,
            trust_env=True,  # HTTP(S)_PROXY / NO_PROXY from the environment
            follow_redirects=False,  # followed by hand, see _send
            transport=transport,
        )

    # -- the key ---------------------------------------------------------------------------
    def _headers_for(self, url: httpx.URL | str) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        env = self.profile.api_key_env
        if env and _origin(url) == self._origin:
            key = os.environ.get(env, "")
            if key:
                headers["Authorization"] = f"Bearer {key}"
        return headers

    # -- sending ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    async def _send(
        self, method: str, path: str, payload: Any | None, *, stream: bool
    ) -> httpx.Response:
        """Send once, following up to MAX_REDIRECTS redirects without leaking the key."""
        url: httpx.URL | str = self.url(path)
        for _ in range(MAX_REDIRECTS + 1):
            request = self._client.build_request(
                method, url, json=payload, headers=self._headers_for(url)
            )
            response = await self._client.send(request, stream=stream)
            if response.status_code in (307, 308) or (
                method == "GET" and response.status_code in (301, 302, 303)
            ):
                location = response.headers.get("location")
                await response.aclose()
                if not location:
                    break
                url = httpx.URL(urljoin(str(request.url), location))
                log.info("model profile '%s': redirected to %s", self.name, mask_url(str(url)))
                continue
            return response
        raise BackendError(
            self.name,
            f"{mask_url(self.base_url)} redirected too often",
            f"set models.{self.name}.url to the final address",
        )

    async def request(
        self, method: str, path: str, payload: Any | None = None, *, stream: bool = False
    ) -> httpx.Response:
        """A response with a 2xx status, after retries; anything else is a ``BackendError``."""
        wait = self.breaker.check()
        if wait:
            raise BackendError(
                self.name,
                f"{mask_url(self.base_url)} failed {self.breaker.failures} times in a row, so "
                f"requests are paused for {wait:.0f} s",
                f"check that the server is up (models.{self.name}.url); it is tried again then",
                retryable=True,
            )
        attempts = 1 + max(0, self.profile.max_retries)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._send(method, path, payload, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if not last:
                    await asyncio.sleep(_backoff(attempt, None))
                    continue
                self.breaker.failure()
                raise self._connect_error(exc) from exc
            except httpx.TimeoutException as exc:
                self.breaker.failure()
                raise BackendError(
                    self.name,
                    f"no answer from {mask_url(self.base_url)} within {self.profile.timeout_s:g} s",
                    f"raise models.{self.name}.timeout_s or check the server's load",
                    retryable=True,
                ) from exc
            except httpx.HTTPError as exc:
                self.breaker.failure()
                raise BackendError(
                    self.name,
                    f"the connection to {mask_url(self.base_url)} failed ({type(exc).__name__})",
                    f"check the server and models.{self.name}.url",
                    retryable=True,
                ) from exc
            if response.status_code in RETRY_STATUSES and not last:
                retry_after = response.headers.get("retry-after")
                await response.aclose()
                await asyncio.sleep(_backoff(attempt, retry_after))
                continue
            if response.is_success:
                self.breaker.success()
                return response
            if response.status_code >= 500 or response.status_code == 429:
                self.breaker.failure()
            raise await self._status_error(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def post_json(self, path: str, payload: Mapping[str, Any]) -> tuple[Any, httpx.Headers]:
        response = await self.request("POST", path, payload)
        try:
            return response.json(), response.headers
        except ValueError as exc:
            raise BackendError(
                self.name,
                f"{mask_url(self.url(path))} answered with something that is not JSON",
                f"check that models.{self.name}.url points at the right server",
            ) from exc

    async def get_json(self, path: str) -> Any:
        response = await self.request("GET", path)
        return response.json()

    @asynccontextmanager
    async def sse(self, path: str, payload: Mapping[str, Any]) -> AsyncIterator[AsyncIterator[Any]]:
        """Server-sent events as parsed JSON objects; ``[DONE]`` ends the stream."""
        response = await self.request("POST", path, payload, stream=True)
        try:
            yield _sse_events(response)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- errors ----------------------------------------------------------------------------
    def _connect_error(self, exc: Exception) -> BackendError:
        return BackendError(
            self.name,
            f"cannot connect to {mask_url(self.base_url)} ({type(exc).__name__})",
            f"start the server or correct models.{self.name}.url",
            retryable=True,
        )

    async def _status_error(self, response: httpx.Response) -> BackendError:
        try:
            await response.aread()
            body = redact(response.text.strip())[:300]
        except httpx.HTTPError:
            body = ""
        finally:
            await response.aclose()
        status = response.status_code
        where = mask_url(str(response.request.url))
        if status in (401, 403):
            env = self.profile.api_key_env
            fix = (
                f"put a valid key in the environment variable {env}"
                if env
                else f"set models.{self.name}.api_key_env to the name of the variable holding "
                "the key"
            )
            return BackendError(self.name, f"{where} refused the credentials ({status})", fix)
        if status == 404:
            return BackendError(
                self.name,
                f"{where} does not exist on the server (404)",
                f"check models.{self.name}.url and models.{self.name}.api",
            )
        if status == 429:
            return BackendError(
                self.name,
                f"{mask_url(self.base_url)} is rate limiting requests (429)",
                "wait and retry, or lower the request rate",
                retryable=True,
            )
        return BackendError(
            self.name,
            f"{where} answered {status}: {body or response.reason_phrase}",
            "check the server log" if status >= 500 else "check the request settings",
            retryable=status >= 500,
        )


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(float(retry_after), BACKOFF_CAP_S)
        except ValueError:
            pass
    return min(BACKOFF_BASE_S * (2**attempt), BACKOFF_CAP_S)


async def _sse_events(response: httpx.Response) -> AsyncIterator[Any]:
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
            continue
        if line == "" and data:
            text = "\n".join(data)
            data = []
            if text.strip() == "[DONE]":
                return
            yield json.loads(text)
    if data and "\n".join(data).strip() != "[DONE]":
        yield json.loads("\n".join(data))
