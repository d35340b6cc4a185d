"""Everything that touches the world: CLI, campaign runner, crypto, storage, transport."""
