"""Driver of benches/psrp.sh: N pipelines of one script, each timed, through one of two paths.

  direct  psrpcore's client classes speaking pwsh -s's out-of-process protocol to the stand-in
          on its stdin/stdout (tests/psrp-standin/standin_client.py): the baseline;
  bridge  pypsrp's RunspacePool through wsmand's PowerShell plug-in to the same stand-in.

Prints one JSON line: the case, the pipelines run, and the median and p99 milliseconds per
pipeline (the pool's opening is not counted). Every pipeline's output is checked.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "psrp-standin"))


def direct(script, runs, expected):
    from standin_client import Direct

    stand_in = Direct()
    try:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            outputs, state = stand_in.run(script)
            times.append(time.perf_counter() - started)
            assert (outputs, state) == (expected, 4), (outputs, state)
        return times
    finally:
        stand_in.close()


def bridge(script, runs, expected, url, user, password):
    from pypsrp.powershell import PowerShell, RunspacePool
    from pypsrp.wsman import WSMan

    host = url.split("//", 1)[1].split(":", 1)[0]
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    wsman = WSMan(host, port=port, ssl=url.startswith("https"), auth="basic", encryption="never",
                  username=user, password=password, cert_validation=False, no_proxy=True)
    with RunspacePool(wsman) as pool:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            ps = PowerShell(pool)
            ps.add_script(script)
            outputs = ps.invoke()
            times.append(time.perf_counter() - started)
            assert outputs == expected and not ps.had_errors, (outputs, ps.had_errors)
        return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=["direct", "bridge"])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--url")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    script, expected = "Write-Output 1", ["1"]
    if args.case == "direct":
        times = direct(script, args.runs, expected)
    else:
        times = bridge(script, args.runs, expected, args.url, args.user, args.password)
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(json.dumps({"case": args.case, "pipelines": len(ms), "median_ms": round(statistics.median(ms), 3),
                      "p99_ms": round(p99, 3)}))


if __name__ == "__main__":
    main()
