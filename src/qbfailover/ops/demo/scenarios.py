"""The demo's script: provision both instances, then walk the spec's scenarios and show each outcome.

Each step states what should happen (which state, which instance takes the items) and checks it, so
the demo fails loudly instead of showing something else than it says.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from qbfailover.atomicfile import write_atomically
from qbfailover.config import InstanceConfig, Secret, Settings
from qbfailover.core.health import status_document
from qbfailover.engine.client import AddResult, AsyncResilientClient
from qbfailover.ops.demo.stage import (
    NETNS_FLAG,
    PORT,
    PRIMARY_HOST,
    SECONDARY_HOST,
    VPN_GATEWAY,
    DemoError,
    Instance,
    VpnSwitch,
    port_free,
)
from qbfailover.ops.provision.conf import conf_path, set_ini_values

TITLES = [
    "The Hobbit (Audiobook)",
    "Dune (Audiobook)",
    "Emma (Audiobook)",
    "Persuasion (Audiobook)",
    "Middlemarch (Audiobook)",
    "Ulysses (Audiobook)",
    "Beloved (Audiobook)",
    "Walden (Audiobook)",
    "Hamlet (Audiobook)",
    "Ivanhoe (Audiobook)",
    "Kidnapped (Audiobook)",
    "Rebecca (Audiobook)",
]


def demo_magnet(n: int) -> str:
    """Tracker-less magnets: nothing ever leaves the machine."""
    digest = hashlib.sha1(f"qbfailover-demo:{n}".encode()).hexdigest()
    return f"magnet:?xt=urn:btih:{digest}&dn={TITLES[n % len(TITLES)].replace(' ', '+')}"


class Demo:
    """One run of the demo: its working folder, its two instances, the VPN switch, where items went."""

    def __init__(self, console: Console, workdir: Path) -> None:
        self.console = console
        self.workdir = workdir
        self.password = "demo-" + secrets.token_urlsafe(12)
        port = PORT
        while not (port_free(PRIMARY_HOST, port) and port_free(SECONDARY_HOST, port)):
            port += 1
        self.primary = Instance("primary", PRIMARY_HOST, port, workdir / "primary" / "profile")
        self.secondary = Instance("secondary", SECONDARY_HOST, port, workdir / "secondary" / "profile")
        self.vpn = VpnSwitch()
        self.counter = 0
        self.placed: dict[str, str] = {}

    # --- steps --------------------------------------------------------------------------------

    def provision(self) -> None:
        """Create both profiles with the real CLI, as a user would (the password via the environment)."""
        self.step("Provision both instances with 'qbfailover setup-secondary'")
        env = {**os.environ, "QBF_DEMO_PASSWORD": self.password}
        for inst, ports in ((self.primary, "46881-46900"), (self.secondary, "46921-46940")):
            args = [
                "setup-secondary",
                "--profile",
                str(inst.profile),
                "--webui-port",
                str(inst.port),
                "--username",
                "demo",
                "--password-env",
                "QBF_DEMO_PASSWORD",
                "--bind",
                inst.host,
                "--downloads",
                str(inst.profile.parent / "downloads"),
                "--bt-ports",
                ports,
            ]
            self.console.print(f"[dim]$ qbfailover {' '.join(args)}[/]")
            done = subprocess.run(
                [sys.executable, "-m", "qbfailover", *args], env=env, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise DemoError(
                    f"setup-secondary failed for {inst.name}: {done.stderr.strip() or done.stdout.strip()}"
                )
            self.pin_to_loopback(inst)

    @staticmethod
    def pin_to_loopback(inst: Instance) -> None:
        """Demo only: keep the BitTorrent session on the instance's loopback address.

        A real secondary must reach peers, so setup-secondary does not pin it; the demo's
        instances never need to, and this makes sure they cannot talk to anything but loopback.
        """
        path = conf_path(inst.profile)
        pinned = set_ini_values(
            path.read_text(encoding="utf-8"),
            "BitTorrent",
            {
                "Session\\Interface": "lo",
                "Session\\InterfaceName": "lo",
                "Session\\InterfaceAddress": inst.host,
            },
        )
        write_atomically(path, pinned.encode("utf-8"), keep_mode=True)

    def settings(self) -> Settings:
        """qbfailover's settings for the two instances: the primary requires the VPN, the secondary not."""

        def cfg(inst: Instance, priority: int, requires_vpn: bool) -> InstanceConfig:
            return InstanceConfig(
                name=inst.name,
                url=inst.url,
                username="demo",
                password=Secret(self.password),
                priority=priority,
                requires_vpn=requires_vpn,
                connect_timeout=1.0,
                read_timeout=5.0,
            )

        return Settings(
            instances=(cfg(self.primary, 1, True), cfg(self.secondary, 2, False)),
            vpn=self.vpn.probe(),
            db_path=self.workdir / "ledger.sqlite3",
            deadline=2.0,
        )

    async def status(self, client: AsyncResilientClient) -> str:
        """Print the status table (as 'qbfailover status' shows it) and return the state's name."""
        report = await client.health_check()
        doc = status_document(
            report, client.ledger.counts().get("pending", 0), client.ledger.oldest_pending()
        )
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in ("", "status", "version", "latency", "url / target"):
            table.add_column(col)
        vpn = doc["vpn"]
        assert isinstance(vpn, dict)
        vmark = "[green]✓[/]" if vpn["status"] == "UP" else "[red]✗[/]"
        table.add_row(
            "VPN", f"{vmark} {vpn['status']}", "", _ms(vpn["latency_ms"]), f"{vpn['kind']} {vpn['target']}"
        )
        instances = doc["instances"]
        assert isinstance(instances, list)
        for inst in instances:
            mark = "[green]✓[/]" if inst["status"] == "OK" else "[red]✗[/]"
            table.add_row(
                inst["name"],
                f"{mark} {inst['status']}",
                inst["version"] or "-",
                _ms(inst["latency_ms"]),
                inst["url"] + (f"  [dim]{escape(inst['detail'])}[/]" if inst["status"] != "OK" else ""),
            )
        queue = doc["queue"]
        assert isinstance(queue, dict)
        colour = {"Excellent": "green", "Warning": "yellow", "Info": "cyan", "Critical": "red"}[
            str(doc["verdict"])
        ]
        self.console.print(table)
        self.console.print(
            f"  state [bold]{doc['state']}[/]  [{colour}]{escape(str(doc['summary']))}[/]  "
            f"queue: {queue['pending']} pending  (checked in {doc['duration_ms']} ms)"
        )
        return str(doc["state"])

    async def add(self, client: AsyncResilientClient, n: int) -> AddResult:
        """Add ``n`` fresh demo magnets and show where each went."""
        magnets = [demo_magnet(self.counter + i) for i in range(n)]
        self.counter += n
        self.console.print(f"[dim]$ qbfailover add <{n} magnets>[/]")
        result = await client.add_torrents(magnets, category="audiobooks")
        self.show(result)
        return result

    def show(self, result: AddResult) -> None:
        """One line per item: delivered where, queued or rejected, and why; remembered for the summary."""
        marks = {"delivered": "[green]✓[/]", "queued": "[yellow]…[/]", "rejected": "[red]✗[/]"}
        for r in result.items:
            where = f"→ [bold]{r.instance}[/]" if r.instance else r.state
            self.console.print(
                f"  {marks[r.state]} {escape(r.name):<26} {where}  [dim]({escape(r.reason)})[/]"
            )
            if r.infohash:
                self.placed[r.infohash] = r.instance or "queued"

    def step(self, title: str) -> None:
        """A rule with the scenario's title, so the output reads as a sequence of steps."""
        self.console.print()
        self.console.print(Rule(f"[bold]{title}[/]", align="left"))

    async def scenarios(self) -> dict[str, str]:
        """Start the instances and run scenarios 1-5; returns where each infohash ended up."""
        self.vpn.up()
        for inst in (self.primary, self.secondary):
            inst.start(self.workdir / f"{inst.name}.log")
        self.console.print(
            f"  primary   {self.primary.url} (requires the VPN; gateway probed at {VPN_GATEWAY})\n"
            f"  secondary {self.secondary.url} (local)"
        )
        async with AsyncResilientClient(self.settings()) as client:
            self.step("1. Everything healthy: the primary takes the work")
            expect(await self.status(client), "BOTH_HEALTHY")
            expect_where(await self.add(client, 3), "primary")

            self.step(f"2. The VPN drops (packets to {VPN_GATEWAY} blackholed): failover to the secondary")
            self.vpn.down()
            expect(await self.status(client), "PRIMARY_DOWN")
            expect_where(await self.add(client, 3), "secondary")

            self.step("3. The secondary stops too: nothing reachable, items are queued, nothing lost")
            self.secondary.stop()
            expect(await self.status(client), "BOTH_DOWN")
            expect_where(await self.add(client, 3), None)

            self.step("4. The VPN comes back: the queue drains to the primary")
            self.vpn.up()
            expect(await self.status(client), "SECONDARY_DOWN")
            self.console.print("[dim]$ qbfailover queue drain[/]")
            drained = await client.process_queue()
            self.show(drained)
            expect_where(drained, "primary")

            self.step("5. The secondary restarts: full redundancy again")
            self.secondary.start(self.workdir / "secondary.log")
            expect(await self.status(client), "BOTH_HEALTHY")
            counts = client.ledger.counts()
        self.console.print()
        summary = Table(title="Where every magnet ended up", box=None, header_style="bold")
        summary.add_column("instance")
        summary.add_column("items", justify="right")
        for where in ("primary", "secondary", "queued"):
            summary.add_row(where, str(sum(1 for v in self.placed.values() if v == where)))
        self.console.print(summary)
        self.console.print(
            f"  ledger: {counts.get('delivered', 0)} delivered, {counts.get('pending', 0)} pending, "
            f"{counts.get('rejected', 0)} rejected — nothing lost"
        )
        return self.placed

    def close(self) -> None:
        """Stop both instances and restore the VPN path, whatever state the demo stopped in."""
        for inst in (self.primary, self.secondary):
            with contextlib.suppress(Exception):
                inst.stop()
        self.vpn.close()


def expect(state: str, wanted: str) -> None:
    """Stop the demo when the state is not the one the step announced."""
    if state != wanted:
        raise DemoError(f"expected state {wanted}, saw {state}")


def expect_where(result: AddResult, instance: str | None) -> None:
    """Stop the demo unless every item went to ``instance`` (None: stayed queued)."""
    wrong = [r for r in result.items if r.instance != instance]
    if wrong or not result.items:
        raise DemoError(
            f"expected every item on {instance or 'the queue'}, saw {wrong[0].instance if wrong else 'none'}"
        )


def _ms(value: object) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "-"


def run_demo(console: Console, workdir: Path | None = None, keep: bool = False) -> float:
    """Provision, start, walk through the scenarios, stop everything. Returns seconds taken."""
    if sys.platform != "linux":
        raise DemoError("the demo runs qbittorrent-nox on Linux; on Windows, follow the README's 'Real use'")
    if shutil.which("qbittorrent-nox") is None:
        raise DemoError(
            "qbittorrent-nox is not installed; install it with 'sudo apt-get install qbittorrent-nox' "
            "(or run ./scripts/demo, which does)"
        )
    started = time.perf_counter()
    where = "a private network namespace" if os.environ.get(NETNS_FLAG) == "1" else "this machine's loopback"
    console.print(Rule("[bold]qbfailover demo[/]"))
    console.print(
        f"  two real qbittorrent-nox instances in {where}; tracker-less magnets; nothing leaves the machine"
    )
    owned = workdir is None
    root = Path(tempfile.mkdtemp(prefix="qbfailover-demo-")) if workdir is None else workdir
    demo = Demo(console, root)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        demo.provision()
        asyncio.run(demo.scenarios())
    finally:
        demo.close()
        signal.signal(signal.SIGTERM, previous)
        if owned and not keep:
            shutil.rmtree(root, ignore_errors=True)
    took = time.perf_counter() - started
    console.print(
        f"\n[green]demo finished in {took:.1f} s[/]; every process it started is stopped"
        + (f"; files kept in {root}" if keep or not owned else "")
    )
    return took


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
