"""Events beyond messages: files, App Home, Slack Connect, assistant threads, workflow steps, rate limits (pure).

:class:`AppEventPayloads` is part of :class:`slacklab.sim.payloads.ScenarioBuilder`;
use that. Each method adds one item with the shape of Slack's reference page for
that event (``file_shared``, ``app_home_opened``, ``channel_shared``,
``assistant_thread_started``, ``function_executed``, ``app_rate_limited``).
"""

from __future__ import annotations

from typing import Any

from slacklab.sim.payload_base import BuilderBase
from slacklab.sim.workspace import Channel, ScenarioItem, User, Workspace

__all__ = ["AppEventPayloads", "file_object"]

_MIME = {
    "png": ("image/png", "PNG"),
    "jpg": ("image/jpeg", "JPEG"),
    "csv": ("text/csv", "CSV"),
    "pdf": ("application/pdf", "PDF"),
}


def file_object(ws: Workspace, file_id: str, name: str, user: User, created: int) -> dict[str, Any]:
    """A file as Slack describes it in ``files[]`` of a ``file_share`` message (URLs are simulated)."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else "text"
    mimetype, pretty = _MIME.get(ext, ("text/plain", "Plain Text"))
    private = f"https://files.slack.com/files-pri/{ws.team_id}-{file_id}/{name}"
    file: dict[str, Any] = {
        "id": file_id,
        "created": created,
        "timestamp": created,
        "name": name,
        "title": name,
        "mimetype": mimetype,
        "filetype": ext,
        "pretty_type": pretty,
        "user": user.id,
        "user_team": user.team_id or ws.team_id,
        "editable": False,
        "size": 4096 + 37 * len(name),
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": True,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        "url_private": private,
        "url_private_download": f"https://files.slack.com/files-pri/{ws.team_id}-{file_id}/download/{name}",
        "media_display_type": "unknown",
        "permalink": f"https://{ws.team_domain}.slack.com/files/{user.id}/{file_id}/{name}",
        "permalink_public": f"https://slack-files.com/{ws.team_id}-{file_id}-SIMULATED",
        "has_rich_preview": False,
        "file_access": "visible",
    }
    if mimetype.startswith("image/"):
        file.update(original_w=1200, original_h=800)
    return file


class AppEventPayloads(BuilderBase):
    """Non-message events (mixed into :class:`~slacklab.sim.payloads.ScenarioBuilder`)."""

    def app_home_opened(self, at: float, *, user: str | User | None = None, tab: str = "home") -> ScenarioItem:
        """``app_home_opened``: a member opened the app's Home (``tab="home"``) or Messages tab."""
        u = self.workspace.user(user)
        return self.event(
            at,
            {
                "type": "app_home_opened",
                "user": u.id,
                "channel": self.workspace.dm.id,
                "tab": tab,
                "event_ts": self._ts(at),
            },
        )

    def channel_shared(
        self, at: float, *, channel: str | Channel | None = None, connected_team_id: str = "T0SIMPARTNER"
    ) -> ScenarioItem:
        """``channel_shared``: a channel became a Slack Connect channel (``is_ext_shared_channel: true``)."""
        ch = self.workspace.channel(
            channel if channel is not None else next((c for c in self.workspace.channels if c.shared), None)
        )
        event = {
            "type": "channel_shared",
            "connected_team_id": connected_team_id,
            "channel": ch.id,
            "event_ts": self._ts(at),
        }
        return self.event(at, event, shared=True)

    def assistant_thread_started(
        self, at: float, *, user: str | User | None = None, context_channel: str | Channel | None = None
    ) -> ScenarioItem:
        """``assistant_thread_started``: a member opened a thread with the app's assistant (in its DM)."""
        ws = self.workspace
        u, ctx = ws.user(user), ws.channel(context_channel)
        thread = {
            "user_id": u.id,
            "context": {"channel_id": ctx.id, "team_id": ws.team_id, "enterprise_id": ws.enterprise_id},
            "channel_id": ws.dm.id,
            "thread_ts": self._ts(at),
        }
        return self.event(
            at, {"type": "assistant_thread_started", "assistant_thread": thread, "event_ts": self._ts(at)}
        )

    def function_executed(
        self, at: float, callback_id: str = "summarise_channel", *, user: str | User | None = None
    ) -> ScenarioItem:
        """``function_executed``: a workflow ran one of the app's custom steps.

        ``bot_access_token`` is an obviously fake ``xwfp-`` token (slacklab masks it like any token).
        """
        ws = self.workspace
        u = ws.user(user)
        function = {
            "id": self._slack_id("Fn0"),
            "callback_id": callback_id,
            "title": callback_id.replace("_", " ").capitalize(),
            "description": "A simulated custom step",
            "type": "app",
            "input_parameters": [
                {"type": "slack#/types/user_id", "name": "user_id", "title": "User", "is_required": True}
            ],
            "output_parameters": [{"type": "string", "name": "summary", "title": "Summary", "is_required": True}],
            "app_id": ws.app_id,
            "date_created": int(ws.start_epoch),
            "date_updated": int(ws.start_epoch),
            "date_deleted": 0,
        }
        return self.event(
            at,
            {
                "type": "function_executed",
                "function": function,
                "inputs": {"user_id": u.id},
                "function_execution_id": self._slack_id("Fx0"),
                "workflow_execution_id": self._slack_id("Wx0"),
                "event_ts": self._ts(at),
                "bot_access_token": f"xwfp-{ws.app_id}-SIMULATED",
            },
        )

    def app_rate_limited(self, at: float) -> ScenarioItem:
        """``app_rate_limited``: Slack dropped events for this minute (a body of its own, no ``event``)."""
        ws = self.workspace
        payload = {
            "token": ws.verification_token,
            "type": "app_rate_limited",
            "team_id": ws.team_id,
            "minute_rate_limited": int(ws.start_epoch + at) // 60 * 60,
            "api_app_id": ws.app_id,
        }
        return self._add(ScenarioItem(float(at), "events_api", payload))
