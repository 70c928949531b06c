#!/usr/bin/env python3
"""Measures one stdout transfer for benches/sealed.sh.

    sealed.py measure --bytes N --daemon-pid PID -- COMMAND...
        Runs COMMAND, reads its stdout to the end (counting, discarding), and prints one JSON
        line: wall seconds, bytes, the command's CPU seconds (it and its waited-for children)
        and the daemon's CPU seconds over the same interval (from /proc/PID/stat; 0 without a
        daemon). Fails when the byte count is not N or the command fails.

    sealed.py pywinrm --url URL --user USER --password PASSWORD --command CMD
        pywinrm (transport='ntlm', message encryption always): one shell, one command, every
        Receive read with get_command_output_raw and its stdout written to our stdout.

    sealed.py summary FILE
        Reads the JSON lines `measure` printed (with a "case" field added) and prints the table:
        median MB/s per case, ratio to ssh, CPU seconds per GiB.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def daemon_cpu(pid):
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15; fields[0] here is field 3 (state).
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(args):
    sep = args.index("--")
    options = dict(zip(args[0:sep:2], args[1:sep:2]))
    command = args[sep + 1 :]
    expected = int(options["--bytes"])
    pid = int(options.get("--daemon-pid", "0"))
    cpu_before = children_cpu()
    daemon_before = daemon_cpu(pid)
    start = time.monotonic()
    # Unbuffered, read into one buffer: a new 1 MiB object per read faulted in fresh pages
    # each time, and that sink alone took a tenth of the two cores from whichever client it
    # read (the same for every case; a sink of its own cost is not what is measured).
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, bufsize=0
    )
    buffer = memoryview(bytearray(1 << 20))
    total = 0
    while True:
        got = child.stdout.readinto(buffer)
        if not got:
            break
        total += got
    status = child.wait()
    wall = time.monotonic() - start
    daemon_after = daemon_cpu(pid)
    client = children_cpu() - cpu_before
    if status != 0 or total != expected:
        print(f"command {command[0]} exited {status} after {total} of {expected} bytes", file=sys.stderr)
        sys.exit(1)
    print(
        json.dumps(
            {
                "bytes": total,
                "wall": round(wall, 4),
                "client_cpu": round(client, 3),
                "daemon_cpu": round(daemon_after - daemon_before, 3),
            }
        )
    )


def pywinrm(args):
    options = dict(zip(args[0::2], args[1::2]))
    from winrm.protocol import Protocol

    protocol = Protocol(
        endpoint=options["--url"],
        transport="ntlm",
        username=options["--user"],
        password=options["--password"],
        message_encryption="always",
        server_cert_validation="ignore",
        operation_timeout_sec=20,
        read_timeout_sec=30,
    )
    out = sys.stdout.buffer
    shell = protocol.open_shell()
    command = protocol.run_command(shell, options["--command"])
    done = False
    code = None
    while not done:
        stdout, _stderr, code, done = protocol.get_command_output_raw(shell, command)
        out.write(stdout)
    out.flush()
    protocol.cleanup_command(shell, command)
    protocol.close_shell(shell)
    sys.exit(code or 0)


def summary(args):
    """One table per group (size and placement), each case against ssh in the same group."""
    groups = {}
    with open(args[0], encoding="utf-8") as lines:
        for line in lines:
            run = json.loads(line)
            groups.setdefault(run.get("group", ""), {}).setdefault(run["case"], []).append(run)
    for group, runs in groups.items():
        if group:
            print(f"\n{group}:")
        table(runs)


def table(runs):
    order = list(runs)
    gib = float(1 << 30)

    def median_of(case, key):
        return statistics.median(r[key] for r in runs[case])

    def rate(case):
        return statistics.median(r["bytes"] / r["wall"] / 1e6 for r in runs[case])

    ssh = rate("ssh") if "ssh" in runs else None
    print(f"| path | MB/s (median of {len(runs[order[0]])}) | runs, MB/s | vs ssh | wsmand CPU s/GiB | client CPU s/GiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for case in order:
        each = ", ".join(f"{r['bytes'] / r['wall'] / 1e6:.0f}" for r in runs[case])
        ratio = f"{rate(case) / ssh:.2f}x" if ssh else "-"
        daemon = median_of(case, "daemon_cpu") / (runs[case][0]["bytes"] / gib)
        client = median_of(case, "client_cpu") / (runs[case][0]["bytes"] / gib)
        daemon_text = f"{daemon:.2f}" if case != "ssh" else "-"
        print(f"| {case} | {rate(case):.0f} | {each} | {ratio} | {daemon_text} | {client:.2f} |")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    {"measure": measure, "pywinrm": pywinrm, "summary": summary}[mode](args)


if __name__ == "__main__":
    main()
