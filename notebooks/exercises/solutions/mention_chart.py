# Keep three event types with the same model the explore panel uses, then chart them.
picked = Filters(event_types=("app_mention", "reaction_added", "reaction_removed")).apply(df)
ax = plots.plot_timeline(picked, "5s")
