"""The ``slacklab`` command (also ``python -m slacklab``).

Subcommands::

    slacklab demo                 offline: simulated Slack → listener → summary, CSV and chart
    slacklab capture              capture real Slack (SLACK_APP_TOKEN) or --simulate, then write CSV
    slacklab simulate             serve the simulator for other programs; prints its URL and fake token
    slacklab export IN OUT.csv    a journal or HTTP log → safe CSV
    slacklab compare A B          compare two captures (Socket Mode journal, HTTP log)
    slacklab receive              a local HTTP Events API endpoint that records every request

Every command prints where its files went, and checks output paths before it
starts. Output files are never overwritten unless ``--force`` is given. Tokens
and the signing secret come from the environment, never from the command line
(shell history keeps command lines). A mistake prints one line on stderr, no
traceback (``--debug`` shows it); Ctrl+C stops cleanly and keeps what was captured.

Exit codes: 0 done, 1 the demo lost events, 2 an error (bad arguments, files,
the capture failed or gave up), 130 stopped with Ctrl+C.

Adding a subcommand: write ``_cmd_name(args, out, ctrl_c) -> int`` and a
``_parser_name(sub)`` that registers it; list the latter in :data:`_PARSERS`.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from slacklab.capture import Capture
from slacklab.console import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    GAVE_UP,
    INTERRUPTED,
    CtrlC,
    Parser,
    Progress,
    check_output_file,
    check_output_folder,
    describe_error,
    new_folder,
    number,
    port,
    run_until,
    signature_line,
    summary_table,
    two_labels,
)
from slacklab.errors import SlacklabError
from slacklab.redact import mask_text

__all__ = ["build_parser", "main"]

GIVE_UP_SECONDS = 180.0
"""Default of ``capture --give-up-after``: this long without any connection to Slack ends the capture."""


# ------------------------------------------------------------------ shared steps


def _say(out: TextIO, notes: Sequence[str]) -> None:
    for note in notes:
        out.write(f"  {note}\n")


def _write_outputs(capture: Capture, folder: Path, out: TextIO) -> None:
    from matplotlib.figure import Figure

    from slacklab.notebook.plots import plot_event_types

    deliveries, events, chart = folder / "deliveries.csv", folder / "events.csv", folder / "event-types.png"
    capture.to_csv(deliveries, overwrite=False)
    capture.to_csv(events, view="events", overwrite=False)
    ax = plot_event_types(capture.deliveries())
    figure = ax.figure
    assert isinstance(figure, Figure)  # its own figure, not a SubFigure
    figure.savefig(chart, dpi=120, bbox_inches="tight")
    out.write(f"\n  wrote {deliveries}\n  wrote {events}\n  wrote {chart}\n")
    if capture.journal_path:
        out.write(f"  journal (raw frames, keep private): {capture.journal_path}\n")


def _env(name: str) -> str | None:
    """A setting from the environment only (a command-line argument shows in `ps` and shell history)."""
    return os.environ.get(name, "").strip() or None


def _listener_gives_up() -> bool:
    """True when the listener stops by itself after ``give_up_after`` seconds without a connection."""
    from slacklab.listener import Listener

    return "give_up_after" in inspect.signature(Listener).parameters


# ------------------------------------------------------------------ subcommands


def _cmd_demo(args: argparse.Namespace, out: TextIO, ctrl_c: CtrlC) -> int:
    from slacklab.session import listen

    _say(out, check_output_folder(Path(args.out)))
    folder = new_folder(Path(args.out), datetime.now(UTC).strftime("demo-%Y%m%d-%H%M%S"))
    out.write(
        "slacklab demo — a simulated Slack workspace on 127.0.0.1 (no account, no network needed)\n"
        f"  {args.events} events over {args.duration:g} simulated seconds at {args.speed:g}× speed;"
        " the simulator refreshes connections on schedule, as Slack does\n"
    )
    capture = listen(
        simulate=True,
        events=args.events,
        duration=args.duration,
        speed=args.speed,
        seed=args.seed,
        journal=folder / "journal.jsonl",
        simulator_options={"refresh_interval": args.duration / 3},
    )
    sim = capture.simulator
    dropped: list[str] = []

    def tick() -> bool:
        # Halfway through, cut the TCP connection the way a flaky network would:
        # the listener reconnects, and Slack (here: the simulator) retries what was unacked.
        if not dropped and len(capture) >= args.events // 2:
            dropped.extend(sim.drop_connection())
            out.write(f"\n  simulating a dropped connection ({', '.join(dropped)})…\n")
        return bool(sim.wait_done(timeout=0))

    try:
        reason = run_until(capture, Progress(out), ctrl_c, duration=args.timeout, done=tick)
    finally:
        capture.stop()
    out.write(f"  {reason}\n")
    summary_table(capture, out)
    _write_outputs(capture, folder, out)
    truth = sim.truth
    lost = len(truth.unacked_events)
    out.write(
        f"\n  ground truth: the simulator sent {len(truth.events)} events; "
        f"{capture.n_events} reached the capture; {lost} never acknowledged.\n"
        "  next: `make lab` opens the notebooks (start with 00-tour).\n"
    )
    if reason == INTERRUPTED:
        return EXIT_INTERRUPTED
    return 0 if capture.n_events == len(truth.events) else 1


def _cmd_capture(args: argparse.Namespace, out: TextIO, ctrl_c: CtrlC) -> int:
    from slacklab.session import listen

    if not args.simulate and not _env("SLACK_APP_TOKEN"):
        raise SlacklabError(
            "SLACK_APP_TOKEN is not set: export your app-level token (xapp-…) to capture Slack, "
            "or add --simulate to capture the built-in simulator"
        )
    csv = Path(args.out)
    notes = check_output_file(csv, force=args.force, what="CSV file")
    if args.journal:
        notes += check_output_file(Path(args.journal), force=args.force, what="journal")
    _say(out, list(dict.fromkeys(notes)))
    give_up = args.give_up_after or None
    options = {"give_up_after": give_up} if give_up and not args.simulate and _listener_gives_up() else {}
    capture = listen(simulate=bool(args.simulate), journal=args.journal, speed=args.speed, **options)
    if capture.simulator:
        out.write("capturing from the built-in SIMULATOR (fake events, not Slack: --simulate); Ctrl+C to stop\n")
    else:
        out.write(f"capturing from Slack ({capture.detail}); Ctrl+C to stop and write the CSV\n")
    try:
        reason = run_until(
            capture,
            Progress(out),
            ctrl_c,
            count=args.count,
            duration=args.duration,
            give_up_after=None if capture.simulator else give_up,
        )
        last_error = mask_text(capture.detail)
    finally:
        capture.stop()
    failed = reason == GAVE_UP or capture.state == "failed"
    if reason == GAVE_UP:
        last_error = re.sub(r"[;,.]?\s*(retrying|reconnecting)\b.*$", "", last_error)  # it is not any more
        reason = f"gave up after {give_up:g} s without a connection to Slack; last error: {last_error}"
    if not failed:  # a failure is said once, on stderr, below
        out.write(f"  {reason}\n")
    summary_table(capture, out)
    capture.to_csv(csv, view=args.view, overwrite=True)
    out.write(f"\n  wrote {csv} ({len(capture):,} deliveries)\n")
    if failed:
        print(f"slacklab: {reason}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_INTERRUPTED if reason == INTERRUPTED else 0


def _cmd_simulate(args: argparse.Namespace, out: TextIO, ctrl_c: CtrlC) -> int:
    from slacklab.sim.scenario import build_scenario
    from slacklab.sim.server import Simulator

    scenario = build_scenario(seed=args.seed, events=args.events, duration=args.duration)
    per_minute = args.events / args.duration * args.speed * 60.0
    with Simulator(scenario, speed=args.speed, seed=args.seed, local_response_urls=True) as sim:
        out.write(
            "slacklab simulator running on 127.0.0.1 (fake workspace; tokens below are not secrets).\n"
            "In another terminal:\n"
            f"  export SLACK_API_URL={sim.api_url}\n"
            f"  export SLACK_APP_TOKEN={sim.app_token}\n"
            f"  export SLACK_BOT_TOKEN={sim.bot_token}\n"
            "  slacklab capture --duration 60\n"
            f"(about {per_minute:,.0f} events a minute at --speed {args.speed:g}; a higher --speed plays faster)\n"
            "A Bolt app: App(client=WebClient(token=SLACK_BOT_TOKEN, base_url=SLACK_API_URL)).\n"
            "Ctrl+C to stop.\n"
        )
        out.flush()
        deadline = time.monotonic() + args.serve_for if args.serve_for else None
        while not ctrl_c.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
        truth = sim.truth.summary()
        stats = sim.stats
    out.write(
        f"\nsimulator stopped{' (Ctrl+C)' if ctrl_c.pressed else ''}: played {stats['released']:,} of "
        f"{stats['items']:,} items; {truth['acked_events']:,} events acknowledged by clients\n"
    )
    return EXIT_INTERRUPTED if ctrl_c.pressed else 0


def _cmd_export(args: argparse.Namespace, out: TextIO, ctrl_c: CtrlC) -> int:
    from slacklab.loader import load

    dest = Path(args.output)
    _say(out, check_output_file(dest, force=args.force, what="CSV file"))
    capture = load(args.input, signing_secret=_env("SLACK_SIGNING_SECRET"))
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    capture.to_csv(dest, view=args.view, columns=columns)
    out.write(f"wrote {dest} ({len(capture):,} deliveries, {capture.n_events:,} events)\n")
    return 0


def _cmd_compare(args: argparse.Namespace, out: TextIO, ctrl_c: CtrlC) -> int:
    from slacklab.compare import compare
    from slacklab.loader import load

    dest = Path(args.out) if args.out else None
    if dest is not None:
        _say(out, check_output_file(dest, force=args.force, what="report"))
    secret = _env("SLACK_SIGNING_SECRET")
    a, b = load(args.a, signing_secret=secret), load(args.b, signing_secret=secret)
    result = compare(a, b, labels=args.labels, include_rejected=args.include_rejected, signing_secret=secret)
    la, lb = result.labels
    out.write(
        f"compared {args.a} ({la}, {len(a):,} deliveries) with {args.b} ({lb}, {len(b):,} deliveries)\n"
        f"  {signature_line([a.deliveries(), b.deliveries()], secret, args.include_rejected)}\n\n"
        + result.summary.to_string()
        + "\n"
    )
    if dest is not None:
        if dest.suffix.lower() in (".html", ".htm"):
            result.to_html(dest)
        else:
            result.to_csv(dest)
        out.write(f"\nwrote {dest}\n")
    return 0


def _cmd_receive(args: argparse.Namespace, out: TextIO, ctrl_c: CtrlC) -> int:
    from slacklab.http.receiver import receive_http

    if args.log:
        _say(out, check_output_file(Path(args.log), force=args.force, what="log", force_does="append to it"))
    secret = _env("SLACK_SIGNING_SECRET")
    capture = receive_http(
        args.port, signing_secret=secret, log=args.log, host=args.host, path=args.path, max_body=args.max_body
    )
    out.write(
        f"receiving Slack's HTTP deliveries at {capture.url}\n"
        + (
            "  signatures checked with SLACK_SIGNING_SECRET\n"
            if secret
            else "  SLACK_SIGNING_SECRET not set: signatures are recorded as 'unchecked'\n"
        )
        + (f"  raw requests logged to {args.log} (mode 0600; holds raw payloads)\n" if args.log else "")
        + "  Ctrl+C to stop\n"
    )
    try:
        reason = run_until(capture, Progress(out), ctrl_c, count=args.count, duration=args.duration)
    finally:
        capture.stop()
    out.write(f"  {reason}\n")
    summary_table(capture, out)
    return EXIT_INTERRUPTED if reason == INTERRUPTED else 0


# ------------------------------------------------------------------ arguments


_COUNT = number(int, low=0, what="a whole number")
_SECONDS = number(float, low=0, what="a number of seconds")
_SECONDS_OR_ZERO = number(float, low=0, inclusive=True, what="a number of seconds")
_SPEED = number(float, low=0, what="a speed (simulated seconds per real second)")


_SEED_HELP = "scenario seed: the same seed plays the same events (default 0)"


def _parser_demo(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", parents=[common], help="offline demo: simulated Slack → capture → CSV + chart")
    demo.add_argument("--events", type=_COUNT, default=300, help="events in the scenario (default 300)")
    demo.add_argument("--duration", type=_SECONDS, default=600.0, help="simulated seconds (default 600)")
    demo.add_argument("--speed", type=_SPEED, default=60.0, help="simulated seconds per real second (default 60)")
    demo.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    demo.add_argument("--out", default="slacklab-out", help="output folder (a new subfolder per run)")
    demo.add_argument("--timeout", type=_SECONDS, default=120.0, help="give up after this many real seconds")
    demo.set_defaults(func=_cmd_demo)


def _parser_capture(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
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
    cap.set_defaults(func=_cmd_capture)


def _parser_simulate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    sim = sub.add_parser(
        "simulate", parents=[common], help="serve the simulator; prints SLACK_API_URL and a fake SLACK_APP_TOKEN"
    )
    sim.add_argument("--events", type=_COUNT, default=1000, help="events in the scenario (default 1000)")
    sim.add_argument("--duration", type=_SECONDS, default=3600.0, help="simulated seconds (default 3600)")
    sim.add_argument("--speed", type=_SPEED, default=1.0, help="simulated seconds per real second (default 1)")
    sim.add_argument("--seed", type=int, default=0, help=_SEED_HELP)
    sim.add_argument("--serve-for", type=_SECONDS, help="stop after this many seconds (default: until Ctrl+C)")
    sim.set_defaults(func=_cmd_simulate)


def _parser_export(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    exp = sub.add_parser("export", parents=[common], help="a journal or HTTP log → safe CSV")
    exp.add_argument("input", help="a slacklab journal (.jsonl), HAR, ngrok export or receiver log")
    exp.add_argument("output", help="CSV file to write")
    exp.add_argument(
        "--view", choices=["deliveries", "events"], default="deliveries", help="one row per delivery or per event"
    )
    exp.add_argument("--columns", help="comma-separated columns, in order (default: all)")
    exp.add_argument("--force", action="store_true", help="overwrite the output file")
    exp.set_defaults(func=_cmd_export)


def _parser_compare(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    cmp_ = sub.add_parser(
        "compare", parents=[common], help="compare two captures (journal, HAR, ngrok export, receiver log)"
    )
    cmp_.add_argument("a", help="first capture, e.g. a Socket Mode journal")
    cmp_.add_argument("b", help="second capture, e.g. an HTTP log (signatures checked with SLACK_SIGNING_SECRET)")
    cmp_.add_argument("--labels", type=two_labels, help="names for the two sides, e.g. socket,http")
    cmp_.add_argument("--include-rejected", action="store_true", help="keep requests that failed signature checks")
    cmp_.add_argument("--out", help="write the line-up as .csv, or a full report as .html")
    cmp_.add_argument("--force", action="store_true", help="overwrite the output file")
    cmp_.set_defaults(func=_cmd_compare)


def _parser_receive(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
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
    rec.set_defaults(func=_cmd_receive)


_PARSERS = (_parser_demo, _parser_capture, _parser_simulate, _parser_export, _parser_compare, _parser_receive)


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
    for register in _PARSERS:
        register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code (0 done, 1 demo mismatch, 2 error, 130 Ctrl+C)."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        with CtrlC() as ctrl_c:
            return int(args.func(args, out, ctrl_c))
    except KeyboardInterrupt:  # a second Ctrl+C, or one during a command that does not wait
        if args.debug:
            raise
        print("\nslacklab: stopped (Ctrl+C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        print(f"slacklab: {describe_error(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
