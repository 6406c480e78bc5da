"""``revline simulate`` and ``revline demo``: play a scenario, or a whole generated company."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from revline.cli.context import state
from revline.cli.output import JsonOption, emit_json, note, say, stderr
from revline.sandbox import generator, scenario
from revline.sandbox.runner import Progress as RunProgress
from revline.sandbox.runner import Run
from revline.sandbox.summary import summarise, write
from revline.sandbox.world import World

INVALID_SCENARIO_EXIT = 2
DEMO_DIR = Path("revline-demo")


def simulate(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="A scenario in JSON or YAML.")],
    as_json: JsonOption = False,
    policy: Annotated[
        Path | None, typer.Option("--policy", metavar="REVLINE.TOML", help="Policy to run with.")
    ] = None,
    keep: Annotated[
        Path | None, typer.Option("--keep", metavar="DIR", help="Keep the run's database here.")
    ] = None,
) -> None:
    """Play a scenario through Revline's real code path and report what it decided.

    Exit 0 when the run completed (whatever it decided), 2 for an invalid scenario.
    """
    try:
        story = scenario.load(path)
    except scenario.InvalidScenario as exc:
        note(f"error: {exc.message}", style="red")
        raise typer.Exit(INVALID_SCENARIO_EXIT) from exc
    config = policy or state(ctx).config
    with tempfile.TemporaryDirectory(prefix="revline-sim-") as scratch:
        workdir = keep or Path(scratch)
        try:
            world = World(story, workdir, config=config)
        except scenario.InvalidScenario as exc:
            note(f"error: {exc.message}", style="red")
            raise typer.Exit(INVALID_SCENARIO_EXIT) from exc
        with world:
            try:
                report = Run(world).play()
            except scenario.InvalidScenario as exc:
                note(f"error: {exc.message}", style="red")
                raise typer.Exit(INVALID_SCENARIO_EXIT) from exc
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    _print_summary(summarise(report))


def demo(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=1, max=120, help="Days of business to play.")] = 30,
    customers: Annotated[int, typer.Option(min=1, max=2000, help="Subscribers.")] = 40,
    seed: Annotated[int, typer.Option(help="The same seed plays the same company.")] = 7,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the API up on the result (127.0.0.1:8000).")
    ] = False,
    out: Annotated[Path, typer.Option(help="Where the database and reports go.")] = DEMO_DIR,
    as_json: JsonOption = False,
) -> None:
    """Play a generated subscription company with every registered playbook and summarise it.

    Writes the database (revline.db) and the reports (report.json, summary.json, summary.md,
    log.txt) to ./revline-demo/.
    """
    world_story = generator.generate(seed=seed, customers=customers, days=days)
    world = World(world_story, out, seed=seed, config=state(ctx).config)
    span = (world_story.until - world_story.start).total_seconds()
    with (
        world,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[day]}"),
            TimeElapsedColumn(),
            console=stderr,
            transient=as_json,
        ) as bar,
    ):
        task = bar.add_task("playing the company", total=span, day="")

        def moved(now: datetime, _line: str) -> None:
            done = (now - world_story.start).total_seconds()
            bar.update(task, completed=min(done, span), day=now.date().isoformat())

        run = Run(world, RunProgress(moved))
        report = run.play()
        bar.update(task, completed=span)
        summary = summarise(report)
        write(out, report, summary, run.log_lines)
        if as_json:
            emit_json(summary)
        else:
            _print_summary(summary)
            say(f"reports and database in {out}/")
        if serve:
            _serve(world)


def _serve(world: World) -> None:
    """Keep the API up on the finished run, with a token to look around with."""
    import uvicorn

    from revline.api.app import create_app
    from revline.core import auth

    with world.runtime.db.write() as session:
        _, token = auth.create_token(
            session, name=f"demo-{world.clock.now():%H%M%S%f}", role="viewer", now=world.clock.now()
        )
    note(
        f"API on http://127.0.0.1:8000 — try: curl -H 'Authorization: Bearer {token}' "
        "http://127.0.0.1:8000/api/cases   (Ctrl-C to stop)"
    )
    uvicorn.run(create_app(world.runtime), host="127.0.0.1", port=8000, log_level="warning")


def _print_summary(summary: dict[str, object]) -> None:
    from rich.table import Table

    from revline.cli.output import stdout

    table = Table(title=f"sandbox run: {summary['scenario']}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    events = summary["events"]
    assert isinstance(events, dict)
    for status, count in events.items():
        table.add_row(f"events {status}", str(count))
    cases = summary["cases"]
    assert isinstance(cases, dict)
    for kind, states in cases.items():
        for case_state, count in states.items():
            table.add_row(f"cases {kind} {case_state}", str(count))
    actions = summary["actions"]
    assert isinstance(actions, dict)
    for status, count in actions.items():
        table.add_row(f"actions {status}", str(count))
    table.add_row("emails sent", str(summary["emails"]))
    awaiting = summary["awaiting_approval"]
    assert isinstance(awaiting, list)
    table.add_row("awaiting approval", str(len(awaiting)))
    ledger = summary["ledger"]
    assert isinstance(ledger, dict)
    table.add_row(
        "ledger rows", f"{ledger['rows']} ({'verified' if ledger['verified'] else 'BROKEN'})"
    )
    stdout.print(table)
