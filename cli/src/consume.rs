//! `kafkit consume`: print records until --count, --idle-timeout, Ctrl-C or SIGTERM, then commit
//! per --commit and leave the group before exiting.

use std::io::Write;
use std::time::Duration;

use kafkit::net::{BrokerPool, NetConfig};
use kafkit::{Consumer, ErrorKind, Event, Offset, OffsetReset, Record, Status};
use tokio::time::Instant;

use crate::metadata::{seconds, split_brokers};
use crate::status::StatusLine;
use crate::{CommitMode, ConsumeArgs, Failure, Format, json};

/// How often the status line is redrawn.
const STATUS_EVERY: Duration = Duration::from_millis(500);
/// How long the idle-timeout check for missing topics waits for metadata.
const TOPIC_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where `--from` says to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    Reset(OffsetReset),
    At(Offset),
}

fn parse_from(from: &str, group: bool) -> Result<From, Failure> {
    let usage = || {
        Failure::usage(format!(
            "--from must be earliest, latest, or (without --group) an offset >= 0, -N or @TIME \
             (Unix milliseconds or RFC 3339, e.g. @2026-12-02T10:00:00Z), not '{from}'"
        ))
    };
    let at = match from {
        "earliest" | "beginning" => return Ok(From::Reset(OffsetReset::Earliest)),
        "latest" | "end" => return Ok(From::Reset(OffsetReset::Latest)),
        _ => match from.strip_prefix('@') {
            Some(time) => Offset::Timestamp(parse_time(time).ok_or_else(usage)?),
            None => match from.parse::<i64>() {
                Ok(n) if from.starts_with('-') => Offset::FromEnd(n.checked_neg().ok_or_else(usage)?),
                Ok(offset) if offset >= 0 => Offset::At(offset),
                _ => return Err(usage()),
            },
        },
    };
    if group {
        return Err(Failure::usage(format!(
            "--from {from} works only without --group (a group resumes from its committed offsets; \
             with --group, --from is earliest or latest, for partitions that have none)"
        )));
    }
    Ok(From::At(at))
}

/// Unix milliseconds, or an RFC 3339 time (`2026-12-02T10:00:00Z`, `...T10:00:00.250+01:00`).
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return (ms >= 0).then_some(ms);
    }
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = text.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        let padded = format!("{:0<3}", &digits[..digits.len().min(3)]);
        millis = padded.parse::<i64>().ok()?;
    }
    let offset_minutes = match text.get(i..)? {
        "Z" | "z" => 0,
        zone if zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':' =>
        {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (h * 60 + m)
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    let ms = seconds.checked_mul(1000)?.checked_add(millis)?;
    (ms >= 0).then_some(ms)
}

/// Why the consume loop ended normally.
enum Stop {
    Count,
    Idle,
    Signal,
    StreamEnded,
    OutputClosed,
}

pub(crate) async fn run(args: ConsumeArgs) -> Result<(), Failure> {
    let props = crate::properties::load(args.config.as_deref(), &args.properties)?;
    let bootstrap = args
        .brokers
        .clone()
        .or_else(|| crate::properties::bootstrap(&props).map(str::to_owned))
        .ok_or_else(|| Failure::usage("give --brokers HOST:PORT, or bootstrap.servers in --config or -X"))?;
    let brokers = split_brokers(&bootstrap)?;
    let from = parse_from(&args.from, args.group.is_some())?;
    let idle = args
        .idle_timeout
        .map(|s| seconds("--idle-timeout", s))
        .transpose()?;
    let grouped = args.group.is_some();
    let commit = if grouped { args.commit } else { CommitMode::None };

    let mut builder = Consumer::builder()
        .bootstrap(&bootstrap)
        .subscribe(args.topics.iter().cloned())
        .auto_commit(commit == CommitMode::Auto);
    if let Some(group) = &args.group {
        builder = builder.group_id(group);
    }
    builder = match from {
        From::Reset(reset) => builder.offset_reset(reset),
        // Out of range falls back to the earliest record still in the log.
        From::At(at) => builder.start_at(at).offset_reset(OffsetReset::Earliest),
    };
    let consumer = builder
        .properties(props.clone())
        .build()
        .map_err(|e| match e.kind() {
            ErrorKind::Config => Failure::usage(format!("invalid configuration: {e}")),
            _ => Failure::fatal(format!("could not start the consumer: {e}")),
        })?;
    let mut records = consumer
        .records()
        .map_err(|e| Failure::fatal(format!("could not start the consumer: {e}")))?;
    let mut events = consumer.events();

    let mut status = StatusLine::new();
    let mut ticker = tokio::time::interval(STATUS_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Failure::fatal(format!("could not install the SIGTERM handler: {e}")))?;

    let stdout = std::io::stdout();
    let mut buf = Vec::with_capacity(4096);
    let mut count: u64 = 0;
    // Until partitions are assigned, the idle clock only bounds the wait for a broker and the
    // topics (see `idle_diagnosis`); it starts for real at the first assignment.
    let mut idle_deadline = idle.map(|d| Instant::now() + d);
    let mut assigned = false;
    let mut fatal: Option<Failure> = None;

    let _stop: Stop = loop {
        if args.count.is_some_and(|n| count >= n) {
            break Stop::Count;
        }
        let sleep_until = idle_deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            _ = &mut ctrl_c => break Stop::Signal,
            _ = term.recv() => break Stop::Signal,
            event = events.next() => match event {
                Some(Event::Assigned(_)) if !assigned => {
                    assigned = true;
                    if count == 0 {
                        idle_deadline = idle.map(|d| Instant::now() + d);
                    }
                }
                Some(Event::Fatal(e)) => {
                    fatal = Some(Failure::fatal(format!("the consumer stopped: {e}")));
                    break Stop::StreamEnded;
                }
                Some(Event::Warning(e)) if status.enabled() => status.note(&format!("[kafkit] retrying: {e}")),
                Some(Event::Lost(tps, e)) if status.enabled() => {
                    status.note(&format!("[kafkit] lost {} partitions: {e}", tps.len()))
                }
                _ => {}
            },
            _ = ticker.tick(), if status.enabled() => status.draw(&consumer.health(), count),
            _ = tokio::time::sleep_until(sleep_until), if idle_deadline.is_some() => {
                if assigned || count > 0 {
                    break Stop::Idle;
                }
                // Nothing assigned yet: stop only if nothing can come (no broker, no topic).
                let net = NetConfig::from_properties(crate::properties::connection_only(&props)).unwrap_or_default();
                let waited = idle.unwrap_or_default();
                if let Some(f) = idle_diagnosis(&consumer, &brokers, net, &args.topics, waited).await {
                    fatal = Some(f);
                    break Stop::Idle;
                }
                if consumer.health().assigned_partitions > 0 {
                    break Stop::Idle;
                }
                status.note("[kafkit] waiting for partitions to be assigned; the idle clock starts then");
                idle_deadline = idle.map(|d| Instant::now() + d);
            }
            next = records.next() => match next {
                None => {
                    // The streams end when the consumer stops on a fatal error (the event may not
                    // have been read yet).
                    let health = consumer.health();
                    if health.status == Status::Failed {
                        let why = health.last_error.map(|e| format!(": {e}")).unwrap_or_default();
                        fatal = Some(Failure::fatal(format!("the consumer stopped{why}")));
                    }
                    break Stop::StreamEnded;
                }
                Some(Err(e)) => {
                    fatal = Some(Failure::fatal(format!("consuming failed: {e}")));
                    break Stop::StreamEnded;
                }
                Some(Ok(record)) => {
                    buf.clear();
                    format_record(&mut buf, &record, args.format);
                    let mut out = stdout.lock();
                    if out.write_all(&buf).and_then(|()| out.flush()).is_err() {
                        break Stop::OutputClosed;
                    }
                    drop(out);
                    count += 1;
                    match commit {
                        CommitMode::Auto => records.store(&record),
                        CommitMode::Each => {
                            if let Err(e) = records.commit(&record).await {
                                status.note(&format!(
                                    "kafkit: warning: commit of {}/{} offset {} failed: {e}",
                                    record.topic(), record.partition(), record.offset()
                                ));
                            }
                        }
                        CommitMode::None => {}
                    }
                    idle_deadline = idle.map(|d| Instant::now() + d);
                }
            },
        }
    };
    status.clear();

    // Streams first: the group's clean leave waits for them to be dropped, then commits what was
    // stored (auto) and leaves.
    drop(records);
    let closed = consumer.close().await;
    if let Some(f) = fatal {
        return Err(f);
    }
    if let Err(e) = closed {
        return Err(Failure::fatal(format!(
            "closing the consumer (committing offsets, leaving the group): {e}"
        )));
    }
    Ok(())
}

fn format_record(buf: &mut Vec<u8>, record: &Record, format: Format) {
    match format {
        Format::Json => json::write_record(buf, record),
        Format::Text => {
            buf.extend_from_slice(record.value().unwrap_or_default());
            buf.push(b'\n');
        }
    }
}

/// After an idle timeout with no record at all: a fatal reason if the brokers were never reached or
/// a topic does not exist; `None` if the topics are simply empty.
async fn idle_diagnosis(
    consumer: &Consumer,
    brokers: &[String],
    net: NetConfig,
    topics: &[String],
    waited: Duration,
) -> Option<Failure> {
    let health = consumer.health();
    if matches!(health.status, Status::Failed) {
        let why = health.last_error.map(|e| format!(": {e}")).unwrap_or_default();
        return Some(Failure::fatal(format!("the consumer stopped{why}")));
    }
    // All topics (not the named ones: asking for a missing topic can auto-create it).
    let metadata = match BrokerPool::new(brokers.iter().map(String::as_str), net) {
        Ok(pool) => tokio::time::timeout(TOPIC_CHECK_TIMEOUT, async move { pool.metadata(None).await }).await,
        Err(_) => return None,
    };
    let md = match metadata {
        Ok(Ok(md)) => md,
        _ if matches!(health.status, Status::Starting | Status::Connecting) => {
            let why = health.last_error.map(|e| format!(": {e}")).unwrap_or_default();
            return Some(Failure::fatal(format!(
                "no broker reachable at {} within {waited:?}{why}; check --brokers and that the broker runs",
                brokers.join(",")
            )));
        }
        _ => return None,
    };
    let missing: Vec<&str> = topics
        .iter()
        .filter(|t| {
            md.topic(t)
                .is_none_or(|t| t.error.is_some() || t.partitions.is_empty())
        })
        .map(String::as_str)
        .collect();
    (!missing.is_empty()).then(|| {
        Failure::fatal(format!(
            "topic {} does not exist on {} (waited {waited:?}); create it or check --topic",
            missing.join(", "),
            brokers.join(",")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_with_group_is_a_policy_and_a_number_is_an_error() {
        assert_eq!(
            parse_from("earliest", true).unwrap(),
            From::Reset(OffsetReset::Earliest)
        );
        assert_eq!(
            parse_from("latest", false).unwrap(),
            From::Reset(OffsetReset::Latest)
        );
        assert_eq!(parse_from("42", false).unwrap(), From::At(Offset::At(42)));
        let e = parse_from("42", true).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.contains("without --group"), "{}", e.message);
        assert_eq!(parse_from("-10", false).unwrap(), From::At(Offset::FromEnd(10)));
        assert_eq!(
            parse_from("@1700000000000", false).unwrap(),
            From::At(Offset::Timestamp(1_700_000_000_000))
        );
        assert!(parse_from("@1700000000000", true).is_err());
        assert!(parse_from("-5", true).is_err());
        assert!(parse_from("soon", false).is_err());
        assert!(parse_from("@yesterday", false).is_err());
    }

    #[test]
    fn rfc3339_times_are_unix_milliseconds() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Some(1_700_000_000_500));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.123+01:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_time("2023-11-14T21:13:20-01:00"), Some(1_700_000_000_000));
        assert_eq!(parse_time("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        for bad in [
            "2023-11-14",
            "2023-13-01T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20+0100",
            "x",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
