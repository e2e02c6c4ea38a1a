// A Java KafkaConsumer (kafka-clients 4.1) group member for kafkit's mixed-group tests. It writes
// the same JSON lines as peers/rdkafka_member.py and kafkit-member, so the history checker reads
// all three alike: assignment changes (timed when the listener has finished, i.e. when ownership
// really starts or ends), every record consumed, and in manual mode every commit the coordinator
// acknowledged.
//
//   java -cp PEERS:KAFKA_LIB/* JavaMember BOOTSTRAP GROUP TOPIC STRATEGY NAME OUT [auto|manual] [classic|consumer]
//
// STRATEGY: range, roundrobin, cooperative-sticky, or a comma-separated list of them (classic
// protocol); with the consumer protocol it names the server-side assignor (uniform, range) or "-".
// SIGTERM closes it cleanly (commit in manual mode, leave the group); SIGKILL kills it.
//
// Manual mode: an offset is stored only once its record is logged, and stored offsets are
// committed synchronously every 500 ms, on revoke and before closing, so no acknowledged commit can
// be ahead of what the log shows as delivered.

import java.io.FileWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class JavaMember {
    private static PrintWriter out;
    private static String name;

    private static synchronized void emit(String kind, String extra) {
        Instant now = Instant.now();
        double t = now.getEpochSecond() + now.getNano() / 1e9;
        out.printf("{\"t\": %.6f, \"member\": \"%s\", \"kind\": \"%s\"%s}%n", t, name, kind, extra);
        out.flush();
    }

    private static String partitions(Collection<TopicPartition> tps) {
        List<String> ps = new ArrayList<>();
        for (TopicPartition tp : tps) {
            ps.add(Integer.toString(tp.partition()));
        }
        return ", \"partitions\": [" + String.join(", ", ps) + "]";
    }

    private static String assignorClass(String s) {
        switch (s.trim()) {
            case "range":
                return "org.apache.kafka.clients.consumer.RangeAssignor";
            case "roundrobin":
                return "org.apache.kafka.clients.consumer.RoundRobinAssignor";
            case "cooperative-sticky":
                return "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
            case "sticky":
                return "org.apache.kafka.clients.consumer.StickyAssignor";
            default:
                throw new IllegalArgumentException("unknown assignor " + s);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 6) {
            System.err.println("usage: JavaMember BOOTSTRAP GROUP TOPIC STRATEGY NAME OUT [auto|manual] [classic|consumer]");
            System.exit(2);
        }
        String bootstrap = args[0], group = args[1], topic = args[2], strategy = args[3];
        name = args[4];
        out = new PrintWriter(new FileWriter(args[5], true));
        boolean manual = args.length > 6 && args[6].equals("manual");
        String protocol = args.length > 7 ? args[7] : "classic";

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, Boolean.toString(!manual));
        props.put(ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, "500");
        props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        if (protocol.equals("classic")) {
            List<String> classes = new ArrayList<>();
            for (String s : strategy.split(",")) {
                classes.add(assignorClass(s));
            }
            props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, String.join(",", classes));
            props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
            props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
        } else if (!strategy.equals("-")) {
            props.put(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, strategy);
        }

        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props);
        // Offsets of logged records, not yet committed (manual mode).
        Map<TopicPartition, OffsetAndMetadata> stored = new HashMap<>();

        AtomicBoolean running = new AtomicBoolean(true);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            running.set(false);
            consumer.wakeup();
            try {
                closed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            // A JVM ended by SIGTERM exits with 143 even after a clean close; this one closed
            // cleanly, so say so.
            Runtime.getRuntime().halt(0);
        }));

        consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                if (manual) {
                    commitStored(consumer, stored, tps);
                }
                for (TopicPartition tp : tps) {
                    stored.remove(tp);
                }
                emit("revoked", partitions(tps));
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                emit("assigned", partitions(tps));
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> tps) {
                for (TopicPartition tp : tps) {
                    stored.remove(tp);
                }
                emit("lost", partitions(tps));
            }
        });
        emit("started", "");
        long nextCommit = System.nanoTime() + 500_000_000L;
        try {
            while (running.get()) {
                if (manual && System.nanoTime() >= nextCommit) {
                    commitStored(consumer, stored, null);
                    nextCommit = System.nanoTime() + 500_000_000L;
                }
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    emit("record", String.format(", \"partition\": %d, \"offset\": %d", r.partition(), r.offset()));
                    if (manual) {
                        stored.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    }
                }
            }
        } catch (WakeupException e) {
            // SIGTERM: close below.
        }
        try {
            if (manual) {
                commitStored(consumer, stored, null);
            }
            consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(20)));
        } catch (KafkaException e) {
            System.err.println("close: " + e);
        }
        emit("closed", "");
        out.close();
        closed.countDown();
    }

    // Commits the stored offsets (of `only`, if given) synchronously; logs each acknowledged one.
    private static void commitStored(KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, OffsetAndMetadata> stored,
            Collection<TopicPartition> only) {
        Map<TopicPartition, OffsetAndMetadata> batch = new HashMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : stored.entrySet()) {
            if (only == null || only.contains(e.getKey())) {
                batch.put(e.getKey(), e.getValue());
            }
        }
        if (batch.isEmpty()) {
            return;
        }
        try {
            consumer.commitSync(batch, Duration.ofSeconds(5));
        } catch (WakeupException e) {
            throw e;
        } catch (KafkaException e) {
            // Rebalancing, fenced, or timed out: not acknowledged, so not logged.
            System.err.println("commit: " + e);
            return;
        }
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : batch.entrySet()) {
            emit("commit", String.format(", \"partition\": %d, \"offset\": %d", e.getKey().partition(), e.getValue().offset()));
            if (stored.get(e.getKey()) == e.getValue()) {
                stored.remove(e.getKey());
            }
        }
    }
}
