"""The ``slacklab`` command (also ``python -m slacklab``).

Subcommands::

    slacklab demo                 offline: simulated Slack → listener → summary, CSV and chart
    slacklab capture              capture real Slack (SLACK_APP_TOKEN) or --simulate, then write CSV
    slacklab simulate             serve the simulator for other programs; prints its URL and fake token
    slacklab export IN OUT.csv    a journal or HTTP log → safe CSV
    slacklab compare A B          compare two captures (Socket Mode journal, HTTP log)
    slacklab receive              a local HTTP Events API endpoint that records every request
    slacklab replay FILE --to URL send a capture's deliveries to a URL again, re-signed

Every command prints where its files went, and checks output paths before it
starts. Output files are never overwritten unless ``--force`` is given. Tokens
and the signing secret come from the environment, never from the command line
(shell history keeps command lines). A mistake prints one line on stderr, no
traceback (``--debug`` shows it); Ctrl+C stops cleanly and keeps what was captured.

Exit codes: 0 done, 1 the demo lost events, 2 an error (bad arguments, files,
the capture failed or gave up), 130 stopped with Ctrl+C.

Adding a subcommand: write ``_cmd_name(args, out, ctrl_c) -> int`` here (listed
in ``_COMMANDS``) and its arguments as ``add_name`` in :mod:`slacklab.cli.args`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from slacklab.capture import Capture
from slacklab.cli.args import build_parser
from slacklab.cli.console import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    INTERRUPTED,
    CtrlC,
    Progress,
    check_output_file,
    check_output_folder,
    describe_error,
    new_folder,
    run_until,
    signature_line,
    summary_table,
)
from slacklab.errors import SlacklabError

__all__ = ["build_parser", "main"]


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
    # The listener gives up by itself (state "failed", the last error in its detail).
    give_up = None if args.simulate else (args.give_up_after or None)
    capture = listen(simulate=bool(args.simulate), journal=args.journal, speed=args.speed, give_up_after=give_up)
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
        )
    finally:
        capture.stop()
    failed = capture.state == "failed"
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
    from slacklab.comparison.lineup import compare
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


def _cmd_replay(args: argparse.Namespace, out: TextIO, ctrl_c: CtrlC) -> int:
    """Send a capture's deliveries to --to again, re-signed with SLACK_SIGNING_SECRET (never an argument)."""
    from slacklab.comparison.replay import replay
    from slacklab.loader import load

    secret = _env("SLACK_SIGNING_SECRET")
    if secret is None:
        raise SlacklabError("replay re-signs every request: set SLACK_SIGNING_SECRET to the receiving app's secret")
    df = load(args.file, signing_secret=secret).deliveries()
    if args.event_type:
        df = df[df["event_type"].isin(args.event_type)]
    if args.limit is not None:
        df = df.head(args.limit)
    result = replay(
        df,
        args.to,
        signing_secret=secret,
        retry_headers=not args.strip_retry_headers,
        speed=args.speed,
        include_invalid=args.include_invalid,
    )
    out.write(repr(result) + "\n")
    return 0 if result.failed == 0 else 1


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, CtrlC], int]] = {
    "demo": _cmd_demo,
    "capture": _cmd_capture,
    "simulate": _cmd_simulate,
    "export": _cmd_export,
    "compare": _cmd_compare,
    "receive": _cmd_receive,
    "replay": _cmd_replay,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code (0 done, 1 demo mismatch, 2 error, 130 Ctrl+C)."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    command = _COMMANDS[args.command]
    try:
        with CtrlC() as ctrl_c:
            return int(command(args, out, ctrl_c))
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
