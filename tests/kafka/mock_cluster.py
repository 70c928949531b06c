"""A Kafka cluster for the collector's tests: librdkafka's mock cluster (as shipped in PyPI's
confluent-kafka wheel), hosted by this process so that a test can stop it (SIGSTOP: brokers
that no longer answer) and let it go on (SIGCONT) with what it stored kept.

    python mock_cluster.py

Prints the bootstrap address (127.0.0.1:PORT: mock brokers bind the loopback address only) on
one line, then serves until killed. Topics are created on first use (4 partitions each).
"""

import signal
import sys

from confluent_kafka import Producer


def main():
    host = Producer({"test.mock.num.brokers": 1})
    brokers = host.list_topics(timeout=10).brokers
    bootstrap = ",".join(f"{b.host}:{b.port}" for b in brokers.values())
    if not all(b.host in ("127.0.0.1", "localhost") for b in brokers.values()):
        sys.exit(f"mock brokers not on the loopback address: {bootstrap}")
    print(bootstrap, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
