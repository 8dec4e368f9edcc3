"""``qbfailover setup-secondary``, ``backup`` and ``repair``: thin commands over ``ops.provision``.

Every library error becomes one line on stderr and exit 5 (``helpers.errors_as_lines``); usage
errors exit 2. The password is read from the environment variable named by ``--password-env`` or
prompted twice without echo; it is never printed or logged. ``ops.provision`` is imported inside
the commands, so ``qbfailover --help`` does not pay for it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qbfailover.cli.helpers import EXIT_USAGE, err, errors_as_lines, fail, out
from qbfailover.config import Secret

DEFAULT_PLATFORM = "windows" if sys.platform.startswith("win") else "linux"

ProfileOpt = Annotated[
    Path,
    typer.Option(
        "--profile",
        metavar="DIR",
        help="Profile folder (qBittorrent --profile); the conf is DIR/qBittorrent/config/qBittorrent.conf.",
    ),
]
PasswordEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--password-env",
        metavar="VAR",
        help="Read the WebUI password from this environment variable (else prompt twice, hidden).",
    ),
]


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _password(var: str | None, username: str | None) -> Secret:
    from qbfailover.ops.provision import check_password, password_from_env

    if var:
        return password_from_env(var, os.environ)
    if not _stdin_is_tty():
        fail(
            "no terminal to ask for the password: put it in an environment variable, pass --password-env VAR"
        )
    value = typer.prompt(
        f"WebUI password for {username}" if username else "New WebUI password",
        hide_input=True,
        confirmation_prompt=True,
    )
    return check_password(Secret(value))


def setup_secondary(
    profile: ProfileOpt,
    webui_port: Annotated[
        int | None, typer.Option("--webui-port", metavar="PORT", help="WebUI port (the spec uses 52095).")
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", metavar="NAME", help="WebUI user (same as the primary's).")
    ] = None,
    password_env: PasswordEnvOpt = None,
    downloads: Annotated[
        Path | None,
        typer.Option(
            "--downloads",
            metavar="DIR",
            help="Download folder (default: DIR/../downloads when DIR is named 'profile', as in the spec; "
            "else DIR/downloads). Gets .incomplete/ and .torrents/completed/.",
        ),
    ] = None,
    bt_ports: Annotated[
        str,
        typer.Option(
            "--bt-ports", metavar="LO-HI", help="BitTorrent port range; the first free port is used."
        ),
    ] = "6881-6920",
    bind: Annotated[
        str, typer.Option("--bind", metavar="ADDRESS", help="Address the WebUI listens on.")
    ] = "127.0.0.1",
    platform: Annotated[
        str,
        typer.Option(
            "--platform",
            metavar="linux|windows",
            help="linux: start-secondary.sh + systemd user unit; windows: start_secondary.bat.",
        ),
    ] = DEFAULT_PLATFORM,
    qbittorrent_version: Annotated[
        str | None,
        typer.Option(
            "--qbittorrent-version",
            metavar="X.Y",
            help="qBittorrent version the conf targets (default: asked from qbittorrent-nox, else 4.5).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing files, keeping timestamped backups.")
    ] = False,
    reset_password: Annotated[
        bool,
        typer.Option(
            "--reset-password",
            help="Only set a new password (and --username if given) in the existing conf, keeping a backup.",
        ),
    ] = False,
) -> None:
    """Create the secondary instance's profile, qBittorrent.conf and start scripts (or reset its password)."""
    from qbfailover.ops import provision

    with errors_as_lines():
        if reset_password:
            secret = _password(password_env, username)
            done = provision.reset_password(profile, secret, username)
            out.print(f"password reset in {done.conf} (stored as PBKDF2 only; backup: {done.backup.name})")
            if done.username:
                out.print(f"WebUI user is now {done.username}; update QBITTORRENT_USERNAME if it changed")
            out.print("start the instance again; the new password applies from its next start")
            return
        missing = [flag for flag, v in (("--webui-port", webui_port), ("--username", username)) if v is None]
        if missing:
            fail(f"setup-secondary needs {' and '.join(missing)} (or --reset-password)", EXIT_USAGE)
        assert webui_port is not None and username is not None
        provision.check_username(username)
        secret = _password(password_env, username)
        report = provision.setup_secondary(
            provision.SetupRequest(
                profile=profile,
                webui_port=webui_port,
                username=username,
                password=secret,
                downloads=downloads,
                bt_ports=bt_ports,
                bind=bind,
                platform=platform,
                version=qbittorrent_version,
                force=force,
            )
        )
    _print_setup(report, platform)


def _print_setup(report: object, platform: str) -> None:
    from qbfailover.ops.provision import SetupReport

    assert isinstance(report, SetupReport)
    lay = report.layout
    for d in report.created:
        out.print(f"created  {escape(str(d))}/")
    for b in report.backups:
        out.print(f"backup   {escape(str(b))}")
    for f in report.written:
        out.print(f"wrote    {escape(str(f))}")
    keys = "4.4+" if report.version >= (4, 4) else "pre-4.4"
    out.print(
        f"conf     qBittorrent {report.version[0]}.{report.version[1]} ({keys} key names, from "
        f"{escape(report.version_source)}); mode 0600; password stored as PBKDF2 only"
    )
    out.print(
        f"WebUI    {report.webui}: LocalHostAuth on (password required on localhost), CSRF, clickjacking "
        "and host-header checks on, secure cookie, session 3600 s, ban after 5 failures for 3600 s"
    )
    lo, hi = report.bt_range
    out.print(f"torrent  port {report.bt_port} (first free in {lo}-{hi}); DHT, PeX, LSD, UPnP off; GeoIP off")
    out.print(f"files    downloads {escape(str(lay.downloads))}, logs {escape(str(lay.logs))}")
    if report.binary.note:
        err.print(f"qbfailover: note: {escape(report.binary.note)}")
    if platform == "windows":
        out.print(f"start    {escape(str(lay.start_bat))}")
    else:
        out.print(f"start    {escape(str(lay.start_sh))}")
        out.print(
            f"service  mkdir -p ~/.config/systemd/user && cp {escape(str(lay.systemd_unit))} "
            f"~/.config/systemd/user/ && systemctl --user enable --now {lay.systemd_unit.name}"
        )
    out.print("settings for qbfailover (.env):")
    out.print(f"QBITTORRENT_SECONDARY_URL={report.url}")


def backup(
    profile: ProfileOpt,
    dest: Annotated[
        Path | None,
        typer.Option("--dest", metavar="DIR", help="Where the archive goes (default: the profile's parent)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="tar.gz|zip", help="tar.gz or zip.")] = "zip"
    if DEFAULT_PLATFORM == "windows"
    else "tar.gz",
) -> None:
    """Archive the profile with a timestamp (downloads excluded); SQLite files copied consistently."""
    from qbfailover.ops import provision

    with errors_as_lines():
        report = provision.backup_profile(profile, dest, fmt)
    state = " while qBittorrent was running" if report.was_running else ""
    dbs = (
        f"; databases copied with sqlite3's backup API: {', '.join(report.databases)}"
        if report.databases
        else ""
    )
    out.print(f"wrote {escape(str(report.archive))}: {report.files} file(s){state}{dbs}")
    if report.damaged:
        out.print(f"unreadable database(s) archived byte for byte: {', '.join(report.damaged)}")


def repair(profile: ProfileOpt) -> None:
    """The spec's scenario 4: move torrents.db / BEP.sqlite aside (kept) so qBittorrent can start."""
    from qbfailover.ops import provision

    with errors_as_lines():
        report = provision.repair_profile(profile)
    if report.folder is None:
        out.print("no torrents.db or BEP.sqlite in this profile; nothing to move")
        return
    for rel, health in report.moved:
        out.print(f"moved    {escape(rel)} ({health})")
    out.print(f"kept in  {escape(str(report.folder))}")
    out.print(
        "start the instance again: qBittorrent creates fresh databases; torrents that lived only in the old "
        "ones must be re-added (the qbfailover ledger still has what it delivered)"
    )
