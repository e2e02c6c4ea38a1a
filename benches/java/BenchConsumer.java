// One benchmark run of the Java KafkaConsumer (kafka-clients from the jars that
// scripts/kafka-broker.sh installs), with the same arguments and the same one-line JSON report as
// benches/src/bin/bench-consumer.rs:
//
//   java -cp 'LIB/*:CLASSES' BenchConsumer CLIENT MODE key=value...
//
// CLIENT is "java" (a KafkaConsumer<byte[], byte[]> in a poll() loop) or "java-perf" (Kafka's own
// org.apache.kafka.tools.ConsumerPerformance run in this JVM, bulk mode only: a cross-check of the
// figures above). MODE is bulk, latency, rebalance or scale; the keys are those of bench-consumer.
// scripts/bench-compare.sh compiles this with javac; it is benchmark code, not part of kafkit.

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class BenchConsumer {
    static final long LOW_LATENCY_FETCH_WAIT_MS = 10;

    final String client;
    final String mode;
    final Map<String, String> kv = new HashMap<>();
    final long createdNs = System.nanoTime();
    long firstNs = -1;
    long lastNs = -1;
    long count = 0;
    long valueBytes = 0;
    long target = Long.MAX_VALUE;
    boolean finished = false;

    // latency
    long measureFromUs = -1;
    long[] delays = new long[1 << 16];
    int delayCount = 0;
    // rebalance: "topic\0partition" -> [records, s0, e0, s1, e1, ...]
    final Map<String, long[]> timelines = new HashMap<>();
    final Map<String, Integer> timelineLen = new HashMap<>();
    // scale
    final Set<String> seen = new HashSet<>();
    long allAtNs = -1;

    BenchConsumer(String[] args) {
        client = args[0];
        mode = args[1];
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq < 0) throw new IllegalArgumentException("'" + args[i] + "' is not key=value");
            kv.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        if (mode.equals("bulk")) target = num("records", 0);
    }

    long num(String key, long dflt) {
        String v = kv.get(key);
        return v == null ? dflt : Long.parseLong(v);
    }

    String str(String key, String dflt) {
        return kv.getOrDefault(key, dflt);
    }

    static long nowUs() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }

    boolean earliest() {
        return mode.equals("bulk") || mode.equals("scale");
    }

    String profile() {
        return str("settings", mode.equals("bulk") ? "throughput" : "default");
    }

    /** One record delivered; true once the run is over. */
    boolean record(String topic, int partition, byte[] value) {
        long now = System.nanoTime();
        if (firstNs < 0) firstNs = now;
        count++;
        valueBytes += value == null ? 0 : value.length;
        switch (mode) {
            case "bulk":
                if (count == target) {
                    lastNs = now;
                    finished = true;
                }
                break;
            case "latency": {
                long us = nowUs();
                if (measureFromUs < 0) measureFromUs = us + num("warmup_ms", 2000) * 1000;
                if (us >= measureFromUs && value != null && value.length >= 8) {
                    if (delayCount == delays.length) delays = Arrays.copyOf(delays, delays.length * 2);
                    delays[delayCount++] = Math.max(0, us - ByteBuffer.wrap(value, 0, 8).getLong());
                }
                break;
            }
            case "rebalance": {
                long us = nowUs();
                long gap = num("gap_ms", 10) * 1000;
                String key = topic + "\0" + partition;
                long[] t = timelines.get(key);
                if (t == null) {
                    t = new long[65];
                    timelines.put(key, t);
                    timelineLen.put(key, 1);
                }
                int len = timelineLen.get(key);
                t[0]++;
                if (len > 1 && us <= t[len - 1] + gap) {
                    t[len - 1] = us;
                } else {
                    if (len + 2 > t.length) {
                        t = Arrays.copyOf(t, t.length * 2);
                        timelines.put(key, t);
                    }
                    t[len] = us;
                    t[len + 1] = us;
                    timelineLen.put(key, len + 2);
                }
                break;
            }
            case "scale":
                if (allAtNs < 0 && seen.add(topic + "\0" + partition)
                        && seen.size() >= str("topics", "").split(",").length * num("partitions", 8)) {
                    allAtNs = now;
                }
                break;
            default:
                throw new IllegalArgumentException("unknown mode " + mode);
        }
        return finished;
    }

    Properties props() {
        Properties p = new Properties();
        p.put("bootstrap.servers", str("bootstrap", ""));
        p.put("group.id", str("group", "bench-java-" + ProcessHandle.current().pid() + "-" + System.nanoTime()));
        p.put("auto.offset.reset", earliest() ? "earliest" : "latest");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        String protocol = kv.get("protocol");
        if ("consumer".equals(protocol)) {
            p.put("group.protocol", "consumer");
        } else {
            p.put("session.timeout.ms", "6000");
            if (mode.equals("rebalance")) p.put("heartbeat.interval.ms", "1000");
            if ("eager".equals(protocol)) {
                p.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer.RangeAssignor");
            } else if ("cooperative".equals(protocol)) {
                p.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
            }
        }
        switch (profile()) {
            case "throughput":
                p.put("fetch.max.bytes", "67108864");
                p.put("max.partition.fetch.bytes", "4194304");
                p.put("max.poll.records", "10000");
                p.put("receive.buffer.bytes", "2097152");
                p.put("fetch.max.wait.ms", "100");
                break;
            case "lowlat":
                p.put("fetch.min.bytes", "1");
                p.put("fetch.max.wait.ms", Long.toString(LOW_LATENCY_FETCH_WAIT_MS));
                break;
            case "default":
                break;
            default:
                throw new IllegalArgumentException("unknown settings " + profile());
        }
        return p;
    }

    /** Runs until the mode says the run is over; returns scale mode's idle measurement. */
    long[] consume() throws Exception {
        long timeoutNs = num("timeout_ms", 300_000) * 1_000_000L;
        long untilUs = num("until_ms", 0) * 1000;
        long durationNs = (num("warmup_ms", 2000) + num("duration_ms", 10_000)) * 1_000_000L;
        long idleNs = num("idle_ms", 10_000) * 1_000_000L;
        long idleStartNs = -1;
        long idleStartCpu = 0;
        List<String> topics = Arrays.asList(str("topics", "").split(","));
        // Never closed: the process halts once it has reported (a close is not measured).
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props());
        {
            consumer.subscribe(topics);
            while (true) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    if (record(r.topic(), r.partition(), r.value())) return null;
                }
                long now = System.nanoTime();
                if (now - createdNs > timeoutNs) throw new RuntimeException("timed out");
                switch (mode) {
                    case "latency":
                        if (firstNs >= 0 && now - firstNs >= durationNs) return null;
                        break;
                    case "rebalance":
                        if (nowUs() >= untilUs) return null;
                        break;
                    case "scale":
                        if (allAtNs >= 0) {
                            if (idleStartNs < 0) {
                                idleStartNs = now;
                                idleStartCpu = cpuNs()[0] + cpuNs()[1];
                            } else if (now - idleStartNs >= idleNs) {
                                long[] cpu = cpuNs();
                                return new long[] {cpu[0] + cpu[1] - idleStartCpu, now - idleStartNs, status("VmRSS")};
                            }
                        }
                        break;
                    default:
                        break;
                }
            }
        }
    }

    /** user and system CPU nanoseconds of this process, from /proc/self/stat (100 Hz ticks). */
    static long[] cpuNs() throws Exception {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return new long[] {Long.parseLong(f[11]) * 10_000_000L, Long.parseLong(f[12]) * 10_000_000L};
    }

    /** A /proc/self/status field in bytes (VmHWM, VmRSS). */
    static long status(String field) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return 0;
    }

    static String percentiles(long[] d, int n) {
        long[] s = Arrays.copyOf(d, n);
        Arrays.sort(s);
        java.util.function.DoubleFunction<Long> at = q -> s[(int) Math.max(1, Math.min(n, Math.ceil(q * n))) - 1];
        return String.format("{\"count\":%d,\"p50_us\":%d,\"p99_us\":%d,\"p999_us\":%d,\"max_us\":%d}",
                n, at.apply(0.50), at.apply(0.99), at.apply(0.999), s[n - 1]);
    }

    String report(long[] idle) throws Exception {
        long end = System.nanoTime();
        if (firstNs < 0) throw new RuntimeException("no record was delivered");
        long last = lastNs >= 0 ? lastNs : end;
        long[] cpu = cpuNs();
        StringBuilder b = new StringBuilder();
        b.append(String.format("{\"client\":\"%s\",\"records\":%d,\"value_bytes\":%d,\"seconds\":%.6f,"
                        + "\"first_record_seconds\":%.6f,\"cpu_user\":%.3f,\"cpu_sys\":%.3f,\"max_rss_bytes\":%d",
                client, count, valueBytes, (last - firstNs) / 1e9, (firstNs - createdNs) / 1e9,
                cpu[0] / 1e9, cpu[1] / 1e9, status("VmHWM")));
        if (mode.equals("latency") && delayCount > 0) {
            b.append(",\"latency\":").append(percentiles(delays, delayCount));
        }
        if (mode.equals("rebalance")) {
            b.append(",\"partitions\":[");
            boolean firstEntry = true;
            for (Map.Entry<String, long[]> e : timelines.entrySet()) {
                String[] tp = e.getKey().split("\0");
                long[] t = e.getValue();
                int len = timelineLen.get(e.getKey());
                b.append(firstEntry ? "" : ",").append(String.format(
                        "{\"topic\":\"%s\",\"partition\":%s,\"records\":%d,\"intervals\":[", tp[0], tp[1], t[0]));
                for (int i = 1; i + 1 < len; i += 2) {
                    b.append(i == 1 ? "" : ",").append("[").append(t[i]).append(",").append(t[i + 1]).append("]");
                }
                b.append("]}");
                firstEntry = false;
            }
            b.append("]");
        }
        if (mode.equals("scale") && allAtNs >= 0) {
            b.append(String.format(",\"all_partitions_seconds\":%.6f", (allAtNs - createdNs) / 1e9));
            if (idle != null) {
                b.append(String.format(",\"idle_cpu_seconds\":%.3f,\"idle_seconds\":%.3f,\"rss_bytes\":%d",
                        idle[0] / 1e9, idle[1] / 1e9, idle[2]));
            }
        }
        return b.append("}").toString();
    }

    /** Kafka's ConsumerPerformance in this JVM, at the same throughput settings where it has them. */
    String consumerPerformance() throws Exception {
        Path config = Files.createTempFile("bench-perf", ".properties");
        Files.writeString(config, "fetch.max.bytes=67108864\nmax.poll.records=10000\nfetch.max.wait.ms=100\n"
                + "session.timeout.ms=6000\n");
        String[] args = {
            "--bootstrap-server", str("bootstrap", ""), "--topic", str("topics", ""),
            "--messages", Long.toString(target), "--fetch-size", "4194304", "--timeout", "60000",
            "--consumer.config", config.toString(), "--hide-header",
        };
        PrintStream stdout = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            org.apache.kafka.tools.ConsumerPerformance.main(args);
        } finally {
            System.setOut(stdout);
            Files.deleteIfExists(config);
        }
        // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
        // rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
        String out = captured.toString(StandardCharsets.UTF_8).trim();
        String[] lines = out.split("\n");
        String[] f = lines[lines.length - 1].split(",\\s*");
        if (f.length < 10) throw new RuntimeException("unexpected ConsumerPerformance output: " + out);
        long records = Long.parseLong(f[4].trim());
        double mb = Double.parseDouble(f[2].trim());
        double rebalanceMs = Double.parseDouble(f[6].trim());
        double fetchMs = Double.parseDouble(f[7].trim());
        long[] cpu = cpuNs();
        return String.format("{\"client\":\"%s\",\"records\":%d,\"value_bytes\":%d,\"seconds\":%.6f,"
                        + "\"first_record_seconds\":%.6f,\"cpu_user\":%.3f,\"cpu_sys\":%.3f,\"max_rss_bytes\":%d}",
                client, records, (long) (mb * 1024 * 1024), fetchMs / 1e3, rebalanceMs / 1e3,
                cpu[0] / 1e9, cpu[1] / 1e9, status("VmHWM"));
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: BenchConsumer java|java-perf MODE key=value...");
            Runtime.getRuntime().halt(2);
        }
        BenchConsumer b = new BenchConsumer(args);
        String line;
        try {
            if (b.client.equals("java-perf")) {
                if (!b.mode.equals("bulk")) throw new IllegalArgumentException("n/a: ConsumerPerformance measures bulk reads only");
                line = b.consumerPerformance();
            } else if (b.client.equals("java")) {
                line = b.report(b.consume());
            } else {
                throw new IllegalArgumentException("unknown client " + b.client);
            }
        } catch (Throwable e) {
            System.err.println("Error: " + e);
            System.err.flush();
            Runtime.getRuntime().halt(1);
            return;
        }
        System.out.println(line);
        System.out.flush();
        // As the Rust peers do: no graceful close (it is not measured).
        Runtime.getRuntime().halt(0);
    }
}
