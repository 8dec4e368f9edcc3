"""``qbfailover demo``: the spec's scenarios, live, against two real local qbittorrent-nox instances.

Linux only (it starts qbittorrent-nox and, as root, isolates itself in a private network
namespace); the library and the rest of the CLI stay cross-platform. Everything the demo starts is
stopped when it ends, whatever happens. ``stage`` holds the processes and the VPN switch,
``scenarios`` the script.
"""

from qbfailover.ops.demo.scenarios import Demo, demo_magnet, run_demo
from qbfailover.ops.demo.stage import DemoError, reexec_in_netns

__all__ = ["Demo", "DemoError", "demo_magnet", "reexec_in_netns", "run_demo"]
