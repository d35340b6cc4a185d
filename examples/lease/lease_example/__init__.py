"""A lease, checked by blockfsm's engines: one owner at a time, for at most ``lease_time``
milliseconds. The example package of docs/guides/new-machine.md."""
