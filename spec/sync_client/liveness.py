"""The sync client's liveness properties, SCL-1 to SCL-3, and the fair schedule's tick interval
and default bound they are stated at.
"""

from __future__ import annotations

from blockfsm.spec.language import Liveness

TICK_INTERVAL = 500
"""The fair schedule's tick interval T (ms) used for ``bound_ticks`` at default config (SCL-3's
at a gap of 198 blocks, S = 4 other servers, B = 3 and a round trip of R = 100 ms)."""

DEFAULT_BOUND_MS = 10_000 + 500 + 30_000 + 500 + 60_000 + 500 + 3 * (3_000 + 500) + 500
"""P + T + max_sync_time + T + trigger_timeout + T + B(response_timeout + T) + T at defaults,
with P = 10 s (the server's advertise_time) and B = 3 Byzantine servers."""

LIVENESS = (
    Liveness(
        id="SCL-1",
        statement="once faults stop, if an honest server whose own request_limit c is at least 3 "
        "advertises a committed height A above the client's, the client commits A; in the sync "
        "that does it that server is asked at most ceil(gap / (min(request_limit, c) - 2)) + 1 "
        "times",
        fairness="after heal: every machine ticks every T <= response_timeout; messages are "
        "delivered in order in the round they are sent; honest servers advertise every P <= "
        "advertise_expiry - T and answer every request; the server of the statement runs "
        "request_limit >= 3 and a byte bound that holds three blocks (other honest servers may "
        "run any cap: they are asked in the same round and never blamed); "
        "B Byzantine servers do anything; max_sync_time >= B(response_timeout + T) + 2T",
        bound="P + T + max_sync_time + T + trigger_timeout + T + B(response_timeout + T) + T of "
        "Tick time: the honest server registers, any older sync ends, the timeout trigger fires, "
        "at most B servers are tried first",
        bound_ticks=-(-DEFAULT_BOUND_MS // TICK_INTERVAL),
        catches="a client a Byzantine server can stall: upstream bugs 3, 4 and 6",
    ),
    Liveness(
        id="SCL-2",
        statement="every sync attempt terminates: the client is back in Passive within "
        "max_sync_time + T of the sync's start",
        fairness="Ticks every T after heal, whatever the servers do",
        bound="max_sync_time + T of Tick time",
        bound_ticks=-(-(30_000 + TICK_INTERVAL) // TICK_INTERVAL),
        catches="upstream bug 6: a sync loop that never returns",
    ),
    Liveness(
        id="SCL-3",
        statement="once faults stop, if an honest server whose own request_limit is at least "
        "the client's and whose byte bound is at least max_response_bytes advertises a "
        "committed height A above the client's, the sync that commits A sends at most "
        "ceil(gap / (m - 2)) + 1 + 3S requests before it does, with m = min(request_limit, the "
        "blocks max_response_bytes holds), gap = A - the committed height at that sync's first "
        "request, and S the number of other servers: each other server costs at most three "
        "requests that commit fewer than m - 2 blocks, whatever it answers",
        fairness="SCL-1's: ticks every T, in-order delivery in the round sent, honest servers "
        "advertise every P and answer every request; B Byzantine servers do anything, among "
        "them answer valid blocks a few at a time and win every trigger with a valid "
        "certificate",
        bound="ceil(gap / (m - 2)) + 1 + 3S requests; at a round trip of R per request and "
        "response_timeout per withheld one, (ceil(gap / (m - 2)) + 1 + 3S) R + B "
        "response_timeout of Tick time",
        bound_ticks=-(-((-(-198 // 8) + 1 + 3 * 4) * 100 + 3 * 3_000) // TICK_INTERVAL),
        catches="a Byzantine server setting the catch-up pace: kept 'while it makes progress' "
        "with one to three blocks per answer, and asked first because its certificate "
        "triggered the sync (198 blocks took 57 s against SCL-1's 18.5 s)",
    ),
)
