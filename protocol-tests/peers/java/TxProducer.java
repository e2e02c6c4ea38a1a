// A Java transactional producer (kafka-clients 4.1) for kafkit's read_committed tests.
//
//   java -cp PEERS:KAFKA_LIB/* TxProducer BOOTSTRAP TOPIC PARTITIONS MODE OUT
//
// MODE interleave:N  two transactional producers (transactional.id TOPIC-a and TOPIC-b) run N
//                    rounds; in each round both begin a transaction, write 3 records to every
//                    partition in alternation (so their records interleave in each partition),
//                    then one commits and the other aborts (which one alternates per round; every
//                    third round both commit). The last round ends with a committed transaction
//                    written after everything else.
// MODE hold:K        one producer begins a transaction, writes K records to every partition,
//                    flushes, logs them as "open", then waits for a line on stdin: "commit" or
//                    "abort"; it does that, logs the outcome and exits.
//
// OUT gets one JSON line per data record once its transaction's outcome is known:
//   {"kind": "record", "partition": P, "offset": O, "outcome": "commit"|"abort"|"open", "producer": "a"|"b"}
// and {"kind": "done"} last. Offsets come from the broker's acknowledgements.

import java.io.BufferedReader;
import java.io.FileWriter;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class TxProducer {
    private static PrintWriter out;

    private static KafkaProducer<byte[], byte[]> producer(String bootstrap, String txId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txId);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p);
        producer.initTransactions();
        return producer;
    }

    private static final class Sent {
        final String producer;
        final Future<RecordMetadata> ack;

        Sent(String producer, Future<RecordMetadata> ack) {
            this.producer = producer;
            this.ack = ack;
        }
    }

    private static Sent send(KafkaProducer<byte[], byte[]> producer, String name, String topic, int partition, String value) {
        byte[] v = value.getBytes(StandardCharsets.UTF_8);
        return new Sent(name, producer.send(new ProducerRecord<>(topic, partition, null, v)));
    }

    private static void log(List<Sent> sent, String outcome) throws Exception {
        for (Sent s : sent) {
            RecordMetadata m = s.ack.get();
            out.printf("{\"kind\": \"record\", \"partition\": %d, \"offset\": %d, \"outcome\": \"%s\", \"producer\": \"%s\"}%n",
                    m.partition(), m.offset(), outcome, s.producer);
        }
        out.flush();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: TxProducer BOOTSTRAP TOPIC PARTITIONS interleave:N|hold:K OUT");
            System.exit(2);
        }
        String bootstrap = args[0], topic = args[1];
        int partitions = Integer.parseInt(args[2]);
        String[] mode = args[3].split(":");
        int n = Integer.parseInt(mode[1]);
        out = new PrintWriter(new FileWriter(args[4], true));

        if (mode[0].equals("interleave")) {
            try (KafkaProducer<byte[], byte[]> a = producer(bootstrap, topic + "-a");
                    KafkaProducer<byte[], byte[]> b = producer(bootstrap, topic + "-b")) {
                for (int round = 0; round < n; round++) {
                    List<Sent> sentA = new ArrayList<>(), sentB = new ArrayList<>();
                    a.beginTransaction();
                    b.beginTransaction();
                    for (int i = 0; i < 3; i++) {
                        for (int p = 0; p < partitions; p++) {
                            sentA.add(send(a, "a", topic, p, "a-" + round + "-" + p + "-" + i));
                            a.flush();
                            sentB.add(send(b, "b", topic, p, "b-" + round + "-" + p + "-" + i));
                            b.flush();
                        }
                    }
                    boolean bothCommit = round % 3 == 2;
                    boolean aCommits = round % 2 == 0;
                    if (bothCommit || aCommits) {
                        a.commitTransaction();
                        log(sentA, "commit");
                    } else {
                        a.abortTransaction();
                        log(sentA, "abort");
                    }
                    if (bothCommit || !aCommits) {
                        b.commitTransaction();
                        log(sentB, "commit");
                    } else {
                        b.abortTransaction();
                        log(sentB, "abort");
                    }
                }
                // A committed transaction after everything else: once its records are read, every
                // earlier record has been decided.
                List<Sent> last = new ArrayList<>();
                a.beginTransaction();
                for (int p = 0; p < partitions; p++) {
                    last.add(send(a, "a", topic, p, "a-last-" + p));
                }
                a.commitTransaction();
                log(last, "commit");
            }
        } else if (mode[0].equals("hold")) {
            try (KafkaProducer<byte[], byte[]> a = producer(bootstrap, topic + "-hold")) {
                List<Sent> sent = new ArrayList<>();
                a.beginTransaction();
                for (int i = 0; i < n; i++) {
                    for (int p = 0; p < partitions; p++) {
                        sent.add(send(a, "a", topic, p, "open-" + p + "-" + i));
                    }
                }
                a.flush();
                log(sent, "open");
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                String line = in.readLine();
                if ("commit".equals(line)) {
                    a.commitTransaction();
                    log(sent, "commit");
                } else {
                    a.abortTransaction();
                    log(sent, "abort");
                }
            }
        } else {
            System.err.println("unknown mode " + args[3]);
            System.exit(2);
        }
        out.println("{\"kind\": \"done\"}");
        out.close();
    }
}
