"""A librdkafka (confluent-kafka) consumer-group member for kafkit's mixed-group tests.

Writes one JSON object per line to OUT: assignment changes (with wall-clock times, taken when the
callback has finished, i.e. when ownership really starts or ends) and every record it consumed.
SIGTERM closes it cleanly (commit, leave); SIGKILL is how a test kills it without leaving.

    python rdkafka_member.py BOOTSTRAP GROUP TOPIC STRATEGY MEMBER_NAME OUT [auto|manual]

With `manual`, offsets are stored only after a record is logged and committed synchronously every
500 ms, on revoke and before closing; each offset the coordinator acknowledged is logged as
{"kind": "commit", "partition": P, "offset": NEXT} for the history checker's commit rules.
"""

import json
import signal
import sys
import time

from confluent_kafka import Consumer

bootstrap, group, topic, strategy, name, out_path = sys.argv[1:7]
manual = len(sys.argv) > 7 and sys.argv[7] == "manual"
protocol = sys.argv[8] if len(sys.argv) > 8 else "classic"
out = open(out_path, "a", buffering=1)


def emit(kind, **fields):
    out.write(json.dumps({"t": time.time(), "member": name, "kind": kind, **fields}) + "\n")


running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)

config = {
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "auto.offset.reset": "earliest",
    "group.protocol": protocol,
}
if protocol == "classic":
    config.update(
        {
            "partition.assignment.strategy": strategy,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
        }
    )
elif strategy != "-":
    config["group.remote.assignor"] = strategy
consumer = Consumer(
    {
        **config,
        "enable.auto.commit": not manual,
        "auto.commit.interval.ms": 500,
        # Manual mode: an offset is stored only once its record is logged, so no commit can run
        # ahead of what the log shows as delivered (even when killed between poll and log).
        "enable.auto.offset.store": not manual,
    }
)


def commit_stored(c):
    """Commits the stored offsets synchronously; logs what the coordinator acknowledged."""
    try:
        committed = c.commit(asynchronous=False)
    except Exception:  # nothing stored since the last commit, or the group is rebalancing
        return
    for tp in committed or []:
        if tp.error is None and tp.offset >= 0:
            emit("commit", partition=tp.partition, offset=tp.offset)
# The consumer protocol (KIP-848) is incremental, like cooperative-sticky.
cooperative = strategy == "cooperative-sticky" or protocol == "consumer"


def on_assign(c, partitions):
    if cooperative:
        c.incremental_assign(partitions)
    else:
        c.assign(partitions)
    emit("assigned", partitions=[p.partition for p in partitions])


def on_revoke(c, partitions):
    if partitions:
        if manual:
            commit_stored(c)
        else:
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
next_commit = time.time() + 0.5
while running:
    if manual and time.time() >= next_commit:
        commit_stored(consumer)
        next_commit = time.time() + 0.5
    msg = consumer.poll(0.1)
    if msg is None or msg.error():
        continue
    emit("record", partition=msg.partition(), offset=msg.offset())
    if manual:
        try:
            consumer.store_offsets(msg)
        except Exception:  # the partition was revoked meanwhile
            pass
if manual:
    commit_stored(consumer)
consumer.close()
emit("closed")
