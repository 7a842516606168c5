"""The simulated workspace and what a scenario is made of (pure data: no I/O, no clock).

:class:`Workspace` (with its :class:`Channel` and :class:`User` objects) is the
small fake Slack team every item belongs to; all its ids are obviously simulated.
A :class:`Scenario` is a time-ordered tuple of :class:`ScenarioItem` objects: each says
*when* (``at``, simulated seconds from the scenario start), *how* (``kind``, one
of :data:`KINDS`: the Socket Mode envelope type) and *what* (``payload``: the
object exactly as Slack puts it in the envelope's ``payload``).

Make items with :class:`slacklab.sim.scenario.ScenarioBuilder` or a whole stretch of
traffic with :func:`slacklab.sim.scenario.build_scenario`, then hand the scenario to
:class:`slacklab.sim.server.Simulator`. Import these names from
:mod:`slacklab.sim.scenario`; this module only defines them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_WORKSPACE", "KINDS", "Channel", "Scenario", "ScenarioItem", "User", "Workspace"]

#: The Socket Mode envelope types a scenario item may have.
KINDS: tuple[str, ...] = ("events_api", "slash_commands", "interactive")


# ------------------------------------------------------------------ workspace


@dataclass(frozen=True, slots=True)
class Channel:
    """A conversation: ``id``, ``name`` and Slack's ``channel_type`` (``channel``, ``im``…)."""

    id: str
    name: str
    channel_type: str = "channel"
    shared: bool = False
    """Slack Connect: shared with another organisation (events carry ``is_ext_shared_channel``)."""


@dataclass(frozen=True, slots=True)
class User:
    """A workspace member (``id`` like ``U0SIM…``; ``name`` is the handle)."""

    id: str
    name: str
    real_name: str = ""
    team_id: str | None = None
    """The member's own workspace when it is not the simulated one (Slack Connect guests)."""


@dataclass(frozen=True, slots=True)
class Workspace:
    """The fake workspace every scenario item belongs to. All ids are obviously simulated."""

    team_id: str = "T0SIMTEAM"
    team_domain: str = "simteam"
    app_id: str = "A0SIMAPP"
    bot_user_id: str = "U0SIMBOT"
    bot_id: str = "B0SIMBOT"
    bot_name: str = "slacklab-sim"
    verification_token: str = "SIMULATED-verification-token"
    start_epoch: float = 1767268800.0
    """2026-01-01T12:00:00Z: fixed, so ``event_time``/``ts`` are the same every run."""
    channels: tuple[Channel, ...] = (
        Channel("C0SIMGENERAL", "general"),
        Channel("C0SIMRANDOM", "random"),
        Channel("C0SIMENG", "engineering"),
        Channel("C0SIMDEPLOYS", "deploys"),
        Channel("C0SIMSUPPORT", "support"),
    )
    users: tuple[User, ...] = (
        User("U0SIMALICE", "alice", "Alice Moreau"),
        User("U0SIMBOB", "bob", "Bob Okafor"),
        User("U0SIMCHLOE", "chloe", "Chloé Durand"),
        User("U0SIMDEV", "dev", "Devika Rao"),
        User("U0SIMERIK", "erik", "Erik Šimek"),
        User("U0SIMFATIMA", "fatima", "Fatima Haddad"),
    )
    dm: Channel = Channel("D0SIMBOTDM", "", "im")
    enterprise_id: str | None = None
    """Enterprise Grid org id (``None``: a standalone workspace); see :meth:`enterprise`."""
    enterprise_name: str = ""
    is_enterprise_install: bool = False
    """The app is installed org-wide (Grid): ``authorizations[0].team_id`` is ``null``."""

    @classmethod
    def enterprise(cls, *, org_install: bool = False) -> Workspace:
        """An Enterprise Grid workspace with a Slack Connect channel and one external member.

        Events then carry ``enterprise_id``, ``context_enterprise_id`` and, in
        ``#partner-acme``, ``is_ext_shared_channel: true``; interactive payloads carry
        ``team.enterprise_id``. ``org_install`` makes it an org-wide install.
        """
        base = cls()
        return cls(
            team_id="T0SIMGRID",
            team_domain="simgrid",
            enterprise_id="E0SIMORG",
            enterprise_name="Simulated Org",
            is_enterprise_install=org_install,
            channels=(*base.channels, Channel("C0SIMPARTNER", "partner-acme", shared=True)),
            users=(*base.users, User("U0SIMEXTZOE", "zoe", "Zoé Partner", team_id="T0SIMPARTNER")),
        )

    @property
    def team_name(self) -> str:
        return self.team_domain.title()

    def channel(self, ref: str | Channel | None) -> Channel:
        """The channel with this id or name (``None``: the first channel)."""
        if isinstance(ref, Channel):
            return ref
        if ref is None:
            return self.channels[0]
        for ch in (*self.channels, self.dm):
            if ref in (ch.id, ch.name, f"#{ch.name}"):
                return ch
        raise KeyError(f"no channel {ref!r} in the simulated workspace")

    def user(self, ref: str | User | None) -> User:
        """The user with this id or name (``None``: the first user)."""
        if isinstance(ref, User):
            return ref
        if ref is None:
            return self.users[0]
        for u in self.users:
            if ref in (u.id, u.name, f"@{u.name}"):
                return u
        raise KeyError(f"no user {ref!r} in the simulated workspace")


DEFAULT_WORKSPACE = Workspace()


# ---------------------------------------------------------------------- items


@dataclass(frozen=True, slots=True)
class ScenarioItem:
    """One delivery-to-be: ``payload`` of envelope type ``kind`` at ``at`` simulated seconds.

    ``accepts_response_payload`` overrides the envelope flag (default: true for
    ``slash_commands`` and ``interactive``, false for ``events_api``).
    """

    at: float
    kind: str
    payload: Mapping[str, Any]
    accepts_response_payload: bool | None = None

    @property
    def label(self) -> str:
        """A short description: ``message``, ``message/thread_broadcast``, ``/deploy``, ``block_actions``…"""
        if self.kind == "slash_commands":
            return str(self.payload.get("command") or "slash_command")
        if self.kind == "events_api":
            event = self.payload.get("event")
            if isinstance(event, Mapping):
                sub = event.get("subtype")
                label = str(event.get("type") or "event")
                if sub:
                    return f"{label}/{sub}"
                if event.get("thread_ts") and label == "message":
                    return "message/thread_reply"
                return label
        return str(self.payload.get("type") or self.kind)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A time-ordered, immutable sequence of :class:`ScenarioItem`.

    Build one with :func:`~slacklab.sim.scenario.build_scenario`,
    :class:`~slacklab.sim.scenario.ScenarioBuilder` or :meth:`from_items`; hand it to
    ``Simulator(scenario)``. ``a + b`` merges two
    scenarios by time.
    """

    items: tuple[ScenarioItem, ...] = ()
    seed: int | None = None
    workspace: Workspace = field(default=DEFAULT_WORKSPACE, repr=False)

    @classmethod
    def from_items(cls, items: Iterable[ScenarioItem], *, workspace: Workspace = DEFAULT_WORKSPACE) -> Scenario:
        """A scenario of exactly these items, sorted by ``at`` (stable for equal times)."""
        checked = []
        for item in items:
            if not isinstance(item, ScenarioItem):
                raise TypeError(f"expected ScenarioItem, got {type(item).__name__}")
            if item.kind not in KINDS:
                raise ValueError(f"unknown kind {item.kind!r}; expected one of {KINDS}")
            if item.at < 0 or item.at != item.at:
                raise ValueError(f"item time must be a number >= 0, got {item.at!r}")
            checked.append(item)
        return cls(tuple(sorted(checked, key=lambda i: i.at)), None, workspace)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[ScenarioItem]:
        return iter(self.items)

    def __getitem__(self, index: int) -> ScenarioItem:
        return self.items[index]

    def __add__(self, other: Scenario) -> Scenario:
        return Scenario.from_items((*self.items, *other.items), workspace=self.workspace)

    @property
    def duration(self) -> float:
        """Simulated seconds from the start to the last item (0 when empty)."""
        return self.items[-1].at if self.items else 0.0

    def counts(self) -> dict[str, int]:
        """How many items of each :attr:`ScenarioItem.label`, most common first."""
        return dict(Counter(item.label for item in self.items).most_common())

    def __repr__(self) -> str:
        return (
            f"Scenario({len(self.items)} items over {self.duration:.1f} simulated s, "
            f"seed={self.seed}, team={self.workspace.team_id})"
        )
