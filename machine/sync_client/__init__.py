"""The block sync client as a pure machine. Its rules are stated in ``blockfsm.spec.sync_client``.

In brief, and in the order this module applies them:

- A ``Tick`` first drops expired registry and blacklist entries (a blacklist entry is live while
  ``until > now``; upstream's cleanup compared the other way round). In ``Passive`` it fires the
  timeout trigger after ``trigger_timeout`` without progress; in ``AwaitingResponse`` it ends a
  sync that has run ``max_sync_time``, or skips a server whose deadline passed and asks the next.
- An ``AdvertiseBlock`` registers its sender only after chain, sender, validator, blacklist and
  freshness checks, and last the signature (the expensive one).
- An ``AdvertiseCertificate`` far enough ahead starts a sync at most once per
  ``trigger_rate_limit``; the rate limit is checked, and spent, before any signature is verified,
  so an invalid certificate spends it too.
- A message field that is ``None`` or of the wrong type is a counted rejection, never a crash.
- A ``SyncResponse`` is matched by peer and request id, checked in full, then applied through
  ``Persist``/``Commit``/``UpdateHighestCertificate`` effects. Its sender is blamed only for what
  no honest server could send, whatever that server's own ``request_limit``: an invalid response.
  A short valid response is never blamed. A server is asked again while it makes progress and
  answers in full (``min(limit, target + 1 - start)`` blocks, or as many as the byte bound
  holds); after a short answer the sync moves to an eligible server that delivered more, if
  there is one, and the short server stays a fallback.
- Server choice ranks by what each server delivered: a server's record is the length of its
  last short answer, or ``request_limit`` (presumed full) if it has none. The trigger's sender
  goes first only among the best records; ties are drawn with the seed.
- A sync never waits for the next trigger after a failure: the next eligible server is asked in
  the same step.

Nothing here blocks, reads a clock or draws random numbers: server choice mixes a seed and a draw
counter carried in the state.

The package: ``config``, ``state`` (the registry, the request in flight, ``ChainAdvanced``),
``effects`` (every effect the client emits), ``dispatch`` (``step``), ``choice`` (which server to
ask), ``ticks``, ``advertisements`` and ``responses``. Every public name is imported here.
"""

from __future__ import annotations

# Names this module re-exported before it became a package; kept so that every import of them
# from blockfsm.machine.sync_client still works.
from blockfsm.machine._maps import SortedMap
from blockfsm.machine.core import (
    MAX_PERIOD_MS,
    Observe,
    PeerId,
    Rejected,
    Send,
    Step,
    Tick,
    require,
    require_int,
)
from blockfsm.machine.crypto import PUBLIC_KEY_SIZE, Verifier
from blockfsm.machine.messages import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_RESPONSE_BYTES,
    MIN_RESPONSE_BYTES,
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncRequest,
    SyncResponse,
    SyncResponseReceived,
    block_size,
    response_size,
)
from blockfsm.machine.sync_client.choice import mix
from blockfsm.machine.sync_client.config import (
    AWAITING,
    MAX_REQUEST_LIMIT,
    PASSIVE,
    SyncClientConfig,
)
from blockfsm.machine.sync_client.dispatch import step
from blockfsm.machine.sync_client.effects import (
    Blacklisted,
    Commit,
    Persist,
    UpdateHighestCertificate,
)
from blockfsm.machine.sync_client.state import (
    EMPTY_REGISTRY,
    ChainAdvanced,
    Outstanding,
    Registration,
    Registry,
    SyncClientState,
    initial,
)
from blockfsm.machine.types import (
    MAX_U64,
    ZERO_HASH,
    Block,
    Certificate,
    ChainId,
    Height,
    ValidatorSet,
    advertise_block_payload,
    certificate_is_valid,
)
from blockfsm.machine.view import ChainView

__all__ = [
    "AWAITING",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "EMPTY_REGISTRY",
    "MAX_PERIOD_MS",
    "MAX_REQUEST_LIMIT",
    "MAX_RESPONSE_BYTES",
    "MAX_U64",
    "MIN_RESPONSE_BYTES",
    "PASSIVE",
    "PUBLIC_KEY_SIZE",
    "ZERO_HASH",
    "AdvertiseBlock",
    "AdvertiseBlockReceived",
    "AdvertiseCertificate",
    "AdvertiseCertificateReceived",
    "Blacklisted",
    "Block",
    "Certificate",
    "ChainAdvanced",
    "ChainId",
    "ChainView",
    "Commit",
    "Height",
    "Observe",
    "Outstanding",
    "PeerId",
    "Persist",
    "Registration",
    "Registry",
    "Rejected",
    "Send",
    "SortedMap",
    "Step",
    "SyncClientConfig",
    "SyncClientState",
    "SyncRequest",
    "SyncResponse",
    "SyncResponseReceived",
    "Tick",
    "UpdateHighestCertificate",
    "ValidatorSet",
    "Verifier",
    "advertise_block_payload",
    "block_size",
    "certificate_is_valid",
    "initial",
    "mix",
    "require",
    "require_int",
    "response_size",
    "step",
]
