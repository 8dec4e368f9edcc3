"""Pure decisions: items, health and its state machine, breaker, routing, delivery outcomes.

Nothing here does I/O (no httpx, sqlite3, socket, subprocess, asyncio, os or time), so every
failover rule can be tested as a table of inputs and the value it decides.
"""
