"""Write the teaching notebooks from the cells below: ``python notebooks/build_notebooks.py``.

The committed ``.ipynb`` files are the product; this script keeps their common
parts in step (kernelspec ``python3``, no outputs, stable cell ids, the
navigation line at the end of each). Edit a notebook here, re-run the script,
commit both; ``tests/test_notebooks.py`` fails when they drift apart.
Exercise solutions live as plain files in ``exercises/solutions/``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

import nbformat

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
# What the kernel reports and JupyterLab writes on opening, so an opened notebook has nothing new to
# save; all but the Python version, which differs per machine (the git filter drops it: `make hooks`).
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
NAV_MARK = "<!-- slacklab-nav -->"


@dataclass
class Notebook:
    path: str  # relative to notebooks/
    title: str
    cells: list[tuple[str, str]] = field(default_factory=list)

    def md(self, text: str) -> Notebook:
        self.cells.append(("markdown", dedent(text).strip()))
        return self

    def code(self, text: str) -> Notebook:
        self.cells.append(("code", dedent(text).strip()))
        return self


def _link(src: Notebook, dst: Notebook) -> str:
    depth = src.path.count("/")
    return f"[{dst.title}]({'../' * depth}{dst.path})"


def build(
    nb: Notebook, previous: Notebook | None, following: Notebook | None, index: Notebook
) -> nbformat.NotebookNode:
    """The notebook as nbformat, with its navigation line appended."""
    parts = []
    if previous is not None:
        parts.append(f"← {_link(nb, previous)}")
    if nb is not index:
        parts.append(f"↑ {_link(nb, index)}")
    if following is not None:
        parts.append(f"{_link(nb, following)} →")
    cells = [*nb.cells, ("markdown", f"{NAV_MARK}\n---\n" + " · ".join(parts))]
    stem = Path(nb.path).stem.split("-")[0]
    out = nbformat.v4.new_notebook()
    out.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    for number, (kind, source) in enumerate(cells):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = make(source)
        cell.id = f"{stem}-{number:02d}"
        out.cells.append(cell)
    nbformat.validate(out)
    return out


# ====================================================================== 00


tour = Notebook("00-tour.ipynb", "00 · Tour")
tour.md("""
# slacklab — a tour

slacklab lets a notebook **listen to Slack's Events API over Socket Mode**. Every delivery streams
into a **pandas DataFrame** while the notebook stays free for you, and widgets, charts and a safe
**CSV export** help you look at what arrived. A built-in **simulator** plays Slack on your own machine,
so every notebook here works **offline, with no Slack account and no admin rights** — only notebook 06
talks to real Slack, and only when you give it a token.

| | notebook | what you will see |
|---|---|---|
| 00 | this tour | the few lines you need |
| 01 | [Socket Mode up close](01-socket-mode-up-close.ipynb) | `hello`, envelopes, acks, a retry, a `disconnect` — raw frames, by hand |
| 02 | [Live capture](02-live-capture.ipynb) | events streaming into a DataFrame and the `explore` panel |
| 03 | [HTTP vs Socket Mode](03-http-vs-socket.ipynb) | one workspace over both modes on one clock: latency, failure stories, replay |
| 04 | [Retries and reconnects](04-retries-and-reconnects.ipynb) | withheld acks, forced refreshes, a cut connection, de-duplication, answers in the ack |
| 05 | [Export CSV](05-export-csv.ipynb) | safe CSV, the journal, reloading a capture |
| 06 | [Real Slack](06-real-slack.ipynb) | the app manifest, the `xapp-` token, the events to subscribe |
| ✎ | [Exercises](exercises/exercises.ipynb) | practice, with solutions in `exercises/solutions/` |

Run cells from the top with **Shift+Enter**. Every notebook stops what it started in its last cell.
""")
tour.md("""
## Is everything in place?

The next cell prints the versions and shows a small widget. If you see a **green tick**, widgets work.
If you see `HTML(value=...)` instead, the notebook front end lacks ipywidgets: run
`pip install "slacklab[notebook]"` and restart JupyterLab.
""")
tour.code("""
import sys

import ipywidgets
import matplotlib
import pandas

import slacklab

print(f"Python {sys.version.split()[0]} · slacklab {slacklab.__version__} · pandas {pandas.__version__} · "
      f"ipywidgets {ipywidgets.__version__} · matplotlib {matplotlib.__version__}")
ipywidgets.HTML("<b style='color:#2e7d32'>✓ widgets work</b>")
""")
tour.md("""
## Listen

`slacklab.listen()` returns at once; a background thread receives, acknowledges and records every
delivery. With no `SLACK_APP_TOKEN` in the environment it starts the simulator and says so in
`cap.notes`. Here it plays 80 events of a fake workspace, ten times faster than real time.
""")
tour.code("""
cap = slacklab.listen(events=80, duration=20, speed=10)
cap.wait_for(40)   # wait until 40 deliveries arrived (at most 30 s)
cap
""")
tour.md("""
## A DataFrame, one row per delivery

Socket Mode and HTTP deliveries share the same columns, so everything below works on either.
Retries are rows of their own (`retry_attempt` 1, 2, 3); `cap.events()` keeps one row per event.
`ack_ms` is how long the listener took to acknowledge, in milliseconds. A few of the columns:
""")
tour.code("""
cap.df[["received_at", "event_type", "channel", "user", "text", "ack_ms"]].head()
""")
tour.code("""
cap.counts()
""")
tour.md("""
## A chart

`slacklab.notebook.plots` draws with matplotlib and returns the `Axes`, so you can add to it. (The `;` hides
the Axes' text.)
""")
tour.code("""
from slacklab.notebook import plots

plots.plot_event_types(cap);
""")
tour.md("""
## Stop

`cap.stop()` stops the listener and the simulator it started. It is safe to call twice.
""")
tour.code("""
cap.stop()
cap.state
""")


# ====================================================================== 01


up_close = Notebook("01-socket-mode-up-close.ipynb", "01 · Socket Mode up close")
up_close.md("""
# 01 · Socket Mode up close

With **Socket Mode** your app opens a WebSocket to Slack and Slack pushes events down it: no public
Request URL, no tunnel. In this notebook *you* are the app, frame by frame, against slacklab's
simulator (which plays Slack on 127.0.0.1):

1. ask the Web API for a WebSocket URL (`apps.connections.open`);
2. connect and read the `hello`;
3. read envelopes and acknowledge them;
4. skip one ack and watch the event come back;
5. receive a `disconnect`, and reconnect the right way;
6. receive garbage, and survive it.

`slacklab.listen()` does all of this for you in a background thread (notebook 02). The decisions it
takes come from the pure functions you call here by hand: `parse_frame`, `build_ack`,
`decide_disconnect`.
""")
up_close.code("""
import json
import time
from contextlib import ExitStack

from slack_sdk import WebClient
from websockets.sync.client import connect

from slacklab.protocol import build_ack, decide_disconnect, parse_frame
from slacklab.redact import mask_json, mask_text
from slacklab.sim.scenario import build_scenario
from slacklab.schema import payload_fields
from slacklab.sim.server import Simulator

# 40 events of a fake workspace over 60 simulated seconds, played 4x faster than real time.
# ack_timeout: after 2 s without an ack, the simulator delivers an envelope again (Slack: about 3 s).
sim = Simulator(build_scenario(seed=1, events=40, duration=60), speed=4, ack_timeout=2.0)
sim
""")
up_close.md("""
## 1. Ask for a WebSocket URL

The app calls `apps.connections.open` with its **app-level token** (`xapp-…`, scope
`connections:write`). The simulator's token is fake and its Web API lives at `sim.api_url`. Each
URL works **once**; its `ticket` is a secret, so slacklab masks it whenever it shows one.
""")
up_close.code("""
web = WebClient(base_url=sim.api_url)
url = web.apps_connections_open(app_token=sim.app_token)["url"]
print(mask_text(url))
""")
up_close.md("""
## 2. Connect and read `hello`

Two small helpers first: `read` waits for the next frame and parses it with `parse_frame` (which never
raises: anything unusable becomes a `Malformed` frame), `describe` prints one line about it.
""")
up_close.code("""
def read(ws, timeout=10.0):
    \"\"\"The next frame from Slack, parsed; None when nothing came within `timeout` seconds.\"\"\"
    try:
        return parse_frame(ws.recv(timeout=timeout))
    except TimeoutError:
        return None


def describe(frame):
    \"\"\"One line about a frame.\"\"\"
    name = type(frame).__name__
    if name == "Malformed":
        return f"Malformed: {frame.problem}"
    if name != "Envelope":
        return repr(frame)
    event_type = payload_fields(frame.type, frame.payload).get("event_type") or ""
    retry = f"   ← retry {frame.retry_attempt} ({frame.retry_reason})" if frame.retry_attempt else ""
    return f"{frame.type:15} {event_type:24} envelope {frame.envelope_id[:8]}…{retry}"


stack = ExitStack()  # closes every socket we open, in the last cell
ws = stack.enter_context(connect(url))
hello = read(ws)
hello
""")
up_close.md("""
`num_connections` counts this app's open connections. With more than one, Slack **spreads** the
events over them: each connection sees only a share. (That is why slacklab warns you when your app's
own bot is connected too.)

## 3. Envelopes and acks

Every delivery comes in an **envelope**: an `envelope_id`, a `type` (`events_api`, `slash_commands`,
`interactive`), the `payload` (what an HTTP app would get as the request body), and `retry_attempt` /
`retry_reason`. Here is one, as it arrived (secrets masked):
""")
up_close.code("""
text = ws.recv(timeout=30)
received = time.perf_counter()
envelope = parse_frame(text)

data = mask_json(json.loads(text))
payload = data.pop("payload")
print("envelope:", json.dumps(data, indent=2))
print("payload keys:", list(payload))
inner = {k: v for k, v in payload.get("event", payload).items() if k != "blocks"}
print("event:", json.dumps(inner, indent=2, ensure_ascii=False))
""")
up_close.md("""
The app must answer within about **3 seconds** with `{"envelope_id": "…"}` — and nothing else is
needed for events. `build_ack` makes that text:
""")
up_close.code("""
ack = build_ack(envelope.envelope_id)
ws.send(ack)
print(f"sent {ack}")
print(f"{(time.perf_counter() - received) * 1000:.0f} ms after receipt (you are slower than a listener thread!)")
""")
up_close.md("""
A real app acks **first** and works on the event afterwards. Read and ack the next ten:
""")
up_close.code("""
for _ in range(10):
    frame = read(ws)
    if frame is None:
        break
    if getattr(frame, "envelope_id", None):
        ws.send(build_ack(frame.envelope_id))  # ack first…
    print(describe(frame))  # …then look at it
""")
up_close.md("""
## 4. Skip an ack

Now hold back the ack of the next event. After `ack_timeout` the same event comes again, in a
**new envelope**, with `retry_attempt` 1 and `retry_reason` `timeout`. So de-duplicate on the
payload's `event_id`, never on `envelope_id`.
""")
up_close.code("""
skipped = None
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    frame = read(ws, timeout=5)
    if frame is None:
        break
    print(describe(frame))
    if not getattr(frame, "envelope_id", None):
        continue
    event_id = frame.payload.get("event_id")
    if skipped is None and frame.type == "events_api":
        skipped = frame
        print(f"   (not acking event {event_id})")
        continue
    ws.send(build_ack(frame.envelope_id))
    if skipped is not None and event_id == skipped.payload.get("event_id"):
        print(f"   event {event_id} came back: envelope {skipped.envelope_id[:8]}… then {frame.envelope_id[:8]}…")
        break
""")
up_close.md("""
## 5. `disconnect`, and reconnecting the right way

Slack refreshes connections from time to time: first a `disconnect` with reason `warning`, then
`refresh_requested`. The right move is to **open a new connection first**, then close the old one,
so no event falls in the gap. `decide_disconnect` says what to do for each reason (and
`link_disabled` means Socket Mode was switched off: stop).

Here we ask the simulator to send `refresh_requested` now.
""")
up_close.code("""
sim.disconnect("refresh_requested")
while (frame := read(ws, timeout=5)) is not None:
    if getattr(frame, "envelope_id", None):
        ws.send(build_ack(frame.envelope_id))
    print(describe(frame))
    if type(frame).__name__ == "Disconnect":
        break
decide_disconnect(frame.reason)
""")
up_close.code("""
new_url = web.apps_connections_open(app_token=sim.app_token)["url"]  # a fresh URL: never reuse one
new_ws = stack.enter_context(connect(new_url))
print(describe(read(new_ws)))  # hello on the new connection first…
ws.close()  # …then close the old one
ws = new_ws
[(c.id, c.state, c.disconnect_reason) for c in sim.connections]
""")
up_close.md("""
## 6. Garbage in

A client must survive anything: `parse_frame` turns unusable text into a `Malformed` frame with the
problem in plain words, and the listener keeps it in `cap.problems()`.
""")
up_close.code("""
sim.send_malformed()
while (frame := read(ws, timeout=5)) is not None:
    if getattr(frame, "envelope_id", None):
        ws.send(build_ack(frame.envelope_id))
    if type(frame).__name__ == "Malformed":
        print(describe(frame))
        break
""")
up_close.md("""
## What Slack saw

The simulator keeps the ground truth: events sent, deliveries (retries included), acks.
""")
up_close.code("""
sim.truth.summary()
""")
up_close.md("""
## Stop

Close the sockets and the simulator.
""")
up_close.code("""
stack.close()
sim.close()
sim
""")


# ====================================================================== 02


live = Notebook("02-live-capture.ipynb", "02 · Live capture")
live.md("""
# 02 · Live capture into a DataFrame

`slacklab.listen()` starts a listener in a background thread and returns a **capture** at once. The
listener journals, acks and records every delivery; you keep using the notebook. `slacklab.explore()`
puts filters, live counts and a chart on top.

No token is set, so this runs on the built-in simulator: 300 events of a fake workspace over
about 20 seconds.
""")
live.code("""
import slacklab

cap = slacklab.listen(events=300, duration=60, speed=3)
cap
""")
live.md("""
`cap` shows the state, the counts, the rate and the connections; run the cell again to see them grow.

## The explore panel

While events stream in, try the controls: pick one or more **event types** (Ctrl/Cmd-click for
several), a **channel** or a **user**, type in **search** (it looks in the text and the raw payload),
narrow the **time** window, **hide retries**, change the chart's **interval**. The panel redraws at
most twice a second, so the notebook stays responsive.
""")
live.code("""
panel = slacklab.explore(cap)
panel
""")
live.md("""
The kernel is free while the panel refreshes. This cell waits until 200 deliveries arrived (at most
30 seconds); watch the panel keep moving meanwhile:
""")
live.code("""
cap.wait_for(200, timeout=30)
""")
live.md("""
## The rows behind the panel

`panel.df` holds every row that passes the panel's filters right now (the table shows only the newest
ones), in a compact form: the useful columns, times to the millisecond. `panel.full_df` has the same
rows with every column (ids, the masked raw `payload`…). Change a filter above and run this cell again.
""")
live.code("""
panel.df.tail()
""")
live.code("""
panel.full_df.columns.tolist()
""")
live.code("""
panel.filters
""")
live.md("""
Filters can be set from code too:
""")
live.code("""
panel.set_filters(event_types=["message"], hide_retries=True)
panel.df[["received_at", "channel", "user", "text"]].tail()
""")
live.code("""
panel.set_filters(event_types=[], hide_retries=False)  # back to everything
panel.filters.describe()
""")
live.md("""
## The same without widgets

The panel is a view of `slacklab.notebook.filters.Filters`, which works on any deliveries DataFrame, and of
`slacklab.notebook.plots`, whose functions return matplotlib Axes.
""")
live.code("""
from slacklab.notebook import plots
from slacklab.notebook.filters import Filters

mentions = Filters(event_types=("app_mention",)).apply(cap.df)
print(f"{len(mentions)} app mentions among {len(cap.df)} deliveries")
cap.events()[["event_id", "event_type", "channel", "deliveries"]].head()  # one row per event
""")
live.code("""
plots.plot_timeline(cap, "5s");
""")
live.code("""
plots.plot_latency(cap);  # how long the listener took to ack
""")
live.md("""
## Stop

Let the scenario finish, then stop. `cap.stop()` stops the listener and the simulator it started;
`panel.stop()` draws the panel one last time and stops following the capture. The panel stays usable:
its filters still work on what was captured.
""")
live.code("""
cap.wait_for(300, timeout=30)
cap.stop()
panel.stop()
cap
""")


# ====================================================================== 03


http_vs_socket = Notebook("03-http-vs-socket.ipynb", "03 · HTTP vs Socket Mode")
http_vs_socket.md("""
# 03 · HTTP vs Socket Mode

An app receives its events **either** over HTTP (Slack POSTs each one to your Request URL) **or** over
Socket Mode (Slack pushes envelopes down a WebSocket your app opened) — never both at once. To see how
they differ, play **two installs of the same app** in one simulated workspace: one in Socket Mode, one
with a Request URL. `listen_both` plays one scenario to slacklab's listener and to slacklab's HTTP
receiver at the same time, on **one clock**: each event *happens* once, at a wall-clock moment stamped
in its `event_time`, so `received_at − event_time` is each transport's real latency.
""")
http_vs_socket.code("""
import slacklab
from slacklab.comparison.both import listen_both

run = listen_both(events=60, duration=10, speed=10, seed=3)   # 10 simulated seconds, played in 1
run
""")
http_vs_socket.md("""
## Watch the same events arrive

`slacklab.explore` on a comparison gives a widget: one set of filters for both sides, the line-up
(pick a row to see both payloads and the fields that differ), and the latency and retry charts. It
follows both captures while they stream.
""")
http_vs_socket.code("""
panel = slacklab.explore(run.compare())
panel
""")
http_vs_socket.code("""
run.wait_done(timeout=30)
cmp = run.compare()
cmp
""")
http_vs_socket.md("""
Both sides saw the same events, which nobody doubted. What differs is *how* they came: latency is
milliseconds on both (loopback), the order can differ (HTTP requests run in parallel), and HTTP has
a `url_verification` request Socket Mode never needs. The tables are DataFrames for your own analysis
(`cmp.summary`, `cmp.timeline`, `cmp.dedup`, `cmp.signatures`, `cmp.offline`); `cmp.readable(name)`
formats one for reading.
""")
http_vs_socket.code("""
cmp.readable("latency")
""")
http_vs_socket.md("""
## Signatures

Over HTTP anyone can POST to your URL, so Slack signs each request with your app's **signing secret**
(HMAC-SHA256 of `v0:timestamp:body`) and asks you to refuse timestamps more than five minutes old.
Over Socket Mode the WebSocket itself was opened with your app token, so envelopes carry no
signature. Play an attacker who posts a copy of an event with a wrong signature, and another who
replays a captured request ten minutes later: the receiver answers **401** to both, and the
comparison leaves them out.
""")
http_vs_socket.code("""
def story(during=None, **knobs):
    \"\"\"One short two-transport run with some knobs turned; returns its run and comparison.\"\"\"
    run = listen_both(events=40, duration=8, speed=10, seed=5, **knobs)
    if during is not None:
        during(run)
    run.wait_done(timeout=60)
    cmp = run.compare()
    run.stop()
    return run, cmp


forged_run, forged = story(forge={3: "invalid", 8: "stale"})
forged.signatures
""")
http_vs_socket.md("""
## Break things, one at a time

### The app is slow

Your handler takes 4 s for every sixth event the first time. Over HTTP, Slack gives up after 3 s and
retries (`X-Slack-Retry-Num: 1`, `X-Slack-Retry-Reason: http_timeout`); over Socket Mode the envelope
is redelivered after about 3 s with `retry_attempt: 1`, `retry_reason: "timeout"`. Both end up in the
same `retry_attempt`/`retry_reason` columns, and de-duplication on the event key keeps one of each.
""")
http_vs_socket.code("""
slow_run, slow = story(slow=(4.0, 6))
slow.readable("dedup")
""")
http_vs_socket.code("""
slow.readable("timeline")[slow.timeline["delivery"] > 1][["side", "event_type", "delivery", "why", "after"]]
""")
http_vs_socket.code("""
from slacklab.notebook.plots import new_axes

slow.plot(new_axes(), kind="retries");
""")
http_vs_socket.md("""
### The app is down

For 1.5 s the app cannot be reached. Over HTTP every request fails (503) and Slack retries on its
schedule — nearly at once, then after **1 minute**, then after **5 minutes** (divided by `speed` here);
slash commands and button clicks are not retried at all: the user saw an error. Over Socket Mode there
is simply no connection: envelopes wait, and arrive when the app reconnects.
""")
http_vs_socket.code("""
down_run, down = story(down=1.5)
for line in down.headline():
    print(line)
""")
http_vs_socket.code("""
down.plot(new_axes(), kind="latency");
""")
http_vs_socket.md("""
If failures go on, Slack **turns event delivery off**: more than 95 % of deliveries failing within 60
minutes, for apps receiving at least 1,000 events an hour (smaller apps are exempt). The docs give
the thresholds but not exactly how they are counted; `DisableRule` is slacklab's reading, and
`min_events=10` lets a small scenario show it.
""")
http_vs_socket.code("""
from slacklab.sim.http_rules import DisableRule

off_run, off = story(disable=DisableRule(min_events=10), down=4.0)
slack = off_run.truth.http.summary()
print(f"Slack turned HTTP delivery off: {slack['disabled']} of {slack['items']} events were given up")
print(f"the app answered only errors to {off.summary.loc['not accepted (every answer an error)', 'http']} events "
      f"over HTTP; over Socket Mode it received {off.summary.loc['events', 'socket']}")
""")
http_vs_socket.md("""
### A refresh, a dropped WebSocket, several connections

Slack refreshes Socket Mode connections now and then (`disconnect`, `refresh_requested`); the listener
opens a new one first, so nothing is lost. HTTP has no connection to lose. When **another instance of
the app** connects with the same token (a teammate's laptop), Slack spreads envelopes over both
connections: the events it takes never reach your capture — they show up as *only http*.
""")
http_vs_socket.code("""
shared_run, shared = story(other_consumer=True, during=lambda run: run.refresh())
print(f"{len(shared.only_b)} events came only over HTTP: the other consumer's connection took them")
shared.readable("offline")
""")
http_vs_socket.md("""
## Replay what you captured, re-signed

A request replayed as recorded fails the signature check as *stale* (its timestamp is old), and an
edited one as *invalid*. `slacklab.comparison.replay` sends any capture — a journal, a HAR, an ngrok export, a
filtered DataFrame — again, **re-signed** with the secret you give and a fresh timestamp, marked
`X-Slacklab-Replay: 1` (in a slacklab capture: `replayed=True`). From a shell:
`SLACK_SIGNING_SECRET=... slacklab replay capture.har --to http://127.0.0.1:3000/slack/events`.
""")
http_vs_socket.code("""
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET

target = slacklab.receive_http(signing_secret=FAKE_SIGNING_SECRET)
messages = run.http.df.query("event_type == 'message'").head(5)
print(slacklab.replay(messages, to=target.url, signing_secret=FAKE_SIGNING_SECRET))
print(slacklab.replay(messages, to=target.url, signing_secret="a-secret-the-app-does-not-have"))
target.wait_for(10, timeout=5)
target.df[["event_id", "signature", "http_status", "replayed"]]
""")
http_vs_socket.md("""
## Which should my app use?

From Slack's own docs:

* **Socket Mode** needs no public URL: it works behind a firewall and on a laptop, which makes it the
  easy choice while developing. Slack allows up to **10** open connections per app and refreshes them
  from time to time; your app must keep one open.
* **HTTP** is stateless and scales horizontally; Slack recommends it for production, and apps in the
  **Slack Marketplace must use HTTP** (Socket Mode apps cannot be listed).
* Both deliver the same payloads, retried on failure; HTTP must verify every request's signature,
  Socket Mode must acknowledge every envelope within about 3 s.

More in `docs/http-vs-socket.md`.

## Stop
""")
http_vs_socket.code("""
panel.stop()  # the widget stays, showing the last state
run.stop()
target.stop()
run.socket.state, run.http.state
""")


# ====================================================================== 04


retries = Notebook("04-retries-and-reconnects.ipynb", "04 · Retries and reconnects")
retries.md("""
# 04 · Retries, reconnects and de-duplication

Two experiments on the simulator:

1. **withhold acks** by hand and watch Slack deliver the same events again, then count them once;
2. let the real listener run while the simulator **refreshes**, **cuts** and **silences** its
   connection, and check that no event was lost;
3. **answer in the ack**: a slash command's reply and a menu's options, sent with the ack, and a
   responder too slow for Slack's deadline.
""")
retries.code("""
import time
from contextlib import ExitStack

from slack_sdk import WebClient
from websockets.sync.client import connect

import slacklab
from slacklab.notebook import plots
from slacklab.capture import Capture
from slacklab.protocol import build_ack, parse_frame
from slacklab.sim.scenario import build_scenario
from slacklab.sim.server import Simulator
""")
retries.md("""
## 1. Withhold acks

A client that never acks some events. The simulator redelivers an unacked envelope after
`ack_timeout` (1 s here), up to 3 times, each time in a new envelope with `retry_attempt` 1, 2, 3.
Every frame goes into a `Capture` with `record_frame`, exactly as the listener records them, so we
get the same DataFrames.
""")
retries.code("""
sim = Simulator(build_scenario(seed=4, events=12, duration=6), speed=3, ack_timeout=1.0)
url = WebClient(base_url=sim.api_url).apps_connections_open(app_token=sim.app_token)["url"]
by_hand = Capture(label="by hand")
withheld = set()  # event ids we never ack

with ExitStack() as stack:
    ws = stack.enter_context(connect(url))
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        try:
            text = ws.recv(timeout=3)
        except TimeoutError:
            break  # quiet for 3 s: Slack gave up on what we did not ack
        frame = parse_frame(text)
        by_hand.record_frame(frame, received_at=time.time(), connection="by-hand")
        if not getattr(frame, "envelope_id", None):
            continue
        event_id = frame.payload.get("event_id")
        if event_id and len(withheld) < 3 and frame.retry_attempt == 0:
            withheld.add(event_id)
        if event_id not in withheld:
            ws.send(build_ack(frame.envelope_id))
sim.close()
print(f"withheld the acks of {sorted(withheld)}")
""")
retries.md("""
Every delivery is a row — retries included:
""")
retries.code("""
deliveries = by_hand.df
deliveries[deliveries["event_id"].isin(withheld)][
    ["received_at", "event_id", "envelope_id", "retry_attempt", "retry_reason"]
]
""")
retries.md("""
`events()` counts each event once, keyed on `app/team/event_id`, with how many times it came:
""")
retries.code("""
events = by_hand.events()
print(f"{len(deliveries)} deliveries, {len(events)} events")
events[["event_id", "event_type", "deliveries"]].sort_values("deliveries", ascending=False).head()
""")
retries.code("""
sim.truth.summary()  # the simulator's side: the withheld events are "unacked", nothing else is
""")
retries.md("""
## 2. The listener under fire

Now the real listener, with short keepalive pings so that a silent connection is noticed within
seconds, and a simulator that refreshes every connection every 30 simulated seconds (`warning`, then
`refresh_requested`). While it runs, three faults:

* `disconnect("refresh_requested")`: the listener opens a new connection **before** closing the old;
* `drop_connection()`: a network cut, no close frame: the listener reconnects with backoff;
* `go_silent()`: a half-open connection: nothing gets through, acks vanish, pings get no pong. Slack
  redelivers what was not acked, the listener notices the missing pong and reconnects.
""")
retries.code("""
cap = slacklab.listen(
    events=150, duration=40, speed=4, seed=4,
    simulator_options={"ack_timeout": 2.0, "refresh_interval": 30, "refresh_warning": 4, "refresh_grace": 4},
    ping_interval=1.0, ping_timeout=1.0,
)
sim = cap.simulator
cap.wait_for(30, timeout=20)
sim.disconnect("refresh_requested")
cap.wait_for(60, timeout=20)
sim.drop_connection()
cap.wait_for(90, timeout=20)
sim.go_silent()
sim.wait_done(timeout=30)  # every event acked, or given up after its last retry
cap
""")
retries.md("""
Each WebSocket the listener opened, and why it closed:
""")
retries.code("""
cap.connections()[["connection", "opened_at", "closed_at", "close_reason", "deliveries"]]
""")
retries.md("""
Deliveries that were retries: their first attempts went into the silent connection, so the listener
met these events only on a retry. Each still counts once in `cap.events()`.
""")
retries.code("""
cap.df.query("retry_attempt > 0")[["received_at", "connection", "event_type", "retry_attempt", "retry_reason"]].head(10)
""")
retries.md("""
The listener's view against the simulator's ground truth. An event is **lost** when every attempt
(the first and three retries) went where nobody could answer — the price of a half-open connection
noticed too late.
""")
retries.code("""
events = cap.events()
truth = sim.truth.summary()
print(f"simulator: {truth['events']} events in {truth['deliveries']} deliveries, {truth['lost_events']} lost")
print(f"listener:  {len(cap.df)} deliveries of {len(events)} distinct events, "
      f"{int((events['deliveries'] > 1).sum())} of them received more than once")
""")
retries.code("""
plots.plot_timeline(cap, "2s");
""")
retries.md("""
## 3. Answers in the ack

A slash command, a `block_suggestion` (a menu that asks for its options) or a `view_submission`
arrives in an envelope with `accepts_response_payload: true`. For those, the ack itself may carry the
answer — `{"envelope_id": …, "payload": {…}}` — as long as it leaves within Slack's ~3 s. `cap.respond`
registers a function that makes that payload; everything else keeps the usual instant, empty ack.

A fresh capture (starting it stops the listener above: the simulator's token is the same):
""")
retries.code("""
import pandas as pd
from slacklab.testing import payload, send_and_wait_for_answer

cap = slacklab.listen(scenario=[], speed=None)
sim = cap.simulator

def deploy(p):
    return {"response_type": "in_channel", "text": f"deploying *{p['text']}* for <@{p['user_id']}>"}

def search(p):
    services = ["api", "billing", "web", "worker"]
    return {"options": [{"text": {"type": "plain_text", "text": s}, "value": s}
                        for s in services if s.startswith(p["value"])]}

cap.respond("/deploy", deploy)
cap.respond("block_suggestion", search, action_id="search")
cap.responders
""")
retries.md("""
The simulator plays a member typing `/deploy api staging`, then typing `w` into a menu, and returns
what came back in each ack, with what Slack did with it (`effect`):
""")
retries.code("""
send_and_wait_for_answer(sim, payload("slash_command", command="/deploy", text="api staging", seed=1))
""")
retries.code("""
send_and_wait_for_answer(sim, payload("block_suggestion", value="w", seed=2))["response"]
""")
retries.md("""
`in_channel` made the reply a message in the channel, posted by the app's bot — and Slack sends that
message back as a `message` event with the bot's `bot_id`. The capture records each answer, secrets
masked, in the `response_payload` column, and `ack_ms` includes the responder's time:
""")
retries.code("""
cap.wait_for(3)
cap.df[["kind", "event_type", "bot_id", "text", "ack_ms", "response_payload"]]
""")
retries.code("""
pd.DataFrame(sim.truth.responses)[["type", "effect", "error", "response"]]  # Slack's side
""")
retries.md("""
A responder that takes too long: the listener waits 2.5 s (`deadline=`), then sends an **empty** ack,
so Slack does not redeliver, and says what happened in `cap.problems()`. The member saw no answer.
Meanwhile every other envelope is read and acked as usual.
""")
retries.code("""
def report(p):
    time.sleep(3.1)
    return {"text": "report ready"}

cap.respond("/report", report)
sim.add([payload("slash_command", command="/report", seed=3)])
deadline = time.monotonic() + 10
while cap.problems().empty and time.monotonic() < deadline:
    time.sleep(0.1)
cap.problems()[["at", "problem"]]
""")
retries.code("""
print(cap.responders)
[(d["event_type"], round(d["acked_at"] - d["sent_at"], 1), "late" if d["ack_late"] else "in time")
 for d in sim.truth.deliveries if d["kind"] == "slash_commands"]
""")
retries.md("""
Two clocks, two verdicts: the responder for `/report` was **late** for its own 2.5 s deadline (its answer
was dropped), yet Slack saw the envelope acked **in time** (the empty ack went out at 2.5 s, inside Slack's
3 s). That is the point of the deadline: a slow answer costs the user the reply, never a redelivery.
""")
retries.md("""
## Stop
""")
retries.code("""
cap.stop()
cap
""")


# ====================================================================== 05


export = Notebook("05-export-csv.ipynb", "05 · Export CSV")
export.md("""
# 05 · Exporting CSV

Every capture exports to CSV that is safe to open in a spreadsheet:

* **no secrets**: tokens, the verification `token` field and tickets are masked;
* **no formulas**: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in
  front, so a spreadsheet shows it instead of running it (message text is user input!);
* **UTF-8, ISO-8601 UTC times**, the same columns in the same order every time;
* written to a temporary file and renamed, so never half-written.

Files go to `slacklab-out/` next to this notebook.
""")
export.code("""
from pathlib import Path

import pandas as pd

import slacklab

out = Path("slacklab-out")
cap = slacklab.listen(events=120, duration=30, speed=None, journal=out / "capture.jsonl")  # as fast as possible
cap.wait_for(120, timeout=30)
cap
""")
export.md("""
## Deliveries, events, chosen columns
""")
export.code("""
cap.to_csv(out / "deliveries.csv")
cap.to_csv(out / "events.csv", view="events", columns=["event_id", "event_type", "channel", "user", "deliveries"])
pd.read_csv(out / "events.csv").head()
""")
export.md("""
Times come back as text; ask pandas to parse them:
""")
export.code("""
again = pd.read_csv(out / "deliveries.csv", parse_dates=["received_at", "event_time"])
again[["received_at", "event_type", "text"]].dtypes
""")
export.md("""
## What "safe" does

`safe_frame` is what the export writes. Two hostile messages:
""")
export.code("""
from slacklab.export import safe_frame

demo = cap.df.head(2).copy()
demo["text"] = ['=HYPERLINK("http://example.invalid", "click me")', "my token is xoxb-1234-5678-abcdefghijkl"]
safe_frame(demo, columns=["event_type", "text"])
""")
export.md("""
## Export what you filtered

The explore panel's **Export CSV** button writes the rows that pass its filters. From code:
""")
export.code("""
panel = slacklab.explore(cap)
panel.set_filters(event_types=["reaction_added", "reaction_removed"])
panel.export_csv(out / "reactions.csv")
panel
""")
export.md("""
## The journal, and reloading

`journal=` kept every raw frame, written **before** each ack. `slacklab.load()` rebuilds the same
capture from it — after a crash too. The journal holds raw payloads: it is created readable by you
only, treat it like a secret. Stop the capture first so the file is complete.
""")
export.code("""
cap.stop()
reloaded = slacklab.load(out / "capture.jsonl")
print(f"live: {len(cap.df)} deliveries · reloaded: {len(reloaded.df)} deliveries")
reloaded.to_csv(out / "from-journal.csv")
sorted(p.name for p in out.iterdir())
""")
export.md("""
## Stop
""")
export.code("""
panel.stop()  # stops following the capture; the panel stays usable
cap.state
""")


# ====================================================================== 06


real = Notebook("06-real-slack.ipynb", "06 · Real Slack")
real.md("""
# 06 · Connecting to a real Slack app

Everything so far ran on the simulator. This notebook connects to **your** Slack workspace — but only
when an app-level token is in the environment. Without one, it explains what to do and skips the
live cells, so it still runs top to bottom.

## 1. Create the app from a manifest

At <https://api.slack.com/apps> choose **Create New App → From a manifest**, pick your workspace and
paste the JSON printed below. It turns **Socket Mode on** (`socket_mode_enabled`) and subscribes to a
few bot events with the scopes they need.
""")
real.code("""
import json

manifest = {
    "display_information": {"name": "slacklab listener", "description": "Watches events for a workshop"},
    "features": {"bot_user": {"display_name": "slacklab", "always_online": False}},
    "oauth_config": {
        "scopes": {
            "bot": ["app_mentions:read", "channels:history", "channels:read", "groups:history",
                    "im:history", "reactions:read"],
        },
    },
    "settings": {
        "event_subscriptions": {
            "bot_events": ["app_mention", "member_joined_channel", "message.channels", "message.groups",
                           "message.im", "reaction_added", "reaction_removed"],
        },
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": True,
        "token_rotation_enabled": False,
    },
}
print(json.dumps(manifest, indent=2))
""")
real.md("""
| event | delivered as | scope |
|---|---|---|
| `message.channels` / `message.groups` / `message.im` | `message` in public / private channels / DMs | `channels:history` / `groups:history` / `im:history` |
| `app_mention` | `app_mention` | `app_mentions:read` |
| `reaction_added`, `reaction_removed` | same | `reactions:read` |
| `member_joined_channel` | same | `channels:read` |

## 2. The app-level token

In the app's settings, **Basic Information → App-Level Tokens → Generate Token and Scopes**, add the
scope **`connections:write`**, and copy the token: it starts with `xapp-`. Then **Install App** to your
workspace and invite the bot to a channel (`/invite @slacklab`).

## 3. Put the token in the environment — not in the notebook

Quit JupyterLab, then in the same terminal:

```bash
export SLACK_APP_TOKEN=xapp-...   # PowerShell: $env:SLACK_APP_TOKEN = "xapp-..."
make lab                          # or: jupyter lab notebooks/
```

Two things to know before you connect:

* turning Socket Mode on moves the app's events from its HTTP Request URL to WebSockets;
* Slack **spreads** events over all of the app's open connections. If your app's own bot is running in
  Socket Mode too, slacklab sees only a share (it tells you: `hello.num_connections`), and — since it
  acks what it receives — your bot does not see those events.
""")
real.code("""
import os

import slacklab
from slacklab.listener import check_app_token

token = os.environ.get("SLACK_APP_TOKEN", "").strip()
if token:
    check_app_token(token)  # a clear error if it is not an xapp- token (the token itself is never shown)
    print("SLACK_APP_TOKEN is set: the cells below connect to real Slack.")
else:
    print("SLACK_APP_TOKEN is not set, so this notebook does not connect to Slack: the live cells below do "
          "nothing. To connect, follow steps 1-3 above and start JupyterLab again.")
""")
real.md("""
## 4. Listen

The same `slacklab.listen()` as on the simulator; with the token set it goes to Slack. The journal
keeps the raw frames (created readable by you only: it holds raw payloads).
""")
real.code("""
cap = None
if token:
    cap = slacklab.listen(journal="slacklab-out/real-slack.jsonl")
    cap.wait_for(1, timeout=5)
cap
""")
real.md("""
Post a message in a channel the app is in, mention it, add a reaction — then run the next cell. It
waits up to a minute for your first event.
""")
real.code("""
if cap is not None:
    arrived = cap.wait_for(1, timeout=60)
    print(f"{arrived} deliveries so far; notes: {cap.notes}")
    display(cap.connections())
else:
    print("Not connected (no SLACK_APP_TOKEN).")
""")
real.code("""
panel = None
if cap is not None:
    panel = slacklab.explore(cap)
    display(panel)
""")
real.md("""
## Stop
""")
real.code("""
if cap is not None:
    panel.stop()
    cap.stop()
    print(cap)
else:
    print("Nothing to stop: no connection was made.")
""")


# ====================================================================== exercises


exercises = Notebook("exercises/exercises.ipynb", "Exercises")
exercises.md("""
# Exercises

Each exercise has a cell to fill in and a cell that checks your answer. Stuck? Each answer cell starts
with a `# %load solutions/….py` line: remove the `#` and run the cell to load the solution into it,
then run it again.

First, a capture to work on (the simulator, as fast as it goes):
""")
exercises.code("""
import pandas as pd

import slacklab
from slacklab.notebook import plots
from slacklab.notebook.filters import Filters

cap = slacklab.listen(events=200, duration=60, speed=None, seed=7)
cap.wait_for(200, timeout=30)
df = cap.df
print(f"{len(df)} deliveries")
""")

EXERCISES: list[tuple[str, str, str, str]] = [
    (
        "busiest_channel",
        "## 1. The busiest channel\n\nWhich channel received the most deliveries? Put its id in `busiest`.",
        "busiest = None  # your answer",
        """
        if busiest == df["channel"].value_counts().idxmax():
            print("✓ right")
        else:
            print("not yet — try value_counts() on the channel column")
        """,
    ),
    (
        "slash_commands",
        "## 2. Slash commands\n\nWhich slash commands were used, and how often? Make a pandas Series `commands`: "
        "the command (such as `/deploy`) as index, the number of deliveries as values, most used first. "
        'Hint: slash commands have `kind == "slash_commands"`, and the command is in `event_type`.',
        "commands = None  # your answer",
        """
        expected = df.loc[df["kind"] == "slash_commands", "event_type"].value_counts()
        ok = isinstance(commands, pd.Series) and commands.to_dict() == expected.to_dict()
        print("✓ right" if ok else "not yet — filter the rows on kind, then value_counts() on event_type")
        """,
    ),
    (
        "ack_times",
        "## 3. Ack times per connection\n\nThe median `ack_ms` per `connection`, as a pandas Series named `medians`.",
        "medians = None  # your answer",
        """
        expected = df.groupby("connection")["ack_ms"].median()
        ok = isinstance(medians, pd.Series) and medians.round(6).equals(expected.round(6))
        print("✓ right" if ok else "not yet — groupby('connection') then ['ack_ms'].median()")
        """,
    ),
    (
        "mention_chart",
        "## 4. A chart of mentions and reactions\n\nUse `Filters` to keep `app_mention`, `reaction_added` and "
        "`reaction_removed`, then draw their timeline with `plots.plot_timeline`. Keep the rows in `picked` and "
        "the Axes in `ax`.",
        "picked, ax = None, None  # your answer",
        """
        wanted = {"app_mention", "reaction_added", "reaction_removed"}
        ok = picked is not None and set(picked["event_type"]) <= wanted and len(picked) == df["event_type"].isin(wanted).sum()
        ok = ok and ax is not None and ax.get_title() == "deliveries over time"
        print("✓ right" if ok else "not yet — Filters(event_types=(...)).apply(df), then plots.plot_timeline(picked)")
        """,
    ),
    (
        "export_mentions",
        "## 5. Export the mentions\n\nWrite the `app_mention` deliveries to `slacklab-out/mentions.csv` with "
        "`slacklab.export.to_csv` and keep the returned path in `written`.",
        "written = None  # your answer",
        """
        ok = written is not None and len(pd.read_csv(written)) == (df["event_type"] == "app_mention").sum()
        print("✓ right" if ok else "not yet — to_csv(Filters(event_types=('app_mention',)).apply(df), 'slacklab-out/mentions.csv')")
        """,
    ),
    (
        "ack_by_hand",
        "## 6. An ack by hand\n\nHere is an envelope as Slack sends it. Parse it with `slacklab.protocol.parse_frame` "
        "and build its ack with `build_ack`; keep the ack text in `ack`.",
        # The same two short lines as the solution: one long line ran off the right of the cell.
        "text = (\n"
        '    \'{"envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf", "type": "events_api", \'\n'
        '    \'"payload": {"event_id": "Ev1", "event": {"type": "message"}}, "retry_attempt": 0, "retry_reason": ""}\'\n'
        ")\n"
        "ack = None  # your answer",
        """
        import json
        ok = ack is not None and json.loads(ack) == {"envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf"}
        print("✓ right" if ok else "not yet — build_ack(parse_frame(text).envelope_id)")
        """,
    ),
]

for name, question, starter, check in EXERCISES:
    exercises.md(question)
    exercises.code(f"# %load solutions/{name}.py\n{dedent(starter).strip()}")
    exercises.code(check)

exercises.md("""
## Stop
""")
exercises.code("""
cap.stop()
cap.state
""")


NOTEBOOKS = [tour, up_close, live, http_vs_socket, retries, export, real, exercises]


def render() -> dict[Path, str]:
    """Every notebook's file text, by path."""
    out: dict[Path, str] = {}
    for i, nb in enumerate(NOTEBOOKS):
        previous = NOTEBOOKS[i - 1] if i > 0 else None
        following = NOTEBOOKS[i + 1] if i + 1 < len(NOTEBOOKS) else None
        out[HERE / nb.path] = nbformat.writes(build(nb, previous, following, tour)) + "\n"
    return out


def main(argv: list[str]) -> int:
    """Write the notebooks (``--check``: only say whether the files are up to date)."""
    stale = []
    for path, text in render().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if "--check" not in argv:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    verb = "out of date" if "--check" in argv else "written"
    for path in stale:
        print(f"{verb}: {path.relative_to(HERE)}")
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
