"""The checking engines: campaigns, the simulator, the explorer, ITF traces, replay and the
log monitor. They drive the pure core deterministically; nothing here touches a network."""
