# The channel with the most deliveries: value_counts() sorts the most frequent first.
busiest = df["channel"].value_counts().idxmax()
busiest
