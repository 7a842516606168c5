# parse_frame never raises; an Envelope has the envelope_id the ack must echo.
from slacklab.protocol import build_ack, parse_frame

text = (
    '{"envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf", "type": "events_api", '
    '"payload": {"event_id": "Ev1", "event": {"type": "message"}}, "retry_attempt": 0, "retry_reason": ""}'
)
ack = build_ack(parse_frame(text).envelope_id)
ack
