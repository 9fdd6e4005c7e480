"""When each resource of one engine run started and ended: the critical path of an up, from its events.

    .venv/bin/python benchmarks/deploy_timeline.py .govcloud/logs/<stack>--up--<time>.events.jsonl

Every engine run of govcloud writes its raw engine events next to its log (`<log>.events.jsonl`). Each
resource's step starts at its `resourcePreEvent` and ends at its `resOutputsEvent` (or `resOpFailedEvent`);
the engine stamps events in whole seconds, so the figures are whole seconds from the first event. Which
steps waited for which others is what the table shows: a step that starts as another ends waited for it
(the plan's references and depends_on say why). bench_deploy.py --timeline prints this for the last
govcloud up it timed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

_STARTS = "resourcePreEvent"
_ENDS = ("resOutputsEvent", "resOpFailedEvent")


def timeline(events: list[dict]) -> list[tuple[str, str, int, int | None]]:
    """(name, type, start, end) of each resource step, in the order the steps started; seconds from the first
    stamped event; end None when the run stopped before the step ended."""
    stamps = [e["timestamp"] for e in events if isinstance(e.get("timestamp"), int)]
    t0 = min(stamps) if stamps else 0
    steps: dict[str, list] = {}
    for e in events:
        for kind in (_STARTS, *_ENDS):
            body = e.get(kind)
            if not isinstance(body, dict):
                continue
            meta = body.get("metadata") or {}
            urn = meta.get("urn") or ""
            name = urn.rsplit("::", 1)[-1]
            kind_of = urn.rsplit("::", 2)[-2] if urn.count("::") >= 2 else ""
            at = e.get("timestamp", t0) - t0
            if kind == _STARTS:
                steps.setdefault(urn, [name, kind_of, at, None])
            elif urn in steps:
                steps[urn][3] = at
    return [tuple(s) for s in sorted(steps.values(), key=lambda s: s[2])]


def read_events(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def markdown(rows: list[tuple[str, str, int, int | None]]) -> str:
    out = ["| resource | type | start, s | end, s | took, s |", "|---|---|---|---|---|"]
    for name, kind, start, end in rows:
        if kind.startswith("pulumi:"):  # the stack and the provider: not steps of the cloud
            continue
        took = "" if end is None else str(end - start)
        out.append(f"| {name} | {kind.split(':')[-1]} | {start} | {'' if end is None else end} | {took} |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    print(markdown(timeline(read_events(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
