"""The HTTP side shared by remote backends: timeouts, retries, a circuit breaker, the API key.

* connect and read timeouts are separate (``connect_timeout_s``, ``timeout_s``);
* only safe failures are retried (connect errors, 429/502/503/504), a bounded number of
  times with exponential backoff that honours ``Retry-After``;
* after ``BREAKER_THRESHOLD`` consecutive failures the circuit opens and requests fail fast
  for ``BREAKER_COOLDOWN_S``, then one trial request is let through;
* TLS is always verified (``ca_bundle`` adds a private CA); proxies come from the environment
  (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``), read once per origin and session;
* the API key is read from the environment variable *named* by ``api_key_env`` for each
  request, never stored, logged or put in an error, and never sent to another origin: redirects
  are followed by hand and the key is dropped as soon as the host, port or scheme changes.

The client is aiohttp's: on a loopback server it costs about a quarter of the CPU per request
that httpx did (see docs/decisions.md). Its session belongs to an event loop, so it is made on
the first request, in the loop that sends it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDictProxy

from codetune_lsp.models.base import BackendError
from codetune_lsp.redaction import mask_url, redact
from codetune_lsp.settings import ModelProfile

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN_S = 30.0
MAX_REDIRECTS = 3
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 5.0
# The longest server-sent event line read (TGI's last event carries the whole text).
SSE_LINE_LIMIT = 2**21

# Failures before the request reached the server: safe to send again.
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def _origin(url: str) -> tuple[str, str, int | None]:
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
    """One HTTP client per remote profile."""

    def __init__(
        self, name: str, profile: ModelProfile, *, breaker: CircuitBreaker | None = None
    ) -> None:
        if not profile.url:
            raise BackendError(name, "no server URL is set", f"set models.{name}.url")
        self.name = name
        self.profile = profile
        self.base_url = profile.url.rstrip("/")
        self._origin = _origin(self.base_url)
        self.breaker = breaker or CircuitBreaker()
        self._tls: ssl.SSLContext | bool = True  # verified against the system's CAs
        if profile.ca_bundle:
            self._tls = ssl.create_default_context(cafile=os.path.expanduser(profile.ca_bundle))
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=profile.connect_timeout_s,  # a pooled connection or a new one
            sock_connect=profile.connect_timeout_s,
            sock_read=profile.timeout_s,
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the session's
        self._proxies: dict[tuple[str, str, int | None], str | None] = {}

    async def _client(self) -> aiohttp.ClientSession:
        """The session of the running loop (made on first use: a session belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            if self._session is not None and not self._session.closed:
                await _abandon(self._session, self._loop)
            # trust_env=False: aiohttp would read the proxy variables and ~/.netrc again on
            # every request (about 0.5 ms); ``_proxy_for`` reads them once per origin.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._tls),
                timeout=self._timeout,
                trust_env=False,
                read_bufsize=SSE_LINE_LIMIT // 2,  # a stream line may be twice this
            )
            self._loop = loop
            self._proxies.clear()
        return self._session

    def _proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url``'s origin, or None (``NO_PROXY``)."""
        origin = _origin(url)
        if origin not in self._proxies:
            proxies = urllib.request.getproxies_environment()
            host = origin[1]
            bypass = not proxies or urllib.request.proxy_bypass_environment(host, proxies)
            self._proxies[origin] = None if bypass else proxies.get(origin[0])
        return self._proxies[origin]

    # -- the key ---------------------------------------------------------------------------
    def _headers_for(self, url: str) -> dict[str, str]:
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
    ) -> aiohttp.ClientResponse:
        """Send once, following up to MAX_REDIRECTS redirects without leaking the key. Unless
        ``stream``, the body has been read (``await response.read()`` returns it)."""
        client = await self._client()
        url = self.url(path)
        data = None if payload is None else json.dumps(payload).encode()
        for _ in range(MAX_REDIRECTS + 1):
            headers = self._headers_for(url)
            if data is not None:
                headers["Content-Type"] = "application/json"
            response = await client.request(
                method,
                url,
                data=data,
                headers=headers,
                allow_redirects=False,
                proxy=self._proxy_for(url),
            )
            if response.status in (307, 308) or (
                method == "GET" and response.status in (301, 302, 303)
            ):
                location = response.headers.get("location")
                response.release()
                if not location:
                    break
                url = urljoin(url, location)
                log.info("model profile '%s': redirected to %s", self.name, mask_url(url))
                continue
            if not stream:
                try:
                    await response.read()  # kept by the response; the connection goes back
                except BaseException:
                    response.close()
                    raise
            return response
        raise BackendError(
            self.name,
            f"{mask_url(self.base_url)} redirected too often",
            f"set models.{self.name}.url to the final address",
        )

    async def request(
        self, method: str, path: str, payload: Any | None = None, *, stream: bool = False
    ) -> aiohttp.ClientResponse:
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
            except _CONNECT_ERRORS as exc:
                if not last:
                    await asyncio.sleep(_backoff(attempt, None))
                    continue
                self.breaker.failure()
                raise self._connect_error(exc) from exc
            except TimeoutError as exc:  # aiohttp's read timeouts are TimeoutErrors too
                self.breaker.failure()
                where = mask_url(self.base_url)
                raise self._silent(
                    f"no answer from {where} within {self.profile.timeout_s:g} s"
                ) from exc
            except aiohttp.ClientError as exc:
                self.breaker.failure()
                where = mask_url(self.base_url)
                raise self._broken(f"the connection to {where} failed", exc) from exc
            if response.status in RETRY_STATUSES and not last:
                retry_after = response.headers.get("retry-after")
                response.close()
                await asyncio.sleep(_backoff(attempt, retry_after))
                continue
            if 200 <= response.status < 300:
                self.breaker.success()
                return response
            if response.status >= 500 or response.status == 429:
                self.breaker.failure()
            raise await self._status_error(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def post_json(
        self, path: str, payload: Mapping[str, Any]
    ) -> tuple[Any, CIMultiDictProxy[str]]:
        response = await self.request("POST", path, payload)
        return await self._json(response, path), response.headers

    async def get_json(self, path: str) -> Any:
        return await self._json(await self.request("GET", path), path)

    async def _json(self, response: aiohttp.ClientResponse, path: str) -> Any:
        """The JSON of a response whose body ``request`` already read."""
        try:
            return json.loads(await response.read())
        except ValueError as exc:
            raise BackendError(
                self.name,
                f"{mask_url(self.url(path))} answered with something that is not JSON",
                f"check that models.{self.name}.url points at the right server",
            ) from exc

    @asynccontextmanager
    async def sse(self, path: str, payload: Mapping[str, Any]) -> AsyncIterator[AsyncIterator[Any]]:
        """Server-sent events as parsed JSON objects; ``[DONE]`` ends the stream."""
        response = await self.request("POST", path, payload, stream=True)
        try:
            yield self._events(response)
        finally:
            response.close()

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[Any]:
        """``_sse_events``, with a broken or silent stream reported as a ``BackendError``."""
        try:
            async for event in _sse_events(response):
                yield event
        except TimeoutError as exc:
            where = mask_url(self.base_url)
            raise self._silent(f"{where} stopped sending for {self.profile.timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise self._broken(f"the stream from {mask_url(self.base_url)} broke off", exc) from exc

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is None or session.closed:
            return
        if self._loop is asyncio.get_running_loop():
            await session.close()
        else:
            await _abandon(session, self._loop)

    # -- errors ----------------------------------------------------------------------------
    def _silent(self, message: str) -> BackendError:
        """The server said nothing for the read timeout."""
        fix = f"raise models.{self.name}.timeout_s or check the server's load"
        return BackendError(self.name, message, fix, retryable=True)

    def _broken(self, message: str, exc: Exception) -> BackendError:
        """The connection failed after it was made."""
        fix = f"check the server and models.{self.name}.url"
        return BackendError(self.name, f"{message} ({type(exc).__name__})", fix, retryable=True)

    def _connect_error(self, exc: Exception) -> BackendError:
        return BackendError(
            self.name,
            f"cannot connect to {mask_url(self.base_url)} ({type(exc).__name__})",
            f"start the server or correct models.{self.name}.url",
            retryable=True,
        )

    async def _status_error(self, response: aiohttp.ClientResponse) -> BackendError:
        try:
            text = (await response.read()).decode("utf-8", "replace")
            body = redact(text.strip())[:300]
        except (aiohttp.ClientError, TimeoutError):
            body = ""
        finally:
            response.close()
        status = response.status
        where = mask_url(str(response.url))
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
            f"{where} answered {status}: {body or response.reason or ''}",
            "check the server log" if status >= 500 else "check the request settings",
            retryable=status >= 500,
        )


async def _abandon(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop | None) -> None:
    """Let go of a session whose event loop has ended (asyncio.run called again): its
    connections died with that loop; closing it now only marks it closed, so nothing
    reports it unclosed later."""
    if loop is not None and loop.is_closed():
        await session.close()
    else:  # a loop that still runs, in another thread: it is that loop's to close
        log.debug("an HTTP session of another running event loop is left to it")


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(float(retry_after), BACKOFF_CAP_S)
        except ValueError:
            pass
    return min(BACKOFF_BASE_S * (2**attempt), BACKOFF_CAP_S)


async def _sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[Any]:
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8").rstrip("\r\n")
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
