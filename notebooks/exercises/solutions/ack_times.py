# Median milliseconds from receipt to ack, for each WebSocket connection.
medians = df.groupby("connection")["ack_ms"].median()
medians
