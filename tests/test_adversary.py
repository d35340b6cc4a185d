"""The adversary (adapters/engines/adversary.py) against the cluster properties
(spec/cluster_rules.py).

Two kinds of tests:

- the findings F1-F4 (docs/mutations-node.md, "The adversary's findings"): each first as the
  check that finds it with its fix undone (``undone(finding)`` puts the attester's old rule back
  with monkeypatch; the violation is reported, by the property named), then as a regression test
  that the cluster stays safe (F4: live) under that adversary with the fix in;
- each cluster invariant seen failing on a bug planted with ``monkeypatch``, that invariant alone
  checked (so the test shows that this property, not another, catches the bug).

Every run is bounded by a seed and simulated milliseconds, never by wall-clock time.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from planted import undone

from blockfsm.adapters.engines import adversary
from blockfsm.adapters.engines.sim import FAULTS, SafetyViolation, SimConfig, Simulation, liveness
from blockfsm.machine import attester
from blockfsm.machine import node as node_machine
from blockfsm.machine.attester import rounds as attester_rounds
from blockfsm.machine.attester import state as attester_state
from blockfsm.machine.core import Broadcast, Step
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.types import ValidatorSet
from blockfsm.spec.cluster_rules import FAIR_DELAY_SLACK_MS, liveness_bound_ms

# --- the findings -------------------------------------------------------------------------------

F1 = SimConfig(nodes=4, byzantine=1, seed=0, behaviours=("forge_proof",), faults=())
F2 = SimConfig(nodes=4, byzantine=0, seed=11, faults=FAULTS)
F3 = SimConfig(nodes=4, byzantine=0, seed=16, faults=FAULTS)
F4 = SimConfig(nodes=4, byzantine=1, seed=0, behaviours=("flood",), faults=())
RUN_MS = {F1: 20_000, F2: 30_000, F3: 30_000, F4: 5_000}


def _violation(
    config: SimConfig, only: str | None = None, finding: str | None = None
) -> str | None:
    with pytest.MonkeyPatch.context() as m:
        if finding is not None:
            undone(m, finding)
        sim = Simulation(config)
        if only is not None:
            sim.monitors = [(i, m) for i, m in sim.monitors if i.id == only]
        try:
            sim.run(RUN_MS[config])
        except SafetyViolation as v:
            return v.invariant_id
    return None


def test_f1_forged_proof_on_a_new_block_is_found_by_validity_and_by_agreement() -> None:
    assert _violation(F1, finding="F1") == "C-7"
    assert _violation(F1, only="C-1", finding="F1") == "C-1"


# F2 with its rule undone is found by A-6 in a directed scenario (tests/test_consensus_rules.py,
# test_f2_undone_a_keeper_back_at_round_0_signs_below_its_round_and_a6_says_so):
# with rounds that end only after a quorum confirmed (Tendermint line 47), the old rule's hole
# needs a round skipped by the f + 1 rule before a crash, which random seeds did not reach in 120
# runs. C-6 itself is shown failing on a planted bug below.


def test_f3_two_proposals_for_one_slot_across_a_restart_are_found_by_c4() -> None:
    assert _violation(F3, finding="F3") == "C-4"


def _flooded(finding: str | None = None) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as m:
        if finding is not None:
            undone(m, finding)
        sim = Simulation(F4)
        sim.run(RUN_MS[F4])
        result = liveness(sim, 10_000)
    result["acted"] = sim.counters["adversary:flood"]
    return result


def test_f4_a_flood_of_valid_proposals_is_found_by_c_l1() -> None:
    result = _flooded(finding="F4")
    assert result["acted"] > 0
    assert result["verdict"] == "failed" and not result["C-L1"]


def test_f1_regression_safe_under_forged_proofs() -> None:
    assert _violation(F1) is None


def test_f2_regression_rounds_only_grow_across_restarts() -> None:
    assert _violation(F2) is None


def test_f3_regression_one_proposal_per_slot_across_restarts() -> None:
    assert _violation(F3) is None


def test_f4_regression_live_under_a_flood() -> None:
    assert _flooded()["verdict"] == "held"


# --- every behaviour acts, and is counted ------------------------------------------------------


@pytest.mark.parametrize("behaviour", adversary.ORACLE)
def test_each_oracle_behaviour_acts_and_is_counted(behaviour: str) -> None:
    sim = Simulation(SimConfig(nodes=4, byzantine=1, seed=1, behaviours=(behaviour,), faults=()))
    sim.known = {i.id: "counted here" for i, _ in sim.monitors}
    sim.run(3_000)
    assert sim.summary()["adversary"].get(behaviour, 0) > 0, sim.summary()


def test_a_one_way_cut_drops_one_direction_only() -> None:
    sim = Simulation(SimConfig(nodes=4, seed=1, faults=()))
    sim.oneway.add((0, 1))
    assert not sim._connected(0, 1) and sim._connected(1, 0)
    sim.heal()
    assert sim._connected(0, 1)


# --- each invariant fails on a planted bug -----------------------------------------------------


def _only(config: SimConfig, invariant: str, ms: int) -> str | None:
    sim = Simulation(config)
    sim.monitors = [(i, m) for i, m in sim.monitors if i.id == invariant]
    try:
        sim.run(ms)
    except SafetyViolation as v:
        return v.invariant_id
    return None


EQUIVOCATING = SimConfig(nodes=4, byzantine=1, seed=3, behaviours=("equivocate",), faults=())


@pytest.mark.parametrize("invariant", ["C-1", "C-2"])
def test_agreement_and_prefix_fail_when_one_confirmation_is_a_quorum(
    monkeypatch: pytest.MonkeyPatch, invariant: str
) -> None:
    monkeypatch.setattr(ValidatorSet, "quorum", property(lambda self: 1))
    assert _only(EQUIVOCATING, invariant, 20_000) == invariant


def _plant_extra_message(monkeypatch: pytest.MonkeyPatch, extra: Any) -> None:
    """A node that, after each message it broadcasts, signs and broadcasts ``extra(config, m)``
    too (when not None)."""
    real = node_machine.step

    def step(config: Any, state: Any, event: Any, view: Any) -> Any:
        out = real(config, state, event, view)
        added = []
        for e in out.effects:
            m = extra(config.attester, getattr(e, "message", None))
            if m is not None:
                added.append(Broadcast(message=m))
        return Step(out.state, (*out.effects, *added))

    monkeypatch.setattr(node_machine, "step", step)


def test_c4_fails_when_a_producer_signs_a_second_proposal_for_its_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def twin(config: Any, m: Any) -> Any:
        if type(m) is not attester.Proposal:
            return None
        return attester.signed_proposal(config, adversary.twin_of(m.block), m.round)

    _plant_extra_message(monkeypatch, twin)
    assert _only(SimConfig(nodes=4, seed=3, faults=()), "C-4", 5_000) == "C-4"


def test_c6_fails_when_a_keeper_also_votes_in_the_round_below(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def below(config: Any, m: Any) -> Any:
        if type(m) is not attester.Vote or m.round == 0:
            return None
        payload = attester.vote_payload(m.phase, m.chain_id, m.height, m.round - 1, m.block_hash)
        return attrs.evolve(m, round=m.round - 1, signature=config.signer.sign(payload))

    _plant_extra_message(monkeypatch, below)
    config = SimConfig(nodes=4, seed=5, faults=("loss",), loss=0.3)
    assert _only(config, "C-6", 30_000) == "C-6"


def test_c7_fails_when_proposals_are_signed_over_other_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attester_state, "PROPOSAL_DOMAIN", b"blockfsm/not-a-proposal\x00")
    assert _only(SimConfig(nodes=4, seed=3, faults=()), "C-7", 5_000) == "C-7"


def test_c8_fails_when_the_certificate_names_another_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = attester_rounds._finalize

    def renamed(config: Any, state: Any, block: Any, round_: int, effects: list[Any]) -> Any:
        out = real(config, state, block, round_, effects)
        for k, e in enumerate(effects):
            if type(e).__name__ == "UpdateHighestCertificate":
                cert = attrs.evolve(e.certificate, block_hash=bytes(32))
                effects[k] = attrs.evolve(e, certificate=cert)
        return out

    monkeypatch.setattr(attester_rounds, "_finalize", renamed)
    assert _only(SimConfig(nodes=4, seed=3, faults=()), "C-8", 5_000) == "C-8"


def test_check_json_lists_every_behaviour_with_how_often_it_acted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from blockfsm.adapters.commands.cli import main
    from blockfsm.adapters.engines.cluster_campaign import ClusterTest

    monkeypatch.setattr(ClusterTest, "long_runs", (10,))  # the plumbing, not 300 s of chaos

    args = ["check", "--no-explore", "--machine", "cluster", "--examples", "3", "--seed", "3"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    import json

    acted = json.loads(result.stdout)["adversary"]["cluster"]
    assert list(acted) == list(adversary.ALL)
    assert sum(acted.values()) > 0


# --- C-L1, a function of the timeout cap, after 1,000 s of chaos ---------------------------------

LONG_CHAOS_MS = 1_000_000


def _after_long_chaos(seed: int) -> dict[str, Any]:
    config = SimConfig(nodes=4, byzantine=1, seed=seed, behaviours=adversary.ALL, faults=FAULTS)
    sim = Simulation(config)
    sim.run(LONG_CHAOS_MS)
    return liveness(sim)


def test_the_liveness_bound_is_the_spec_function_of_the_round_and_the_cap() -> None:
    """(N + 2) rounds from the round at heal, each twice its round timeout, plus the slack; the
    cap bounds it whatever round the chaos left the keepers in."""
    config = node_machine.NodeConfig.make(
        chain_id=7,
        signer=StandInSigner.from_seed(0),
        validators=ValidatorSet.equal([StandInSigner.from_seed(i).public_key for i in range(4)]),
        verifier=StandInVerifier.of([StandInSigner.from_seed(i) for i in range(4)]),
        seed=0,
    ).attester
    assert (
        liveness_bound_ms(config, 4, 0)
        == 2 * (1_000 + 1_500 + 2_000 + 2_500 + 3_000 + 3_500) + 1_000
    )
    capped = 6 * 2 * config.max_round_timeout + FAIR_DELAY_SLACK_MS
    assert liveness_bound_ms(config, 4, 10_000) == liveness_bound_ms(config, 4, 65_000) == capped
    assert liveness_bound_ms(config, 4, 3) > liveness_bound_ms(config, 4, 2)


@pytest.mark.parametrize("seed", [0])
def test_c_l1_holds_within_the_spec_bound_after_1000_s_of_chaos(seed: int) -> None:
    """4 nodes, the Byzantine keeper drawing from every behaviour, every network fault for
    1,000 s of simulated time, then heal: the honest final height grows within the spec's bound
    for the round the keepers are in, and every honest node catches up (C-L2)."""
    result = _after_long_chaos(seed)
    assert result["verdict"] == "held", result
    assert result["C-L1_ms"] <= result["C-L1_bound_ms"]


def test_c_l1_fails_when_round_timeouts_grow_past_what_the_spec_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planted: round timeouts that grow 40 times faster than configured, with no cap. After the
    same 1,000 s of chaos, the rounds the keepers need after heal outlast the spec's bound."""
    monkeypatch.setattr(
        attester_rounds,
        "round_timeout",
        lambda c, r: c.round_timeout + r * c.round_timeout_increment * 40,
    )
    result = _after_long_chaos(0)
    assert result["verdict"] == "failed" and not result["C-L1"], result
