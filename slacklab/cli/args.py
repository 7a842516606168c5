"""The arguments of the ``slacklab`` command: one ``add_<name>`` function per subcommand.

:func:`build_parser` puts them together; :mod:`slacklab.cli.commands` runs the command
each one names (``command``). Numbers, ports and labels are checked here, so a
mistake is one line on stderr (:class:`slacklab.cli.console.Parser`). Adding a
subcommand: an ``add_<name>`` here (listed in :data:`ADDERS`), and a
``_cmd_<name>`` in :mod:`slacklab.cli.commands`.
"""

from __future__ import annotations

import argparse

from slacklab.cli.console import Parser, number, port, two_labels

__all__ = ["ADDERS", "GIVE_UP_SECONDS", "build_parser"]

GIVE_UP_SECONDS = 180.0
"""Default of ``capture --give-up-after``: this long without any connection to Slack ends the capture."""

_COUNT = number(int, low=0, what="a whole number")
_SECONDS = number(float, low=0, what="a number of seconds")
_SECONDS_OR_ZERO = number(float, low=0, inclusive=True, what="a number of seconds")
_SPEED = number(float, low=0, what="a speed (simulated seconds per real second)")


_SEED_HELP = "scenario seed: the same seed plays the same events (default 0)"


def add_demo(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", parents=[common], help="offline demo: simulated Slack → capture → CSV + chart")
    demo.add_argument("--events", type=_COUNT, default=300, help="events in the scenario (default 300)")
    demo.add_argument("--duration", type=_SECONDS, default=600.0, help="simulated seconds (default 600)")
    demo.add_argument("--speed", type=_SPEED, default=60.0, help="simulated seconds per real second (default 60)")
    demo.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    demo.add_argument("--out", default="slacklab-out", help="output folder (a new subfolder per run)")
    demo.add_argument("--timeout", type=_SECONDS, default=120.0, help="give up after this many real seconds")
    demo.set_defaults(command="demo")


def add_capture(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    cap = sub.add_parser(
        "capture", parents=[common], help="capture real Slack (SLACK_APP_TOKEN) or --simulate, then write CSV"
    )
    cap.add_argument("--simulate", action="store_true", help="capture the built-in simulator instead of Slack")
    cap.add_argument("--count", type=_COUNT, help="stop after this many deliveries")
    cap.add_argument("--duration", type=_SECONDS, help="stop after this many seconds")
    cap.add_argument("--out", default="capture.csv", help="CSV file to write (default capture.csv)")
    cap.add_argument(
        "--view",
        choices=["deliveries", "events"],
        default="deliveries",
        help="deliveries: one row per arrival, retries included (default); events: one row per event",
    )
    cap.add_argument("--journal", help="also journal raw frames here (JSON Lines, mode 0600)")
    cap.add_argument("--speed", type=_SPEED, default=10.0, help="simulator speed (with --simulate; default 10)")
    cap.add_argument(
        "--give-up-after",
        type=_SECONDS_OR_ZERO,
        default=GIVE_UP_SECONDS,
        metavar="SECONDS",
        help=f"stop with an error after this long without a connection to Slack (default {GIVE_UP_SECONDS:g}; 0: never)",
    )
    cap.add_argument("--force", action="store_true", help="overwrite existing output files")
    cap.set_defaults(command="capture")


def add_simulate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    sim = sub.add_parser(
        "simulate", parents=[common], help="serve the simulator; prints SLACK_API_URL and a fake SLACK_APP_TOKEN"
    )
    sim.add_argument("--events", type=_COUNT, default=1000, help="events in the scenario (default 1000)")
    sim.add_argument("--duration", type=_SECONDS, default=3600.0, help="simulated seconds (default 3600)")
    sim.add_argument("--speed", type=_SPEED, default=1.0, help="simulated seconds per real second (default 1)")
    sim.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    sim.add_argument("--serve-for", type=_SECONDS, help="stop after this many seconds (default: until Ctrl+C)")
    sim.set_defaults(command="simulate")


def add_export(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    exp = sub.add_parser("export", parents=[common], help="a journal or HTTP log → safe CSV")
    exp.add_argument("input", help="a slacklab journal (.jsonl), HAR, ngrok export or receiver log")
    exp.add_argument("output", help="CSV file to write")
    exp.add_argument(
        "--view", choices=["deliveries", "events"], default="deliveries", help="one row per delivery or per event"
    )
    exp.add_argument("--columns", help="comma-separated columns, in order (default: all)")
    exp.add_argument("--force", action="store_true", help="overwrite the output file")
    exp.set_defaults(command="export")


def add_compare(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    cmp_ = sub.add_parser(
        "compare", parents=[common], help="compare two captures (journal, HAR, ngrok export, receiver log)"
    )
    cmp_.add_argument("a", help="first capture, e.g. a Socket Mode journal")
    cmp_.add_argument("b", help="second capture, e.g. an HTTP log (signatures checked with SLACK_SIGNING_SECRET)")
    cmp_.add_argument("--labels", type=two_labels, help="names for the two sides, e.g. socket,http")
    cmp_.add_argument("--include-rejected", action="store_true", help="keep requests that failed signature checks")
    cmp_.add_argument("--out", help="write the line-up as .csv, or a full report as .html")
    cmp_.add_argument("--force", action="store_true", help="overwrite the output file")
    cmp_.set_defaults(command="compare")


def add_receive(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    rec = sub.add_parser(
        "receive",
        parents=[common],
        help="a local HTTP endpoint for Slack's deliveries (signatures: SLACK_SIGNING_SECRET)",
    )
    rec.add_argument("--port", type=port, default=3000, help="port to listen on (default 3000; 0 picks a free one)")
    rec.add_argument("--host", default="127.0.0.1", help="bind address (default loopback; a tunnel forwards to it)")
    rec.add_argument("--path", default="/slack/events", help="the Request URL's path (default /slack/events)")
    rec.add_argument("--log", help="record raw requests here (JSON Lines, mode 0600)")
    rec.add_argument("--max-body", type=_COUNT, default=1_000_000, help="refuse larger bodies with 413")
    rec.add_argument("--count", type=_COUNT, help="stop after this many deliveries")
    rec.add_argument("--duration", type=_SECONDS, help="stop after this many seconds")
    rec.add_argument("--force", action="store_true", help="append to an existing log")
    rec.set_defaults(command="receive")


def add_replay(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    rep = sub.add_parser(
        "replay",
        parents=[common],
        help="send a capture's deliveries to a URL again, re-signed (secret: SLACK_SIGNING_SECRET)",
    )
    rep.add_argument("file", help="a journal, HAR, ngrok export or receiver log")
    rep.add_argument("--to", required=True, help="the Request URL, e.g. http://127.0.0.1:3000/slack/events")
    rep.add_argument("--event-type", action="append", help="only this event type (repeatable)")
    rep.add_argument("--limit", type=_COUNT, help="at most this many deliveries")
    rep.add_argument("--speed", type=_SPEED, help="keep the original spacing divided by this (default: at once)")
    rep.add_argument("--strip-retry-headers", action="store_true", help="drop X-Slack-Retry-Num/-Reason")
    rep.add_argument("--include-invalid", action="store_true", help="also replay requests whose signature failed")
    rep.set_defaults(command="replay")


ADDERS = (add_demo, add_capture, add_simulate, add_export, add_compare, add_receive, add_replay)
"""One function per subcommand, in ``--help`` order; each sets ``command`` to its name."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (``--help`` texts live here)."""
    parser = Parser(
        prog="slacklab",
        description="Listen to Slack's Events API and explore what arrives (offline simulator included).",
        epilog="Exit codes: 0 done, 1 the demo lost events, 2 an error, 130 stopped with Ctrl+C.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback of an error"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in ADDERS:
        add(sub, common)
    return parser
