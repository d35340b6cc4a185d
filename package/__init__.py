"""blockfsm: formally specified, pure state machines for block sync and block production.

The import package has three layers, each in its own top-level folder of the source tree:

- ``blockfsm.spec``: the declarative specification (control states, transition rows, invariants,
  liveness properties), the conformance checker, and the Hypothesis strategies and campaigns;
- ``blockfsm.machine``: the pure core (``step(config, state, event, view) -> Step``);
- ``blockfsm.adapters``: everything that touches the world (CLI, crypto, storage, transport).
"""

__version__ = "0.1.0"
