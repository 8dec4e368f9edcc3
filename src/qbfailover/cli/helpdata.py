"""Typer's ``--help`` pages, saved by ``python -m qbfailover.cli.helpgen``: do not edit by hand.

``cli.helptext`` prints a page only while ``CHECKSUM`` matches ``FILES`` (the sources it came from).
"""

# fmt: off

CHECKSUM = 'b1ec822c'
PLATFORM = 'linux'
FILES = (
    'cli/__init__.py',
    'cli/add.py',
    'cli/demo.py',
    'cli/entry.py',
    'cli/failback.py',
    'cli/helpers.py',
    'cli/helpgen.py',
    'cli/helptext.py',
    'cli/ledger.py',
    'cli/program.py',
    'cli/provision.py',
    'cli/queue.py',
    'cli/serve.py',
    'cli/status.py',
    'cli/watch.py',
)
PAGES = {
    '': """\
Usage: qbfailover [OPTIONS] COMMAND [ARGS]...

  Deliver magnets and .torrent files to qBittorrent with VPN-aware failover
  and a durable queue.

Options:
  --help  Show this message and exit.

Commands:
  add              Record items, deliver them to the best healthy...
  status           The monitor: VPN, each instance, state, queue, verdict.
  unblock          Forget login failures, bans and open breakers, after...
  demo             Live demo: two real local qbittorrent-nox instances...
  watch            Run as a service: health every interval, transitions...
  failback         Move items delivered to a lower-priority instance back...
  serve            Serve qBittorrent's Web API with failover behind it:...
  doctor           Diagnose settings, VPN, each WebUI, local processes,...
  setup-secondary  Create the secondary instance's profile,...
  backup           Archive the profile with a timestamp (downloads...
  repair           The spec's scenario 4: move torrents.db / BEP.sqlite...
  queue            Inspect and process the durable queue (the ledger).
  ledger           Manage the ledger itself: move a host's SQLite queue...
""",
    'add': """\
Usage: qbfailover add [OPTIONS] [items]...

  Record items, deliver them to the best healthy instance, queue what cannot
  go now.

Arguments:
  items...  Magnet links, http(s) URLs or .torrent paths.

Options:
  -f, --from-file <str>  Read items, one per line, from PATH ('-' for stdin).
  --category <str>       qBittorrent category (created if missing).
  --tags <str>           Comma-separated tags.
  --savepath <str>       Download folder on the instance.
  --paused               Add stopped/paused.
  --json                 Print the stable JSON document instead of text.
  -c, --config <path>    TOML file describing the instances (else
                         QBFAILOVER_CONFIG, else the spec's variables).  [env
                         var: QBFAILOVER_CONFIG]
  --help                 Show this message and exit.
""",
    'status': """\
Usage: qbfailover status [OPTIONS]

  The monitor: VPN, each instance, state, queue, verdict. Exit 0 healthy, 1
  warning, 2 critical.

Options:
  --json                        Print the stable JSON document instead of
                                text.
  -w, --watch                   Refresh in place until Ctrl-C (needs a
                                terminal).
  -n, --interval <float range>  Seconds between refreshes with --watch.
                                [default: 2.0; x>=0.1]
  -c, --config <path>           TOML file describing the instances (else
                                QBFAILOVER_CONFIG, else the spec's variables).
                                [env var: QBFAILOVER_CONFIG]
  --help                        Show this message and exit.
""",
    'unblock': """\
Usage: qbfailover unblock [OPTIONS] [instance]

  Forget login failures, bans and open breakers, after you fixed the cause.

Arguments:
  instance  Instance name (default: all).

Options:
  -c, --config <path>  TOML file describing the instances (else
                       QBFAILOVER_CONFIG, else the spec's variables).  [env
                       var: QBFAILOVER_CONFIG]
  --help               Show this message and exit.
""",
    'demo': """\
Usage: qbfailover demo [OPTIONS]

  Live demo: two real local qbittorrent-nox instances through the spec's
  failover scenarios.

Options:
  --workdir <path>  Keep profiles and the ledger here (default: a temp dir).
  --keep            Do not delete the temp dir afterwards.
  --help            Show this message and exit.
""",
    'watch': """\
Usage: qbfailover watch [OPTIONS]

  Run as a service: health every interval, transitions logged and notified,
  queue drained.

Options:
  -i, --interval <float range>    Seconds between health checks.  [default:
                                  10.0; x>=0.01]
  --metrics-port <int range>      Serve the status page, /metrics and /status
                                  on this port (0: no server).  [env var:
                                  QBFAILOVER_METRICS_PORT; default: 9911;
                                  0<=x<=65535]
  --metrics-address <str>         Address to bind the metrics server and
                                  status page to (loopback).  [default:
                                  127.0.0.1]
  --base-path <str>               URL path the status page is served under
                                  behind a reverse proxy (e.g. /qbfailover).
                                  [env var: QBFAILOVER_BASE_PATH]
  --failback                      Move items back to the primary once it has
                                  been healthy for a while.
  --failback-settle <float range>
                                  Seconds the primary must stay healthy before
                                  --failback moves items.  [default: 300.0;
                                  x>=0.0]
  --failback-grace <float range>  Seconds between adding an item to the
                                  primary and removing it from the secondary.
                                  [default: 10.0; x>=0.0]
  --log-format <str>              Log line format: text or json.  [default:
                                  text]
  --log-level <str>               debug, info, warning or error.  [default:
                                  info]
  -c, --config <path>             TOML file describing the instances (else
                                  QBFAILOVER_CONFIG, else the spec's
                                  variables).  [env var: QBFAILOVER_CONFIG]
  --help                          Show this message and exit.
""",
    'failback': """\
Usage: qbfailover failback [OPTIONS]

  Move items delivered to a lower-priority instance back to the best healthy
  one, safely.

Options:
  --dry-run              Print the plan (what moves where, what stays and
                         why); touch nothing.
  --include-complete     Also move complete (seeding) torrents, re-checked on
                         the target.
  --limit <int range>    Move at most N items this run.  [x>=1]
  --tag <str>            Also move torrents with this tag on lower-priority
                         instances.
  --map-path <str>       SOURCE=TARGET save-path prefix mapping (repeatable);
                         else the target's default.
  --keep-files           Keep the source's partial data of moved incomplete
                         torrents.
  --grace <float range>  Seconds between adding items to the target and
                         removing them from the source.  [default: 10.0;
                         x>=0.0]
  --history              List the journaled moves instead.
  --json                 Print the stable JSON document instead of text.
  -c, --config <path>    TOML file describing the instances (else
                         QBFAILOVER_CONFIG, else the spec's variables).  [env
                         var: QBFAILOVER_CONFIG]
  --help                 Show this message and exit.
""",
    'serve': """\
Usage: qbfailover serve [OPTIONS]

  Serve qBittorrent's Web API with failover behind it: point Sonarr & co.
  here.

Options:
  -l, --listen <str>              Address and port to serve the Web API on.
                                  [env var: QBFAILOVER_LISTEN; default:
                                  127.0.0.1:8080]
  --server-domains <str>          ';'-separated host names clients may use in
                                  the Host header (wildcards allowed).  [env
                                  var: QBFAILOVER_SERVER_DOMAINS; default:
                                  localhost]
  -i, --interval <float range>    Seconds between health checks.  [default:
                                  10.0; x>=0.01]
  --failback                      Move items back to the primary once it has
                                  been healthy for a while.
  --failback-settle <float range>
                                  Seconds the primary must stay healthy before
                                  --failback moves items.  [default: 300.0;
                                  x>=0.0]
  --failback-grace <float range>  Seconds between adding an item to the
                                  primary and removing it from the secondary.
                                  [default: 10.0; x>=0.0]
  --log-format <str>              Log line format: text or json.  [default:
                                  text]
  --log-level <str>               debug, info, warning or error.  [default:
                                  info]
  -c, --config <path>             TOML file describing the instances (else
                                  QBFAILOVER_CONFIG, else the spec's
                                  variables).  [env var: QBFAILOVER_CONFIG]
  --help                          Show this message and exit.
""",
    'doctor': """\
Usage: qbfailover doctor [OPTIONS]

  Diagnose settings, VPN, each WebUI, local processes, disk space and the
  queue.

  Each check is PASS, WARN or FAIL with a one-line fix. Exit 0 all PASS, 1
  WARN, 2 FAIL.

Options:
  --json               Print the stable JSON document instead of text.
  -c, --config <path>  TOML file describing the instances (else
                       QBFAILOVER_CONFIG, else the spec's variables).  [env
                       var: QBFAILOVER_CONFIG]
  --help               Show this message and exit.
""",
    'setup-secondary': """\
Usage: qbfailover setup-secondary [OPTIONS]

  Create the secondary instance's profile, qBittorrent.conf and start scripts
  (or reset its password).

Options:
  --profile DIR              Profile folder (qBittorrent --profile); the conf
                             is DIR/qBittorrent/config/qBittorrent.conf.
                             [required]
  --webui-port PORT          WebUI port (the spec uses 52095).
  --username NAME            WebUI user (same as the primary's).
  --password-env VAR         Read the WebUI password from this environment
                             variable (else prompt twice, hidden).
  --downloads DIR            Download folder (default: DIR/../downloads when
                             DIR is named 'profile', as in the spec; else
                             DIR/downloads). Gets .incomplete/ and
                             .torrents/completed/.
  --bt-ports LO-HI           BitTorrent port range; the first free port is
                             used.  [default: 6881-6920]
  --bind ADDRESS             Address the WebUI listens on.  [default:
                             127.0.0.1]
  --platform linux|windows   linux: start-secondary.sh + systemd user unit;
                             windows: start_secondary.bat.  [default: linux]
  --qbittorrent-version X.Y  qBittorrent version the conf targets (default:
                             asked from qbittorrent-nox, else 4.5).
  --force                    Replace existing files, keeping timestamped
                             backups.
  --reset-password           Only set a new password (and --username if given)
                             in the existing conf, keeping a backup.
  --help                     Show this message and exit.
""",
    'backup': """\
Usage: qbfailover backup [OPTIONS]

  Archive the profile with a timestamp (downloads excluded); SQLite files
  copied consistently.

Options:
  --profile DIR        Profile folder (qBittorrent --profile); the conf is
                       DIR/qBittorrent/config/qBittorrent.conf.  [required]
  --dest DIR           Where the archive goes (default: the profile's parent).
  --format tar.gz|zip  tar.gz or zip.  [default: tar.gz]
  --help               Show this message and exit.
""",
    'repair': """\
Usage: qbfailover repair [OPTIONS]

  The spec's scenario 4: move torrents.db / BEP.sqlite aside (kept) so
  qBittorrent can start.

Options:
  --profile DIR  Profile folder (qBittorrent --profile); the conf is
                 DIR/qBittorrent/config/qBittorrent.conf.  [required]
  --help         Show this message and exit.
""",
    'queue': """\
Usage: qbfailover queue [OPTIONS] COMMAND [ARGS]...

  Inspect and process the durable queue (the ledger).

Options:
  --help  Show this message and exit.

Commands:
  list    Pending items (with --all: also delivered and rejected, with...
  drain   Deliver due pending items now, with failover.
  import  Record the magnets of a spec-format queue file as pending (the...
  export  Write pending magnets and URLs in the spec's JSON format...
  retry   Clear the backoff of one pending item (or --all) so the next...
  drop    Delete one item from the ledger (asks first unless --yes).
  purge   Forget delivered items older than the given age (pending items...
""",
    'ledger': """\
Usage: qbfailover ledger [OPTIONS] COMMAND [ARGS]...

  Manage the ledger itself: move a host's SQLite queue into a shared
  PostgreSQL database.

Options:
  --help  Show this message and exit.

Commands:
  migrate  Copy every item of a SQLite ledger into PostgreSQL, once; stop...
""",
}
# fmt: on
