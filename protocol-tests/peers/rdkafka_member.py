"""A librdkafka (confluent-kafka) consumer-group member for kafkit's mixed-group tests.

Writes one JSON object per line to OUT: assignment changes (with wall-clock times, taken when the
callback has finished, i.e. when ownership really starts or ends) and every record it consumed.
SIGTERM closes it cleanly (commit, leave); SIGKILL is how a test kills it without leaving.

    python rdkafka_member.py BOOTSTRAP GROUP TOPIC STRATEGY MEMBER_NAME OUT
"""

import json
import signal
import sys
import time

from confluent_kafka import Consumer

bootstrap, group, topic, strategy, name, out_path = sys.argv[1:7]
out = open(out_path, "a", buffering=1)


def emit(kind, **fields):
    out.write(json.dumps({"t": time.time(), "member": name, "kind": kind, **fields}) + "\n")


running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)

consumer = Consumer(
    {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": strategy,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 500,
    }
)
cooperative = strategy == "cooperative-sticky"


def on_assign(c, partitions):
    if cooperative:
        c.incremental_assign(partitions)
    else:
        c.assign(partitions)
    emit("assigned", partitions=[p.partition for p in partitions])


def on_revoke(c, partitions):
    if partitions:
        try:
            c.commit(asynchronous=False)
        except Exception:  # nothing consumed yet: nothing to commit
            pass
    if cooperative:
        c.incremental_unassign(partitions)
    else:
        c.unassign()
    emit("revoked", partitions=[p.partition for p in partitions])


def on_lost(c, partitions):
    emit("lost", partitions=[p.partition for p in partitions])


consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
emit("started")
while running:
    msg = consumer.poll(0.1)
    if msg is None or msg.error():
        continue
    emit("record", partition=msg.partition(), offset=msg.offset())
consumer.close()
emit("closed")
