"""I/O orchestration: probes, one health round, delivery, drain and the watch loop.

The engine asks ``core`` what to do and does only the I/O.
"""
