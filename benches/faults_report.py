"""One row of benches/faults.sh's fault table, from the files the row left in its directory.

    python3 faults_report.py ROW DIR RATE [--other KIND PATH...] [--node DOMAIN]

DIR holds: `stored` (`ARRIVED COMPUTER RECORD` per event the store holds), `fleet*.json` (each
fleet-load run's summary, its last line), `acked*` (`NAME LAST` per forwarder: everything up to
LAST was acknowledged), `faulted` and `mended` (epoch seconds), `rss` (KiB), `fds`, `wsmand.log`.
`--other KIND PATH...`: the row's second output, counted like the store: `file` (directories of
the file output's `raw` files, one event's XML per line), `relp` (rsyslog's JSON lines, the
event in `msg`), `kafka` (consume.py's JSON lines, the event in `value`). `--node DOMAIN`: the
node whose forwarders are `*.DOMAIN` is the one faulted; its rate alone is measured before and
after the fault, and its fleet's 503s are shown apart.

The store's promise is nothing lost, nothing twice; the other outputs' is nothing lost, at least
once (docs/collector.md, "The delivery guarantee"), so a copy twice there is counted and shown,
and only a loss there fails the row.
"""

import collections
import glob
import json
import os
import re
import sys

RECORD = re.compile(r"<EventRecordID>(\d+)</EventRecordID>.*?<Computer>([^<]+)</Computer>")


def other_copies(kind, paths):
    """(computer, record) -> copies the second output holds."""
    got = collections.Counter()
    texts = []
    for path in paths:
        files = glob.glob(os.path.join(path, "*")) if os.path.isdir(path) else [path]
        for name in files:
            try:
                with open(name, errors="replace") as f:
                    texts.extend(f)
            except FileNotFoundError:
                pass
    for line in texts:
        if kind == "relp":
            line = json.loads(line).get("msg", "")
        elif kind == "kafka":
            line = json.loads(line).get("value", "")
        for m in RECORD.finditer(line):
            got[(m.group(2), int(m.group(1)))] += 1
    return got


def lost_in(acked, copies):
    return sum(1 for c, last in acked.items() for r in range(1, last + 1) if copies[(c, r)] == 0)


def log_lines(path):
    lines = collections.OrderedDict()
    for line in open(path, errors="replace"):
        if " WARN " in line or " ERROR " in line:
            key = re.sub(r"^\S+\s+", "", line.strip())
            key = re.sub(r"(client|forwarder|remote|not_logged_since)=\S+", r"\1=…", key)
            lines.setdefault(key[:220], 0)
            lines[key[:220]] += 1
    return lines


def recovery(row, d, rate, node):
    """The baseline (median second stored before the fault, the first partial second left out)
    and the seconds from the fault's end to the first second storing 90 % of it (the store's
    clock; the clock row's arrivals after the step are an hour back, so it counts from the step
    there). With `node`, only that node's forwarders' events count."""
    per_second = collections.Counter()
    for line in open(f"{d}/stored"):
        arrived, computer, _ = line.split()
        if node is None or computer.endswith("." + node):
            per_second[int(arrived) // 1_000_000] += 1
    mended = float(open(f"{d}/mended").read())
    faulted = int(float(open(f"{d}/faulted").read()))
    if not per_second:
        return rate, None, []
    before = sorted(n for s, n in per_second.items() if min(per_second) < s < faulted)
    baseline = before[len(before) // 2] if before else rate
    start = faulted - 3600 if row == "clock-back" else int(mended)
    recovered = next(
        (s - start for s in sorted(per_second) if s >= start and per_second[s] >= 0.9 * baseline),
        None,
    )
    # The seconds from two before the fault to the last (the clock row's from the step back).
    first = faulted - 3600 if row == "clock-back" else faulted - 2
    series = [per_second[s] for s in range(first, max(per_second) + 1)][:120]
    while series and series[-1] == 0:
        series.pop()
    return baseline, recovered, series


def main():
    row, d, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
    args = sys.argv[4:]
    node = None
    if "--node" in args:
        i = args.index("--node")
        node = args[i + 1]
        del args[i : i + 2]
    other_kind, other_paths = (args[1], args[2:]) if args[:1] == ["--other"] else (None, [])

    fleets = {}
    for path in sorted(glob.glob(f"{d}/fleet*.json")):
        fleets[os.path.basename(path)] = json.loads(open(path).read().strip().splitlines()[-1])
    acked = {}
    for path in glob.glob(f"{d}/acked*"):
        acked.update((name, int(last)) for name, last in (line.split() for line in open(path)))
    seen = collections.Counter()
    for line in open(f"{d}/stored"):
        _, computer, record = line.split()
        seen[(computer, int(record))] += 1
    offered = sum(acked.values())
    lost = lost_in(acked, seen)
    twice = sum(1 for n in seen.values() if n > 1)
    once = sum(1 for n in seen.values() if n == 1)
    other, other_lost = "", 0
    if other_kind:
        copies = other_copies(other_kind, other_paths)
        other_lost = lost_in(acked, copies)
        other_twice = sum(1 for n in copies.values() if n > 1)
        other = f"; {other_kind} output lost {other_lost} twice {other_twice}"
    baseline, recovered, series = recovery(row, d, rate, node)
    try:
        fds = open(f"{d}/fds").read().strip()
    except FileNotFoundError:
        fds = "?"
    rss = int(open(f"{d}/rss").read().strip() or 0) // 1024
    failed = sum(f["failed"] for f in fleets.values())
    refused = sum(f["refused_503"] for f in fleets.values())
    longest = max(f["ack_ms_max"] for f in fleets.values())
    split = ""
    if len(fleets) > 1:
        split = " (" + ", ".join(f"{k[6:-5]} {f['refused_503']}" for k, f in fleets.items()) + ")"
    verdict = "" if lost == 0 and twice == 0 and other_lost == 0 and failed == 0 else " NOT 0/0"
    whose = f"node {node}: " if node else ""
    again = "never" if recovered is None else f"{recovered} s"
    print(
        f"{row}: offered {offered} stored-once {once} lost {lost} twice {twice}{other}{verdict}; "
        f"longest Ack {longest:.0f} ms, 503s {refused}{split}, failed {failed}; "
        f"peak RSS {rss} MiB, fds {fds}; {whose}{baseline}/s before the fault, again {again} after its end"
    )
    for f in fleets.values():
        for failure in f.get("first_failures", [])[:3]:
            print(f"    a forwarder failed: {failure[:300]}")
    print(f"    stored per second, from 2 s before the fault: {' '.join(map(str, series))}")
    for text, n in list(log_lines(f"{d}/wsmand.log").items())[:6]:
        print(f"    log ({n}x): {text}")


if __name__ == "__main__":
    main()
