"""A do-nothing hatch build target (`hatch build -t noop`): hatch's own cost of running any target."""
