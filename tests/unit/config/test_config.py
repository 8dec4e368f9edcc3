"""Settings: the spec's variables, .env files and TOML, with one-line errors that name the key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qbfailover.config import (
    InstanceConfig,
    Secret,
    Settings,
    VpnProbeConfig,
    default_db_path,
    load_settings,
    read_dotenv,
)
from qbfailover.errors import ConfigError

PASSWORD = "hunter2-Zq9"  # a marker that must never show up in a repr or a message
PRIMARY = "http://nas.example:52095/"
SECONDARY = "http://localhost:52095/"


def from_env(tmp_path: Path, **env: str) -> Settings:
    return load_settings(env=env, dotenv=tmp_path / ".env")


def env_error(tmp_path: Path, **env: str) -> str:
    with pytest.raises(ConfigError) as exc:
        from_env(tmp_path, **env)
    message = str(exc.value)
    assert "\n" not in message and PASSWORD not in message
    return message


def from_toml(tmp_path: Path, text: str, **env: str) -> Settings:
    path = tmp_path / "qbfailover.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(config_path=path, env=env, dotenv=tmp_path / ".env")


def toml_error(tmp_path: Path, text: str, **env: str) -> str:
    with pytest.raises(ConfigError) as exc:
        from_toml(tmp_path, text, **env)
    message = str(exc.value)
    assert "\n" not in message and PASSWORD not in message
    assert message.startswith(str(tmp_path / "qbfailover.toml"))
    return message


# --- the spec's environment variables --------------------------------------------------------------


def test_spec_variables_give_primary_and_secondary(tmp_path: Path) -> None:
    """QBITTORRENT_URL/SECONDARY_URL/USERNAME/PASSWORD: two instances sharing the credentials."""
    s = from_env(
        tmp_path,
        QBITTORRENT_URL=PRIMARY,
        QBITTORRENT_SECONDARY_URL=SECONDARY,
        QBITTORRENT_USERNAME="TopherGutbrod",
        QBITTORRENT_PASSWORD=PASSWORD,
    )
    primary, secondary = s.instances
    shape = [(i.name, i.url, i.priority, i.requires_vpn) for i in s.instances]
    assert shape == [("primary", PRIMARY, 1, False), ("secondary", SECONDARY, 2, False)]
    assert primary.username == secondary.username == "TopherGutbrod"
    assert primary.password.reveal() == secondary.password.reveal() == PASSWORD
    assert [(i.host, i.port) for i in s.instances] == [("nas.example", 52095), ("localhost", 52095)]
    assert s.vpn is None and s.deadline == 2.0 and s.names == ["primary", "secondary"]
    assert s.instance("secondary") is secondary


def test_primary_only(tmp_path: Path) -> None:
    """Without QBITTORRENT_SECONDARY_URL there is one instance (the spec's PRIMARY_ONLY)."""
    s = from_env(tmp_path, QBITTORRENT_URL=PRIMARY)
    assert [i.name for i in s.instances] == ["primary"]
    assert s.instances[0].username == "" and not s.instances[0].password


def test_secondary_overrides(tmp_path: Path) -> None:
    """QBITTORRENT_SECONDARY_USERNAME/PASSWORD override the shared credentials for the secondary only."""
    s = from_env(
        tmp_path,
        QBITTORRENT_URL=PRIMARY,
        QBITTORRENT_SECONDARY_URL=SECONDARY,
        QBITTORRENT_USERNAME="alice",
        QBITTORRENT_PASSWORD="shared",
        QBITTORRENT_SECONDARY_USERNAME="bob",
        QBITTORRENT_SECONDARY_PASSWORD=PASSWORD,
    )
    primary, secondary = s.instances
    assert (primary.username, primary.password.reveal()) == ("alice", "shared")
    assert (secondary.username, secondary.password.reveal()) == ("bob", PASSWORD)


def test_missing_primary_url_names_the_key(tmp_path: Path) -> None:
    """No QBITTORRENT_URL (or a blank one) is a ConfigError naming QBITTORRENT_URL and the fix."""
    assert "QBITTORRENT_URL is not set" in env_error(tmp_path)
    assert "QBITTORRENT_URL is not set" in env_error(tmp_path, QBITTORRENT_URL="   ")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("QBITTORRENT_URL", "ftp://host/"),
        ("QBITTORRENT_URL", "nas.example:52095"),
        ("QBITTORRENT_URL", "http://"),
        ("QBITTORRENT_URL", "http://host:99999/"),
        ("QBITTORRENT_URL", "http://host:port/"),
        ("QBITTORRENT_URL", "http://[::1/"),
        ("QBITTORRENT_URL", f"http://admin:{PASSWORD}@host:8080/"),
        ("QBITTORRENT_URL", f"http://admin:{PASSWORD}@host:bad/"),
        ("QBITTORRENT_URL", f"ftp://admin:{PASSWORD}@host/"),
        ("QBITTORRENT_SECONDARY_URL", "localhost:52095"),
        ("QBITTORRENT_SECONDARY_URL", f"http://{PASSWORD}@localhost/"),
    ],
)
def test_bad_urls_name_the_key_and_hide_credentials(tmp_path: Path, key: str, value: str) -> None:
    """A bad URL names its variable; credentials in the URL are refused and never echoed."""
    env = {"QBITTORRENT_URL": PRIMARY, key: value}
    assert key in env_error(tmp_path, **env)


def test_db_path_and_deadline(tmp_path: Path) -> None:
    """QBFAILOVER_DB sets the ledger path (~ expanded); QBFAILOVER_DEADLINE the health deadline."""
    s = from_env(tmp_path, QBITTORRENT_URL=PRIMARY, QBFAILOVER_DB="~/q/ledger.db", QBFAILOVER_DEADLINE="0.5")
    assert s.db_path == Path("~/q/ledger.db").expanduser() and s.deadline == 0.5
    assert from_env(tmp_path, QBITTORRENT_URL=PRIMARY).db_path == default_db_path()


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", ""])
def test_bad_deadline_names_the_key(tmp_path: Path, value: str) -> None:
    """QBFAILOVER_DEADLINE must be a finite positive number of seconds."""
    assert "QBFAILOVER_DEADLINE" in env_error(tmp_path, QBITTORRENT_URL=PRIMARY, QBFAILOVER_DEADLINE=value)


@pytest.mark.parametrize(
    ("gateway", "kind", "target"),
    [
        ("gateway.example", "icmp", "gateway.example"),
        ("  127.0.0.3 ", "icmp", "127.0.0.3"),
        ("fe80::1", "icmp", "fe80::1"),
        ("vpn-gw.lan", "icmp", "vpn-gw.lan"),
        ("tcp://127.0.0.3:8000", "tcp", "127.0.0.3:8000"),
        ("TCP://[::1]:443", "tcp", "[::1]:443"),
        ("http://127.0.0.1:8000/v1/openvpn/status", "http", "http://127.0.0.1:8000/v1/openvpn/status"),
        ("https://gluetun.lan/v1/publicip/ip", "http", "https://gluetun.lan/v1/publicip/ip"),
        ("interface:wg0", "interface", "wg0"),
        ("interface:tun0 ", "interface", "tun0"),
    ],
)
def test_vpn_gateway_forms(tmp_path: Path, gateway: str, kind: str, target: str) -> None:
    """QBITTORRENT_VPN_GATEWAY: an address pings, tcp://, http(s):// and interface: pick the probe."""
    s = from_env(tmp_path, QBITTORRENT_URL=PRIMARY, QBITTORRENT_VPN_GATEWAY=gateway)
    assert s.vpn == VpnProbeConfig(kind=kind, target=target)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "gateway",
    [
        "not an address",
        "-fc100000",
        "127.0.0.0/24",
        "udp://127.0.0.3:53",
        "tcp://127.0.0.3",
        "tcp://127.0.0.3:0",
        "tcp://127.0.0.3:70000",
        "tcp://:80",
        "http://",
        "interface:",
        "host;reboot",
        "a" * 300,
    ],
)
def test_bad_vpn_gateway_names_the_key(tmp_path: Path, gateway: str) -> None:
    """A gateway that is not an address, tcp://host:port, http(s) URL or interface:NAME is refused."""
    message = env_error(tmp_path, QBITTORRENT_URL=PRIMARY, QBITTORRENT_VPN_GATEWAY=gateway)
    assert "QBITTORRENT_VPN_GATEWAY" in message


def test_primary_requires_vpn_only_with_a_gateway(tmp_path: Path) -> None:
    """The primary requires the VPN exactly when a gateway is configured; the secondary never does."""
    base = {"QBITTORRENT_URL": PRIMARY, "QBITTORRENT_SECONDARY_URL": SECONDARY}
    with_vpn = from_env(tmp_path, **base, QBITTORRENT_VPN_GATEWAY="127.0.0.3")
    without = from_env(tmp_path, **base)
    blank = from_env(tmp_path, **base, QBITTORRENT_VPN_GATEWAY="  ")
    assert [i.requires_vpn for i in with_vpn.instances] == [True, False]
    assert [i.requires_vpn for i in without.instances] == [False, False]
    assert blank.vpn is None and not blank.instances[0].requires_vpn


# --- .env files -------------------------------------------------------------------------------------


def test_dotenv_syntax(tmp_path: Path) -> None:
    """export, quotes, comments, '=' and '#' inside values, and blank lines are read as dotenv does."""
    path = tmp_path / ".env"
    path.write_text(
        "\ufeff# a comment\n"
        "\n"
        "PLAIN=value\n"
        "export EXPORTED=yes\n"
        "  SPACED  =  padded  \n"
        'DOUBLE="with spaces # not a comment"\n'
        "SINGLE='single'\n"
        'QUOTED_COMMENT="quoted" # trailing comment\n'
        "INLINE=value # comment\n"
        "HASH=pa#ss\n"
        "EQUALS=a=b=c\n"
        "EMPTY=\n"
        'EMPTY_QUOTED=""\n'
        "   # indented comment\n",
        encoding="utf-8",
    )
    assert read_dotenv(path) == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SPACED": "padded",
        "DOUBLE": "with spaces # not a comment",
        "SINGLE": "single",
        "QUOTED_COMMENT": "quoted",
        "INLINE": "value",
        "HASH": "pa#ss",
        "EQUALS": "a=b=c",
        "EMPTY": "",
        "EMPTY_QUOTED": "",
    }


def test_missing_dotenv_is_empty(tmp_path: Path) -> None:
    """No .env file is not an error: the environment alone is used."""
    assert read_dotenv(tmp_path / "absent.env") == {}


@pytest.mark.parametrize(
    "line",
    [
        "JUST_A_WORD",
        "=value",
        "BAD KEY=value",
        "1KEY=value",
        "KÉY=value",
        f'QBITTORRENT_PASSWORD="{PASSWORD}',
        f"QBITTORRENT_PASSWORD='{PASSWORD}' trailing",
    ],
)
def test_bad_dotenv_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    """A line that is not KEY=VALUE (or has a stray quote) is a ConfigError naming file:line, no value."""
    path = tmp_path / ".env"
    path.write_text(f"QBITTORRENT_URL={PRIMARY}\n# comment\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_settings(env={}, dotenv=path)
    message = str(exc.value)
    assert message.startswith(f"{path}:3: ") and PASSWORD not in message and "\n" not in message


def test_environment_overrides_dotenv(tmp_path: Path) -> None:
    """The process environment wins over .env; .env fills in what the environment lacks."""
    path = tmp_path / ".env"
    path.write_text(
        f"QBITTORRENT_URL=http://from-dotenv:1/\nQBITTORRENT_SECONDARY_URL={SECONDARY}\n"
        f"QBITTORRENT_PASSWORD={PASSWORD}\n",
        encoding="utf-8",
    )
    s = load_settings(env={"QBITTORRENT_URL": PRIMARY}, dotenv=path)
    assert [i.url for i in s.instances] == [PRIMARY, SECONDARY]
    assert s.instances[1].password.reveal() == PASSWORD


def test_qbfailover_config_variable_selects_toml(tmp_path: Path) -> None:
    """QBFAILOVER_CONFIG (environment or .env) points at a TOML file, which then wins."""
    toml = tmp_path / "c.toml"
    toml.write_text('[[instances]]\nname = "only"\nurl = "http://127.0.0.1:1/"\n', encoding="utf-8")
    (tmp_path / ".env").write_text(f"QBFAILOVER_CONFIG={toml}\n", encoding="utf-8")
    s = load_settings(env={"QBITTORRENT_URL": PRIMARY}, dotenv=tmp_path / ".env")
    assert s.names == ["only"]


# --- TOML -------------------------------------------------------------------------------------------

THREE = """
[settings]
deadline = 1.5
cooldown = 10
auth_cooldown = 60
batch_size = 50
confirm_timeout = 2
db = "~/ledger.sqlite3"

[vpn]
kind = "tcp"
target = "127.0.0.3:1194"
timeout = 0.5

[[instances]]
name = "nas"
url = "http://nas.example:52095/"
username = "alice"
password_env = "NAS_PASSWORD"
priority = 1
requires_vpn = true

[[instances]]
name = "spare"
url = "https://spare.lan:8443/"
password = "plain-in-file"
priority = 3
verify = "/etc/ssl/spare-ca.pem"
connect_timeout = 0.25
read_timeout = 4

[[instances]]
name = "local"
url = "http://127.0.0.1:52095/"
priority = 2
verify = false
"""


def test_toml_with_three_instances(tmp_path: Path) -> None:
    """A TOML file describes N instances, the VPN probe and the tunables."""
    s = from_toml(tmp_path, THREE, NAS_PASSWORD=PASSWORD)
    assert s.names == ["nas", "spare", "local"]
    assert [i.name for i in s.by_priority] == ["nas", "local", "spare"]
    nas, spare, local = s.instances
    assert (nas.username, nas.password.reveal(), nas.requires_vpn) == ("alice", PASSWORD, True)
    assert (spare.password.reveal(), spare.verify, spare.connect_timeout, spare.read_timeout) == (
        "plain-in-file",
        "/etc/ssl/spare-ca.pem",
        0.25,
        4.0,
    )
    assert (spare.port, local.verify, local.requires_vpn, local.password.reveal()) == (8443, False, False, "")
    assert s.vpn == VpnProbeConfig(kind="tcp", target="127.0.0.3:1194", timeout=0.5)
    assert (s.deadline, s.cooldown, s.auth_cooldown, s.batch_size, s.confirm_timeout) == (1.5, 10, 60, 50, 2)
    assert s.db_path == Path("~/ledger.sqlite3").expanduser()


def test_toml_defaults(tmp_path: Path) -> None:
    """Priorities default to file order, db to QBFAILOVER_DB, and tunables to their defaults."""
    s = from_toml(
        tmp_path,
        '[[instances]]\nname = "a"\nurl = "http://127.0.0.1:1/"\n[[instances]]\nname = "b"\nurl = "http://127.0.0.1:2/"\n',
        QBFAILOVER_DB=str(tmp_path / "l.db"),
    )
    assert [i.priority for i in s.instances] == [1, 2]
    assert s.db_path == tmp_path / "l.db" and s.vpn is None
    assert (s.deadline, s.cooldown, s.auth_cooldown, s.batch_size) == (2.0, 30.0, 900.0, 5000)


ONE = '[[instances]]\nname = "a"\nurl = "http://127.0.0.1:1/"\n'


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "at least one [[instances]]"),
        ("instances = 3\n", "at least one [[instances]]"),
        ('[[instances]]\nurl = "http://h/"\n', "instances[0].name is missing"),
        ('[[instances]]\nname = "  "\nurl = "http://h/"\n', "instances[0].name is missing"),
        ('[[instances]]\nname = "a"\n', "instances[0].url is missing"),
        ('[[instances]]\nname = "a"\nurl = "h:1"\n', "instances[0].url"),
        ('[[instances]]\nname = "a"\nurl = "http://u:' + PASSWORD + '@h/"\n', "credentials"),
        (ONE + 'password_env = "UNSET_VAR"\n', "UNSET_VAR"),
        (ONE + 'password = "x"\npassword_env = "SET_VAR"\n', "both password and password_env"),
        (ONE + "password = 5\n", "password must be a string"),
        (ONE + "username = 5\n", "username must be a string"),
        (ONE + 'api_key_env = "UNSET_VAR"\n', "UNSET_VAR"),
        (ONE + ONE, "repeated: a"),
        (ONE + ONE.replace('"a"', '" a "'), "repeated: a"),
        (ONE + "requires_vpn = true\n", "no [vpn] table"),
        (ONE + 'requires_vpn = "yes"\n', "requires_vpn must be true or false"),
        (ONE + "priority = 0\n", "priority"),
        (ONE + "priority = -1\n", "priority"),
        (ONE + "priority = 1.5\n", "priority"),
        (ONE + 'priority = "1"\n', "priority"),
        (ONE + "priority = true\n", "priority"),
        (ONE + "connect_timeout = 0\n", "connect_timeout"),
        (ONE + 'read_timeout = "10"\n', "read_timeout"),
        (ONE + "read_timeout = nan\n", "read_timeout"),
        (ONE + "read_timeout = inf\n", "read_timeout"),
        ("[settings]\nbatch_size = 0.5\n" + ONE, "batch_size"),
        ("[settings]\ndeadline = -1\n" + ONE, "deadline"),
        ("[settings]\ncooldown = false\n" + ONE, "cooldown"),
        ("settings = 1\n" + ONE, "[settings] must be a table"),
        (ONE + "verify = 1\n", "verify"),
        (ONE + 'verify = ""\n', "verify"),
        (ONE + "requires-vpn = true\n", "did you mean requires_vpn?"),
        (ONE + "pasword = 'x'\n", "did you mean password?"),
        ('vpn = "127.0.0.3"\n' + ONE, "[vpn] must be a table"),
        ('[vpn]\nkind = "udp"\ntarget = "x"\n' + ONE, "vpn.kind"),
        ('[vpn]\nkind = "icmp"\n' + ONE, "vpn.target is missing"),
        ('[vpn]\nkind = "icmp"\ntarget = "-f"\n' + ONE, "vpn.target"),
        ('[vpn]\nkind = "tcp"\ntarget = "127.0.0.3"\n' + ONE, "vpn.target"),
        ('[vpn]\nkind = "http"\ntarget = "127.0.0.3"\n' + ONE, "vpn.target"),
        ('[vpn]\nkind = "interface"\ntarget = "a/b"\n' + ONE, "vpn.target"),
        ('[vpn]\ntarget = "127.0.0.3"\ntimeout = 0\n' + ONE, "vpn.timeout"),
        ('[vpn]\ntarget = "127.0.0.3"\ntargte = "x"\n' + ONE, "did you mean target?"),
        ("[[instances]\nname = 'a'\n", "invalid TOML"),
        ('[[instances]]\nname = "a\n', "invalid TOML"),
        (f'[[instances]]\npassword = "{PASSWORD}\n', "invalid TOML"),
    ],
)
def test_bad_toml_is_one_line_naming_the_file_and_key(tmp_path: Path, text: str, why: str) -> None:
    """Every TOML mistake is a one-line ConfigError naming the file and the key, never a secret."""
    assert why in toml_error(tmp_path, text, SET_VAR="x")


def test_password_env(tmp_path: Path) -> None:
    """password_env reads the password from the environment (or .env) at load time."""
    (tmp_path / ".env").write_text(f"FROM_DOTENV={PASSWORD}\n", encoding="utf-8")
    s = from_toml(tmp_path, ONE + 'password_env = "FROM_DOTENV"\n')
    assert s.instances[0].password.reveal() == PASSWORD


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ('"/ca.pem"', "/ca.pem")])
def test_verify_forms(tmp_path: Path, value: str, expected: bool | str) -> None:
    """verify is true, false or a CA bundle path."""
    assert from_toml(tmp_path, ONE + f"verify = {value}\n").instances[0].verify == expected


@pytest.mark.parametrize(
    ("table", "kind", "target"),
    [
        ('target = "127.0.0.3"', "icmp", "127.0.0.3"),
        ('kind = "icmp"\ntarget = "gw.lan"', "icmp", "gw.lan"),
        ('kind = "interface"\ntarget = "wg0"', "interface", "wg0"),
        (
            'kind = "http"\ntarget = "http://127.0.0.1:8000/v1/openvpn/status"',
            "http",
            "http://127.0.0.1:8000/v1/openvpn/status",
        ),
    ],
)
def test_toml_vpn_kinds(tmp_path: Path, table: str, kind: str, target: str) -> None:
    """[vpn] kind defaults to icmp; interface and http targets are accepted as given."""
    s = from_toml(tmp_path, f"[vpn]\n{table}\n" + ONE + "requires_vpn = true\n")
    assert (s.vpn is not None, s.vpn and s.vpn.kind, s.vpn and s.vpn.target) == (True, kind, target)
    assert s.instances[0].requires_vpn


def test_missing_toml_file_names_it(tmp_path: Path) -> None:
    """--config pointing nowhere is a ConfigError naming the path."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_path=tmp_path / "nope.toml", env={}, dotenv=tmp_path / ".env")


def test_unknown_instance_name(tmp_path: Path) -> None:
    """Settings.instance() of an unknown name lists the known ones."""
    s = from_toml(tmp_path, ONE)
    with pytest.raises(ConfigError, match="no instance named 'zz'; known: a"):
        s.instance("zz")


# --- secrets ------------------------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    """Secret's repr, str and format hide the value; reveal(), bool and equality still work."""
    secret = Secret(PASSWORD)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret]), repr({"p": secret})):
        assert PASSWORD not in shown and "********" in shown
    assert secret.reveal() == PASSWORD and secret == Secret(PASSWORD) and secret != Secret("other")
    assert bool(secret) and not Secret("")
    assert hash(secret) == hash(Secret(PASSWORD))


def test_settings_and_instance_reprs_hide_passwords(tmp_path: Path) -> None:
    """repr/str of Settings and InstanceConfig never contain a password or API key."""
    s = from_toml(
        tmp_path,
        ONE + f'password = "{PASSWORD}"\napi_key_env = "KEY"\n',
        KEY=PASSWORD + "-api",
    )
    env_settings = from_env(tmp_path, QBITTORRENT_URL=PRIMARY, QBITTORRENT_PASSWORD=PASSWORD)
    inst: InstanceConfig = s.instances[0]
    assert inst.password.reveal() == PASSWORD and inst.api_key is not None
    for shown in (repr(s), str(s), repr(inst), str(inst), repr(env_settings), repr(s.instances)):
        assert PASSWORD not in shown


# --- default ledger location ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("win32", {"LOCALAPPDATA": "{tmp}/LocalAppData"}, "{tmp}/LocalAppData/qbfailover/ledger.sqlite3"),
        ("win32", {}, "{home}/AppData/Local/qbfailover/ledger.sqlite3"),
        (
            "darwin",
            {"XDG_STATE_HOME": "{tmp}/ignored"},
            "{home}/Library/Application Support/qbfailover/ledger.sqlite3",
        ),
        ("linux", {"XDG_STATE_HOME": "{tmp}/state"}, "{tmp}/state/qbfailover/ledger.sqlite3"),
        ("linux", {}, "{home}/.local/state/qbfailover/ledger.sqlite3"),
        ("freebsd14", {"XDG_STATE_HOME": ""}, "{home}/.local/state/qbfailover/ledger.sqlite3"),
    ],
)
def test_default_db_path_per_platform(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, platform: str, env: dict[str, str], expected: str
) -> None:
    """The ledger defaults to LOCALAPPDATA on Windows, Application Support on macOS, XDG state elsewhere."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for key in ("LOCALAPPDATA", "XDG_STATE_HOME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(tmp=tmp_path))
    monkeypatch.setattr(sys, "platform", platform)
    assert default_db_path() == Path(expected.format(tmp=tmp_path, home=home))
