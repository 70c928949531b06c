"""The soak row of benches/faults.sh: the first window of the run against its last.

    python3 soak_report.py DIR DATABASE RELP_IDS RATE

DIR holds `fleet.json` (fleet-load's summary, its last line: `started_epoch` and `windows`, the
Acks per window of `--window-seconds`), `acked` (`NAME LAST` per forwarder: everything up to
LAST was acknowledged), `samples` (`EPOCH RSS_KIB FDS`, the collector's VmRSS and open
descriptors every few seconds) and `wsmand.log`. DATABASE is the event store's SQLite file;
RELP_IDS the receiver's `COMPUTER RECORD` lines (benches/faults.sh's relp_receiver, `ids`).

Counted as the fault rows count (the store: nothing lost, nothing twice; the syslog output:
nothing lost, at least once), but an hour's events (18 million at 5,000 a second) in a byte per
record and forwarder, not a tuple each, and the store's record ids cut out by SQLite, not by a
regular expression over each event's XML in Python.

The goal (issue 71): RSS, descriptors and Ack p99 of the last window within 10 % of the first.
"""

import json
import os
import sqlite3
import sys

from faults_report import log_lines

GOAL = 0.10


def count(copies, computer, record):
    """One more copy of (computer, record): a byte per record, 255 at most."""
    got = copies.setdefault(computer, bytearray())
    if record >= len(got):
        got.extend(bytes(record + 1 - len(got)))
    if got[record] < 255:
        got[record] += 1


def store_copies(database):
    copies = {}
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    start, end = "<EventRecordID>", "</EventRecordID>"
    for (part,) in db.execute("SELECT part FROM store_partition").fetchall():
        rows = db.execute(
            f"SELECT computer, substr(xml, instr(xml, '{start}') + {len(start)}, "
            f"instr(xml, '{end}') - instr(xml, '{start}') - {len(start)}) FROM ev_{part}"
        )
        for computer, record in rows:
            count(copies, computer, int(record))
    return copies


def relp_copies(path):
    copies, unread = {}, 0
    try:
        with open(path, errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) == 2 and fields[1].isdigit():
                    count(copies, fields[0], int(fields[1]))
                else:
                    unread += 1
    except FileNotFoundError:
        pass
    return copies, unread


def tally(acked, copies):
    """Lost (acknowledged, no copy), twice (records with more than one copy), once."""
    lost = 0
    for computer, last in acked.items():
        held = copies.get(computer, bytearray())[1 : last + 1]
        lost += held.count(0) + last - len(held)
    twice = sum(len(got) - got.count(0) - got.count(1) for got in copies.values())
    once = sum(got.count(1) for got in copies.values())
    return lost, twice, once


def samples_in(samples, started, window):
    """The collector's samples within the window: mean and max RSS (MiB), max descriptors."""
    inside = [
        (rss, fds)
        for at, rss, fds in samples
        if started + window["from_s"] <= at < started + window["to_s"]
    ]
    if not inside:
        return None, None, None
    rss = [r / 1024 for r, _ in inside]
    return sum(rss) / len(rss), max(rss), max(f for _, f in inside)


def ratio_row(name, first, last, goal):
    if first is None or last is None:
        return f"  {name:<16} {'?':>14} {'?':>14}"
    ratio = last / first if first else float("inf")
    verdict = ""
    if goal:
        verdict = "yes" if abs(ratio - 1) <= GOAL else "NO"
    return f"  {name:<16} {first:>14.1f} {last:>14.1f} {ratio:>10.3f}   {verdict}"


def main():
    d, database, relp_ids, rate = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    fleet = json.loads(open(f"{d}/fleet.json").read().strip().splitlines()[-1])
    acked = {
        name: int(last) for name, last in (line.split() for line in open(f"{d}/acked"))
    }
    offered = sum(acked.values())
    lost, twice, once = tally(acked, store_copies(database))
    relp, unread = relp_copies(relp_ids)
    relp_lost, relp_twice, _ = tally(acked, relp)
    unread_note = f" ({unread} lines unread)" if unread else ""
    size = sum(
        os.path.getsize(p) for p in (database, database + "-wal") if os.path.exists(p)
    )
    per_event = size / once if once else 0
    verdict = "" if lost == 0 and twice == 0 and relp_lost == 0 and fleet["failed"] == 0 else " NOT 0/0"
    print(
        f"soak: offered {offered} stored-once {once} lost {lost} twice {twice}; relp output "
        f"lost {relp_lost} twice {relp_twice}{unread_note}{verdict}; {fleet['seconds']:.0f} s "
        f"at {rate:.0f} events/s asked, {fleet['events_per_second']:.0f} acknowledged; "
        f"longest Ack {fleet['ack_ms_max']:.0f} ms, 503s {fleet['refused_503']}, "
        f"failed {fleet['failed']}; store {size / 2**20:.0f} MiB ({per_event:.0f} bytes an event)"
    )
    windows = fleet.get("windows", [])
    if not windows:
        print("    no windows: fleet-load was run without --window-seconds")
        return
    samples = []
    try:
        for line in open(f"{d}/samples"):
            at, rss, fds = line.split()
            samples.append((float(at), int(rss), int(fds)))
    except FileNotFoundError:
        pass
    started = fleet["started_epoch"]
    first, last = windows[0], windows[-1]
    f_mean, f_max, f_fds = samples_in(samples, started, first)
    l_mean, l_max, l_fds = samples_in(samples, started, last)
    head_first = f"first {first['from_s']}-{first['to_s']} s"
    head_last = f"last {last['from_s']}-{last['to_s']} s"
    print(f"  {'window':<16} {head_first:>14} {head_last:>14} {'last/first':>10}   within 10 % (the goal)")
    print(ratio_row("events/s", first["events_per_second"], last["events_per_second"], False))
    print(ratio_row("Ack p50 (ms)", first["ack_ms_p50"], last["ack_ms_p50"], False))
    print(ratio_row("Ack p99 (ms)", first["ack_ms_p99"], last["ack_ms_p99"], True))
    print(ratio_row("mean RSS (MiB)", f_mean, l_mean, True))
    print(ratio_row("max RSS (MiB)", f_max, l_max, True))
    print(ratio_row("max fds", f_fds, l_fds, True))
    series = []
    for w in windows:
        mean, _, fds = samples_in(samples, started, w)
        rss = "?" if mean is None else f"{mean:.0f}"
        series.append(f"{w['events_per_second']:.0f}/{w['ack_ms_p99']:.0f}/{rss}/{fds}")
    print(f"    each window (events/s / Ack p99 ms / mean RSS MiB / max fds): {' '.join(series)}")
    for text, n in list(log_lines(f"{d}/wsmand.log").items())[:6]:
        print(f"    log ({n}x): {text}")


if __name__ == "__main__":
    main()
