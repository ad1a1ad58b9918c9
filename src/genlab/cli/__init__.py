"""The commands: genlab-train, -eval, -sample, -fetch, -compare, each a screen long, and
their one error reporter (`reporting`). Nothing else in genlab imports this package."""
