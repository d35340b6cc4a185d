"""Model-based testing against the Quint model of block sync (spec/quint/blocksync.qnt).

Quint's random simulator writes ITF traces with the action taken at each step and its
nondeterministic picks (``--mbt``). Each trace is replayed against the Python machines: the real
sync client and the real honest sync server, each under its ``Conformant`` wrapper (so every step
also matches one spec row and keeps every safety invariant), with the two Byzantine servers played
by this driver. After every step the client's state, read at the model's level of abstraction
(control state, committed height, registry, blacklist, the request in flight, the seeded choice
counter, its timers), must equal the model's state.

Quint comes from the repository's pinned package.json (``npm ci``). Without it these tests are
skipped, with the reason; set ``BLOCKFSM_REQUIRE_QUINT=1`` (CI does) to make that a failure.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest
from quintkit import quint as find_quint

from blockfsm.adapters.engines import itf
from blockfsm.machine.core import Send, Tick
from blockfsm.machine.crypto import StandInVerifier
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
    SyncResponseReceived,
)
from blockfsm.machine.sync_client import Commit, Persist, SyncClientConfig, UpdateHighestCertificate
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.types import (
    Certificate,
    ValidatorSet,
    advertise_block_payload,
    certify,
)
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import SYNC_CLIENT, SYNC_SERVER
from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers

pytestmark = pytest.mark.timeout(300)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "spec" / "quint" / "blocksync.qnt"
TRACES = 1_000
STEPS = 25
SECOND = 1_000  # the model counts seconds, the machines milliseconds
HONEST = 2  # the model's HONEST
CHAIN = DEFAULT_CHAIN_ID


def quint() -> str:
    return find_quint("Quint model-based tests")


def run_quint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [quint(), "run", "--backend=typescript", *args, str(MODEL)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )


def simulate(out: Path) -> tuple[Any, list[Path]]:
    """One quint invocation: TRACES random runs, every model invariant checked in every state."""
    result = run_quint(
        "--mbt",
        "--invariant=invariants",
        f"--max-steps={STEPS}",
        f"--max-samples={TRACES}",
        f"--n-traces={TRACES}",
        "--seed=20261122",
        f"--out-itf={out}/trace_{{seq}}.itf.json",
    )
    return result, sorted(out.glob("trace_*.itf.json"))


def test_quint_run_finds_a_violated_property_so_the_invariant_check_can_fail() -> None:
    """The model reaches the honest height: a claim that it never does is refuted."""
    result = run_quint("--invariant=committed < HONEST_HEIGHT", "--max-steps=40", "--seed=7")
    assert result.returncode == 1 and "[violation]" in result.stdout, result.stdout


# --- the driver --------------------------------------------------------------------------------


class Driver:
    """The Python machines, driven by one model trace's actions."""

    def __init__(self) -> None:
        signers = make_signers(4)
        # Server index i (1..3) is the i-th smallest of the three server keys: the model orders
        # candidates by index as the client orders them by key.
        client, *servers = signers
        servers.sort(key=lambda s: s.public_key)
        self.keys = {i: s.public_key for i, s in enumerate(servers, start=1)}
        self.index = {key: i for i, key in self.keys.items()}
        self.signers = {i: s for i, s in enumerate(servers, start=1)}
        self.client_key = client.public_key
        self.canonical = chain_of(6, signers)  # blocks 0..5, committed 4
        self.far_certificate = certify(
            chain_id=CHAIN, view=1_000, block=self.canonical.block_at(5), signers=signers
        )
        self.server_config = SyncServerConfig(
            chain_id=CHAIN,
            signer=self.signers[HONEST],
            request_limit=3,
            advertise_time=1,
            rate_limit_requests=1_000,
        )
        self.server = Conformant(SYNC_SERVER, self.server_config)
        self.server_state = SYNC_SERVER.initial(self.server_config)
        self.config = SyncClientConfig(
            chain_id=CHAIN,
            own_key=client.public_key,
            validators=ValidatorSet.equal(s.public_key for s in signers),
            verifier=StandInVerifier.of(signers),
            seed=0,
            request_limit=3,
            response_timeout=2 * SECOND,
            blacklist_expiry_time=5 * SECOND,
            trigger_min_view_difference=1,
            trigger_timeout=3 * SECOND,
            trigger_rate_limit=2 * SECOND,
            advertise_expiry=6 * SECOND,
            advertise_freshness=20 * SECOND,
            max_sync_time=8 * SECOND,
        )
        self.client = Conformant(SYNC_CLIENT, self.config)
        self.state = SYNC_CLIENT.initial(self.config)
        self.chain = InMemoryChain(CHAIN)
        self.now = 0
        self.pending: tuple[bytes, SyncRequest] | None = None
        self.honest_ad: AdvertiseBlock | None = None
        self._tick_server()

    def _tick_server(self) -> None:
        self.server_state, effects = self.server.step(
            self.server_state, Tick(now=self.now), self.canonical.snapshot()
        )
        for effect in effects:
            if type(effect.message) is AdvertiseBlock:
                self.honest_ad = effect.message

    def _client(self, event: Any) -> None:
        self.state, effects = self.client.step(self.state, event, self.chain.snapshot())
        for effect in effects:
            kind = type(effect)
            if kind is Persist:
                self.chain.persist(effect.block)
            elif kind is Commit:
                self.chain.commit(effect.height)
            elif kind is UpdateHighestCertificate:
                self.chain.set_highest_certificate(effect.certificate)
            elif kind is Send:
                self.pending = (effect.peer, effect.message)

    # the model's actions

    def tick(self) -> None:
        self.now += SECOND
        self._client(Tick(now=self.now))
        self._tick_server()

    def advertise(self, server: int, height: int) -> None:
        if server == HONEST:
            assert self.honest_ad is not None and self.honest_ad.committed_height == height
            ad = self.honest_ad
        else:
            key = self.keys[server]
            ad = AdvertiseBlock(
                chain_id=CHAIN,
                server=key,
                committed_height=height,
                timestamp=self.now,
                signature=self.signers[server].sign(
                    advertise_block_payload(CHAIN, key, height, self.now)
                ),
            )
        self._client(AdvertiseBlockReceived(peer=self.keys[server], advertisement=ad))

    def certify(self, server: int) -> None:
        ad = AdvertiseCertificate(certificate=self.far_certificate)
        self._client(AdvertiseCertificateReceived(peer=self.keys[server], advertisement=ad))

    def respond(self, kind: str) -> None:
        assert self.pending is not None, "the model answers a request the client never sent"
        peer, request = self.pending
        if kind == "full":
            assert self.index[peer] == HONEST
            event = SyncRequestReceived(peer=self.client_key, request=request)
            self.server_state, effects = self.server.step(
                self.server_state, event, self.canonical.snapshot()
            )
            (send,) = effects
            response = send.message
        elif kind == "invalid":  # real blocks, the first one's payload altered under its hash
            canonical = self.canonical.snapshot()
            # (Past the canonical tip, the tip itself: at the wrong height, and altered.)
            blocks = list(canonical.blocks_from(request.start_height, 3)) or list(
                canonical.blocks_from(request.start_height - 1, 1)
            )
            blocks[0] = attrs.evolve(blocks[0], payload=b"forged")
            response = SyncResponse(
                chain_id=CHAIN,
                request_id=request.request_id,
                blocks=tuple(blocks),
                highest_certificate=self.canonical.highest_certificate,
            )
        else:  # "empty": a valid response with nothing in it
            response = SyncResponse(
                chain_id=CHAIN,
                request_id=request.request_id,
                blocks=(),
                highest_certificate=Certificate.genesis(CHAIN),
            )
        self._client(SyncResponseReceived(peer=peer, response=response))

    def abstract(self) -> dict[str, Any]:
        """The client's state at the model's level of abstraction."""
        s = self.state
        request = s.request
        committed = self.chain.committed_height
        above = self.chain.block_at(committed + 1)
        child = self.chain.block_at(committed + 2)
        top = self.chain.highest_certificate
        certified = above is not None and (
            (child is not None and child.justify.block_hash == above.hash)
            or (top.height == committed + 1 and top.block_hash == above.hash)
        )
        return {
            "control": s.control,
            "now": s.now // SECOND,
            "committed": committed,
            "certified": committed + 1 if certified else committed,
            "registry": {
                self.index[e.peer]: {
                    "height": e.height,
                    "ts": e.timestamp // SECOND,
                    "received": e.received // SECOND,
                }
                for e in s.registry
            },
            "blacklist": {self.index[p]: until // SECOND for p, until in s.blacklist},
            "asked": self.index[request.server] if request else 0,
            "target": request.target if request else -1,
            "deadline": request.deadline // SECOND if request else 0,
            "tried": frozenset(self.index[p] for p in s.tried),
            "syncStarted": s.sync_started // SECOND if s.sync_started >= 0 else -1,
            "lastProgress": s.last_progress // SECOND,
            "lastEventTrigger": (
                s.last_event_trigger // SECOND if s.last_event_trigger >= 0 else -1
            ),
            "draws": s.draws,
        }


MODEL_VARS = (
    "control now committed certified registry blacklist asked target deadline tried syncStarted "
    "lastProgress lastEventTrigger draws"
).split()


def replay(document: dict[str, Any], counts: Counter[str]) -> None:
    driver = Driver()
    states = document["states"]
    previous: dict[str, Any] | None = None
    for index, raw in enumerate(states):
        model = {name: itf.decode(raw[name]) for name in MODEL_VARS}
        action = raw["mbt::actionTaken"]
        picks = {
            name: value.value
            for name, value in itf.decode(raw["mbt::nondetPicks"]).items()
            if isinstance(value, itf.Variant) and value.tag == "Some"
        }
        if index > 0:
            assert previous is not None
            counts[action] += 1
            if action == "tick":
                driver.tick()
            elif action == "advertise":
                server = picks["server"]
                height = 4 if server == HONEST else picks["byzantineHeight"]
                driver.advertise(server, height)
            elif action == "certify":
                driver.certify(picks["server"])
            elif action == "respond":
                kind = "full" if previous["asked"] == HONEST else picks["byzantineReply"]
                counts[f"respond:{kind}"] += 1
                driver.respond(kind)
            else:
                raise AssertionError(f"unknown model action {action!r}")
        python = driver.abstract()
        if python != model:
            diff = {k: (model[k], python[k]) for k in MODEL_VARS if model[k] != python[k]}
            raise AssertionError(
                f"state {index} (after {action} {picks}): model != python on {diff}"
            )
        previous = model
    counts["steps"] += len(states) - 1
    counts["blamed"] += any(itf.decode(s["blacklist"]) for s in states)
    counts["reached honest height"] += itf.decode(states[-1]["committed"]) == 4


def test_the_model_invariants_hold_and_the_python_machines_agree_on_every_step(
    tmp_path: Path,
) -> None:
    """One test, so that the 1,000 traces are generated once whatever the test distribution."""
    result, paths = simulate(tmp_path)
    # The model's own invariants held in every state of every run.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ok] No violation found" in result.stdout
    assert len(paths) >= TRACES
    counts: Counter[str] = Counter()
    for path in paths:
        document = json.loads(path.read_text())
        try:
            replay(document, counts)
        except AssertionError as error:
            raise AssertionError(f"{path.name}: {error}") from None
    print(dict(counts))
    assert counts["steps"] >= TRACES * 10
    # The traces exercise what the model is about, not only idle ticks.
    for what in ("respond:full", "respond:invalid", "respond:empty", "certify", "advertise"):
        assert counts[what] > 0, what
    assert counts["blamed"] > 0 and counts["reached honest height"] > 0
