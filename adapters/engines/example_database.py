"""Where campaigns keep what they learned: Hypothesis's example database, local or shared.

``--database`` takes ``none``, a directory (Hypothesis's ``DirectoryBasedExampleDatabase``) or
``redis://host:port/db`` (``hypothesis.extra.redis.RedisExampleDatabase``, with the ``redis``
client of the ``[scale]`` extra). Hypothesis replays every failure saved under a campaign's key
before it generates anything new, so with one Redis database a failure found by any worker, on any
machine, is the first example every other worker runs.

The key is the campaign class's source, as Hypothesis computes it: a changed campaign starts from
an empty entry, as it would in a test suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

FUZZ_DEFAULT = Path(".hypothesis") / "blockfsm"
"""The directory ``blockfsm fuzz`` keeps its examples in unless told otherwise."""


class ServerError(ValueError):
    """A Redis URL that is not one, or a server that cannot be reached: one line for the user."""


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


def connect(url: str) -> Any:
    """A ``redis.Redis`` client for ``url``, checked with a PING, or ``ServerError``."""
    try:
        import redis
    except ImportError:
        raise ServerError(
            "a redis:// URL needs the redis client: pip install 'blockfsm[scale]'"
        ) from None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ServerError(f"{url}: not a Redis URL (bad port)") from None
    if parts.scheme in ("redis", "rediss") and not parts.hostname:
        raise ServerError(f"{url}: not a Redis URL (expected redis://host:port/db)")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    except ValueError as error:
        raise ServerError(f"{url}: not a Redis URL ({error})") from None
    try:
        client.ping()
    except redis.RedisError as error:
        where = f"{parts.hostname}:{port or 6379}" if parts.hostname else url
        raise ServerError(f"cannot reach the Redis server at {where}: {error}") from None
    return client


def open_database(where: str | None) -> ExampleDatabase | None:
    """The example database ``where`` names: None or ``none`` for none, a Redis URL, or a
    directory (created when first written)."""
    if where is None or where == "none":
        return None
    if is_redis(where):
        from hypothesis.extra.redis import RedisExampleDatabase

        return RedisExampleDatabase(connect(where), key_prefix=b"blockfsm-example:")
    if "://" in where:
        raise ServerError(f"{where}: not a database (use a directory, redis://host:port/db, none)")
    path = Path(where)
    if path.exists() and not path.is_dir():
        raise ServerError(f"{where}: not a directory")
    return DirectoryBasedExampleDatabase(str(path))
