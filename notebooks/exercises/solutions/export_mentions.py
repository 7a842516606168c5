# Safe CSV (secrets masked, formulas neutralised) of the app mentions only.
from slacklab.export import to_csv

written = to_csv(Filters(event_types=("app_mention",)).apply(df), "slacklab-out/mentions.csv")
written
