"""Read a whole Kafka topic from the beginning with PyPI's confluent-kafka consumer.

    python consume.py BOOTSTRAP TOPIC TIMEOUT_SECONDS

Prints one JSON object per message (partition, offset, key, value as text) in each
partition's order, up to each partition's end (its high watermark when the reading starts:
run it once the producer is done); exits 1 if TIMEOUT_SECONDS pass first.
"""

import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition


def main():
    bootstrap, topic, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "wsmand-test-reader",
            "enable.auto.commit": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {}
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if high > low:
            ends[p] = high
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
    deadline = time.monotonic() + timeout
    while ends and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            print(f"consumer error: {message.error()}", file=sys.stderr)
            continue
        print(
            json.dumps(
                {
                    "partition": message.partition(),
                    "offset": message.offset(),
                    "key": message.key().decode() if message.key() is not None else None,
                    "value": message.value().decode(),
                }
            ),
            flush=True,
        )
        if message.offset() + 1 >= ends.get(message.partition(), 0):
            ends.pop(message.partition(), None)
    consumer.close()
    if ends:
        sys.exit(f"partitions not read to their end in {timeout} s: {sorted(ends)}")


if __name__ == "__main__":
    main()
