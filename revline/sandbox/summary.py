"""What a sandbox run did, in counts a person reads at a glance, and the files it leaves."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Counts from a run's report: events, cases by kind and state, actions by status, emails,
    what waits for approval, and whether the ledger verified."""
    cases: dict[str, Counter[str]] = {}
    for case in report["cases"]:
        cases.setdefault(case["kind"], Counter())[case["state"]] += 1
    actions = Counter(a["status"] for a in report["actions"])
    awaiting = [
        {"kind": a["kind"], "subject": a["subject"], "customer": a["customer"], "case": a["case"]}
        for a in report["actions"]
        if a["status"] == "awaiting_approval"
    ]
    return {
        "scenario": report["scenario"],
        "started_at": report["started_at"],
        "ended_at": report["ended_at"],
        "events": {"total": sum(report["events"].values()), **report["events"]},
        "cases": {kind: dict(states) for kind, states in sorted(cases.items())},
        "actions": dict(sorted(actions.items())),
        "actions_by_kind": dict(sorted(Counter(a["kind"] for a in report["actions"]).items())),
        "emails": len(report["emails"]),
        "awaiting_approval": awaiting,
        "ledger": report["ledger"],
    }


def markdown(summary: dict[str, Any]) -> str:
    """The summary as a short Markdown page (``summary.md`` beside the database)."""
    lines = [
        f"# Sandbox run: {summary['scenario']}",
        "",
        f"From {summary['started_at']} to {summary['ended_at']}.",
        "",
        "## Events",
        "",
        *[f"- {status}: {count}" for status, count in summary["events"].items()],
        "",
        "## Cases",
        "",
    ]
    if not summary["cases"]:
        lines.append("- none")
    for kind, states in summary["cases"].items():
        lines.append(f"- {kind}: " + ", ".join(f"{n} {s}" for s, n in states.items()))
    lines += ["", "## Actions", ""]
    lines += [f"- {status}: {count}" for status, count in summary["actions"].items()] or ["- none"]
    lines += ["", f"Emails sent: {summary['emails']}.", ""]
    if summary["awaiting_approval"]:
        lines += ["## Awaiting approval", ""]
        lines += [
            f"- {a['kind']} on {a['subject']} ({a['customer']})"
            for a in summary["awaiting_approval"]
        ]
        lines.append("")
    ledger = summary["ledger"]
    verdict = "verified" if ledger["verified"] else "BROKEN"
    lines += ["## Ledger", "", f"{ledger['rows']} rows, {verdict}.", ""]
    return "\n".join(lines)


def write(directory: Path, report: dict[str, Any], summary: dict[str, Any], log: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (directory / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    (directory / "summary.md").write_text(markdown(summary))
    (directory / "log.txt").write_text("\n".join(log) + "\n")
