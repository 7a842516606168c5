"""The ``slacklab`` command (also ``python -m slacklab``).

Subcommands::

    slacklab demo                 offline: simulated Slack → listener → summary, CSV and chart
    slacklab capture              capture real Slack (SLACK_APP_TOKEN) or --simulate, then write CSV
    slacklab simulate             serve the simulator for other programs; prints its URL and fake token
    slacklab export IN OUT.csv    a journal or HTTP log → safe CSV
    slacklab compare A B          compare two captures (Socket Mode journal, HTTP log)
    slacklab receive              a local HTTP Events API endpoint that records every request

Every command prints where its files went. Output files are never
overwritten unless ``--force`` is given. Tokens come from the environment,
never from the command line (shell history keeps command lines).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from slacklab.capture import Capture
from slacklab.errors import SlacklabError

__all__ = ["main"]


class _Progress:
    """One live status line on a terminal; a line every few seconds elsewhere (CI logs, pipes)."""

    def __init__(self, out: TextIO, every: float = 2.0) -> None:
        self.out = out
        self.tty = out.isatty()
        self.every = every
        self._last = 0.0
        self._width = 0

    def update(self, capture: Capture, force: bool = False) -> None:
        now = time.monotonic()
        if not force and not self.tty and now - self._last < self.every:
            return
        self._last = now
        s = capture._summary()
        ack = f" · last ack {s['last_ack_ms']:.1f} ms" if s["last_ack_ms"] is not None else ""
        line = (
            f"  {s['deliveries']:>6} deliveries · {s['events']:>6} events · {capture.rate(5):6.1f}/s"
            f" · {s['open']} open / {s['connections']} connections{ack} · {s['state']}"
        )
        if self.tty:
            self.out.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def done(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


def _refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise SlacklabError(f"{path} already exists; use --force to overwrite it or choose another path")


def _new_folder(parent: Path, name: str) -> Path:
    """Create and return a folder that did not exist: ``name``, else ``name-2``, ``name-3``…"""
    parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = parent / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            n += 1
            continue
        return folder


def _run_until(
    capture: Capture, progress: _Progress, *, count: int | None, duration: float | None, done: object = None
) -> None:
    """Show progress until ``count`` deliveries, ``duration`` seconds, ``done()`` or Ctrl+C."""
    deadline = time.monotonic() + duration if duration else None
    try:
        while capture.running or capture.state == "idle":
            progress.update(capture)
            if count is not None and len(capture) >= count:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            if callable(done) and done():
                break
            capture.wait_for(len(capture) + 1, timeout=0.25)
    except KeyboardInterrupt:
        progress.out.write("\n  interrupted: stopping cleanly…\n")
    finally:
        progress.update(capture, force=True)
        progress.done()


def _summary_table(capture: Capture, out: TextIO) -> None:
    counts = capture.counts()
    if counts.empty:
        out.write("  no deliveries captured\n")
        return
    out.write("\n" + counts.to_string() + "\n")
    conns = capture.connections()
    if not conns.empty:
        out.write(
            "\n" + conns[["connection", "num_connections", "deliveries", "close_reason"]].to_string(index=False) + "\n"
        )
    for note in capture.notes:
        out.write(f"  note: {note}\n")
    if capture.detail:
        out.write(f"  {capture.detail}\n")


def _write_outputs(capture: Capture, folder: Path, out: TextIO, *, force: bool) -> None:
    from matplotlib.figure import Figure

    from slacklab.notebook.plots import plot_event_types

    folder.mkdir(parents=True, exist_ok=True)
    deliveries, events, chart = folder / "deliveries.csv", folder / "events.csv", folder / "event-types.png"
    for path in (deliveries, events, chart):
        _refuse_existing(path, force)
    capture.to_csv(deliveries)
    capture.to_csv(events, view="events")
    ax = plot_event_types(capture.deliveries())
    figure = ax.figure
    assert isinstance(figure, Figure)  # its own figure, not a SubFigure
    figure.savefig(chart, dpi=120, bbox_inches="tight")
    out.write(f"\n  wrote {deliveries}\n  wrote {events}\n  wrote {chart}\n")
    if capture.journal_path:
        out.write(f"  journal (raw frames, keep private): {capture.journal_path}\n")


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from slacklab.session import listen

    folder = _new_folder(Path(args.out), datetime.now(UTC).strftime("demo-%Y%m%d-%H%M%S"))
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
        _run_until(capture, _Progress(out), count=None, duration=args.timeout, done=tick)
    finally:
        capture.stop()
    _summary_table(capture, out)
    _write_outputs(capture, folder, out, force=False)
    truth = sim.truth
    lost = len(truth.unacked_events)
    out.write(
        f"\n  ground truth: the simulator sent {len(truth.events)} events; "
        f"{capture.n_events} reached the capture; {lost} never acknowledged.\n"
        "  next: `make lab` opens the notebooks (start with 00-tour).\n"
    )
    return 0 if capture.n_events == len(truth.events) else 1


def _cmd_capture(args: argparse.Namespace, out: TextIO) -> int:
    from slacklab.session import listen

    csv = Path(args.out)
    _refuse_existing(csv, args.force)
    if args.journal:
        _refuse_existing(Path(args.journal), args.force)
    capture = listen(simulate=True if args.simulate else None, journal=args.journal, speed=args.speed)
    out.write(f"capturing from {'the simulator' if capture.simulator else 'Slack'}; Ctrl+C to stop\n")
    try:
        _run_until(capture, _Progress(out), count=args.count, duration=args.duration)
    finally:
        capture.stop()
    _summary_table(capture, out)
    capture.to_csv(csv, view=args.view, overwrite=True)
    out.write(f"\n  wrote {csv}\n")
    return 0 if capture.state != "failed" else 2


def _cmd_simulate(args: argparse.Namespace, out: TextIO) -> int:
    from slacklab.sim.scenario import build_scenario
    from slacklab.sim.server import Simulator

    scenario = build_scenario(seed=args.seed, events=args.events, duration=args.duration)
    with Simulator(scenario, speed=args.speed, seed=args.seed, local_response_urls=True) as sim:
        out.write(
            "slacklab simulator running on 127.0.0.1 (fake workspace; tokens below are not secrets).\n"
            "In another terminal:\n"
            f"  export SLACK_API_URL={sim.api_url}\n"
            f"  export SLACK_APP_TOKEN={sim.app_token}\n"
            f"  export SLACK_BOT_TOKEN={sim.bot_token}\n"
            "  slacklab capture --count 100\n"
            "A Bolt app: App(client=WebClient(token=SLACK_BOT_TOKEN, base_url=SLACK_API_URL)).\n"
            "Ctrl+C to stop.\n"
        )
        out.flush()
        deadline = time.monotonic() + args.serve_for if args.serve_for else None
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        out.write(f"\n{sim!r}\n")
    return 0


def _cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    dest = Path(args.output)
    _refuse_existing(dest, args.force)
    from slacklab.loader import load

    capture = load(args.input, signing_secret=_env_secret())
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    capture.to_csv(dest, view=args.view, columns=columns)
    out.write(f"wrote {dest} ({len(capture)} deliveries, {capture.n_events} events)\n")
    return 0


def _env_secret() -> str | None:
    """The signing secret, from the environment only (a command-line argument shows in `ps`)."""
    import os

    return os.environ.get("SLACK_SIGNING_SECRET", "").strip() or None


def _cmd_compare(args: argparse.Namespace, out: TextIO) -> int:
    from slacklab.compare import compare
    from slacklab.loader import load

    secret = _env_secret()
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    a, b = load(args.a, signing_secret=secret), load(args.b, signing_secret=secret)
    result = compare(a, b, labels=labels, include_rejected=args.include_rejected, signing_secret=secret)
    out.write(repr(result) + "\n")
    if args.out:
        dest = Path(args.out)
        _refuse_existing(dest, args.force)
        if dest.suffix.lower() in (".html", ".htm"):
            result.to_html(dest)
        else:
            result.to_csv(dest)
        out.write(f"wrote {dest}\n")
    return 0


def _cmd_receive(args: argparse.Namespace, out: TextIO) -> int:
    from slacklab.http.receiver import receive_http

    if args.log:
        _refuse_existing(Path(args.log), args.force)
    capture = receive_http(
        args.port, signing_secret=_env_secret(), log=args.log, host=args.host, path=args.path, max_body=args.max_body
    )
    out.write(
        f"receiving Slack's HTTP deliveries at {capture.url}\n"
        + (
            "  signatures checked with SLACK_SIGNING_SECRET\n"
            if _env_secret()
            else "  SLACK_SIGNING_SECRET not set: signatures are recorded as 'unchecked'\n"
        )
        + (f"  raw requests logged to {args.log} (mode 0600; holds raw payloads)\n" if args.log else "")
        + "  Ctrl+C to stop\n"
    )
    try:
        _run_until(capture, _Progress(out), count=args.count, duration=args.duration)
    finally:
        capture.stop()
    _summary_table(capture, out)
    return 0


def _cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    """Send a capture's deliveries to --to again, re-signed with SLACK_SIGNING_SECRET (never an argument)."""
    from slacklab.loader import load
    from slacklab.replay import replay

    secret = _env_secret()
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slacklab",
        description="Listen to Slack's Events API and explore what arrives (offline simulator included).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="offline demo: simulated Slack → capture → CSV + chart")
    demo.add_argument("--events", type=int, default=300, help="events in the scenario (default 300)")
    demo.add_argument("--duration", type=float, default=600.0, help="simulated seconds (default 600)")
    demo.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="slacklab-out", help="output folder (a new subfolder per run)")
    demo.add_argument("--timeout", type=float, default=120.0, help="give up after this many real seconds")
    demo.set_defaults(func=_cmd_demo)

    cap = sub.add_parser("capture", help="capture real Slack (SLACK_APP_TOKEN) or --simulate, then write CSV")
    cap.add_argument("--simulate", action="store_true", help="use the built-in simulator")
    cap.add_argument("--count", type=int, help="stop after this many deliveries")
    cap.add_argument("--duration", type=float, help="stop after this many seconds")
    cap.add_argument("--out", default="capture.csv", help="CSV file to write (default capture.csv)")
    cap.add_argument("--view", choices=["deliveries", "events"], default="deliveries")
    cap.add_argument("--journal", help="also journal raw frames here (JSON Lines, mode 0600)")
    cap.add_argument("--speed", type=float, default=10.0, help="simulator speed (with --simulate)")
    cap.add_argument("--force", action="store_true", help="overwrite existing output files")
    cap.set_defaults(func=_cmd_capture)

    sim = sub.add_parser("simulate", help="serve the simulator; prints SLACK_API_URL and a fake SLACK_APP_TOKEN")
    sim.add_argument("--events", type=int, default=1000)
    sim.add_argument("--duration", type=float, default=3600.0, help="simulated seconds (default 3600)")
    sim.add_argument("--speed", type=float, default=1.0)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--serve-for", type=float, help="stop after this many seconds (default: until Ctrl+C)")
    sim.set_defaults(func=_cmd_simulate)

    exp = sub.add_parser("export", help="a journal or HTTP log → safe CSV")
    exp.add_argument("input", help="a slacklab journal (.jsonl), HAR, ngrok export or receiver log")
    exp.add_argument("output", help="CSV file to write")
    exp.add_argument("--view", choices=["deliveries", "events"], default="deliveries")
    exp.add_argument("--columns", help="comma-separated columns, in order (default: all)")
    exp.add_argument("--force", action="store_true", help="overwrite the output file")
    exp.set_defaults(func=_cmd_export)

    cmp_ = sub.add_parser("compare", help="compare two captures (journal, HAR, ngrok export, receiver log)")
    cmp_.add_argument("a", help="first capture, e.g. a Socket Mode journal")
    cmp_.add_argument("b", help="second capture, e.g. an HTTP log (signatures checked with SLACK_SIGNING_SECRET)")
    cmp_.add_argument("--labels", help="names for the two sides, e.g. socket,http")
    cmp_.add_argument("--include-rejected", action="store_true", help="keep requests that failed signature checks")
    cmp_.add_argument("--out", help="write the line-up as .csv, or a full report as .html")
    cmp_.add_argument("--force", action="store_true", help="overwrite the output file")
    cmp_.set_defaults(func=_cmd_compare)

    rec = sub.add_parser(
        "receive", help="a local HTTP endpoint for Slack's deliveries (signatures: SLACK_SIGNING_SECRET)"
    )
    rec.add_argument("--port", type=int, default=3000)
    rec.add_argument("--host", default="127.0.0.1", help="bind address (default loopback; a tunnel forwards to it)")
    rec.add_argument("--path", default="/slack/events")
    rec.add_argument("--log", help="record raw requests here (JSON Lines, mode 0600)")
    rec.add_argument("--max-body", type=int, default=1_000_000, help="refuse larger bodies with 413")
    rec.add_argument("--count", type=int, help="stop after this many deliveries")
    rec.add_argument("--duration", type=float, help="stop after this many seconds")
    rec.add_argument("--force", action="store_true", help="append to an existing log")
    rec.set_defaults(func=_cmd_receive)

    rep = sub.add_parser(
        "replay", help="send a capture's deliveries to a URL again, re-signed (secret: SLACK_SIGNING_SECRET)"
    )
    rep.add_argument("file", help="a journal, HAR, ngrok export or receiver log")
    rep.add_argument("--to", required=True, help="the Request URL, e.g. http://127.0.0.1:3000/slack/events")
    rep.add_argument("--event-type", action="append", help="only this event type (repeatable)")
    rep.add_argument("--limit", type=int, help="at most this many deliveries")
    rep.add_argument("--speed", type=float, help="keep the original spacing divided by this (default: at once)")
    rep.add_argument("--strip-retry-headers", action="store_true", help="drop X-Slack-Retry-Num/-Reason")
    rep.add_argument("--include-invalid", action="store_true", help="also replay requests whose signature failed")
    rep.set_defaults(func=_cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 demo mismatch, 2 error)."""
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, out))
    except SlacklabError as exc:
        print(f"slacklab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
