"""The real node's I/O: the codec, the LMDB store, Ed25519 keys, TLS, the transport, limits,
metrics and the asyncio runtime that drives a machine with them."""
