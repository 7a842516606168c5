# Slash commands arrive with kind "slash_commands"; their event_type is the command itself.
commands = df.loc[df["kind"] == "slash_commands", "event_type"].value_counts()
commands
