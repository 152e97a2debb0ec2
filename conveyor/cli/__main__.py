"""`python -m conveyor.cli`: the `conveyor` command."""

from conveyor.cli import app

app(prog_name="conveyor")
