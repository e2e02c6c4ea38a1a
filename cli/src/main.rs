//! `kafkit`: consume Kafka topics, show cluster metadata, partition offsets and consumer groups, on
//! the kafkit library's public API.
//!
//! Exit codes: 0 when a command finished as asked (including a stop by `--count`, `--idle-timeout`,
//! Ctrl-C or SIGTERM); 1 for a fatal condition (a consumer error, a topic or group that does not
//! exist, no reachable broker); 2 for bad usage (including invalid `--property` keys and values).

mod admin;
mod consume;
mod group;
mod json;
mod metadata;
mod offsets;
mod properties;
mod status;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Consume Kafka topics and inspect clusters (pure Rust; no C, no FFI).
#[derive(Debug, Parser)]
#[command(name = "kafkit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume records and print them to stdout, one per line.
    Consume(ConsumeArgs),
    /// Print the cluster's brokers, topics, partitions and their leaders.
    Metadata(MetadataArgs),
    /// Print a topic's low and high watermarks per partition and, with --group, the group's
    /// committed offsets and lag (without joining the group).
    Offsets(OffsetsArgs),
    /// Inspect consumer groups (without joining them).
    #[command(subcommand)]
    Group(GroupCommand),
}

/// `kafkit group ...`.
#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Print a group's state, assignor and members with their partitions, and per partition the
    /// committed offset, high watermark and lag.
    Describe(GroupDescribeArgs),
}

/// Where and how to connect, for the commands that only ask brokers questions.
#[derive(Debug, clap::Args)]
pub(crate) struct ConnectArgs {
    /// Bootstrap brokers, HOST:PORT[,HOST:PORT...] (or bootstrap.servers in --config / -X).
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    pub(crate) brokers: Option<String>,
    /// Give up after this many seconds without an answer.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub(crate) timeout: f64,
    /// A connection property, KEY=VALUE (repeatable): security.protocol, sasl.*, ssl.*, client.id.
    #[arg(long = "property", short = 'X', value_name = "KEY=VALUE")]
    pub(crate) properties: Vec<String>,
    /// A file of KEY=VALUE lines (consumer-only keys in it are ignored here).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<std::path::PathBuf>,
}

/// Arguments of `kafkit offsets`.
#[derive(Debug, clap::Args)]
pub(crate) struct OffsetsArgs {
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// The topic.
    #[arg(long, value_name = "TOPIC")]
    pub(crate) topic: String,
    /// Also show this group's committed offsets and lag (read with OffsetFetch; the group is not
    /// joined, so a live group does not rebalance).
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    pub(crate) format: TableFormat,
}

/// Arguments of `kafkit group describe`.
#[derive(Debug, clap::Args)]
pub(crate) struct GroupDescribeArgs {
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// The group id.
    #[arg(value_name = "GROUP")]
    pub(crate) group: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    pub(crate) format: TableFormat,
}

/// How tables (offsets, groups) are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TableFormat {
    /// An aligned table with a header.
    Text,
    /// JSON objects, one per line.
    Json,
}

/// Arguments of `kafkit consume`.
#[derive(Debug, clap::Args)]
pub(crate) struct ConsumeArgs {
    /// Bootstrap brokers, HOST:PORT[,HOST:PORT...] (or bootstrap.servers in --config / -X).
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    pub(crate) brokers: Option<String>,
    /// A topic to consume (repeat for more).
    #[arg(long = "topic", value_name = "TOPIC", required = true)]
    pub(crate) topics: Vec<String>,
    /// Join this consumer group (offsets are committed per --commit). Without a group, every
    /// partition is read and nothing is committed.
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: Option<String>,
    /// Where to start: earliest, latest, or, without --group, for every partition: an OFFSET,
    /// -N (the last N records), or @TIME (the first record at or after TIME, Unix milliseconds or
    /// RFC 3339 such as @2026-12-02T10:00:00Z). With --group, earliest or latest, for partitions
    /// that have no committed offset.
    #[arg(
        long,
        value_name = "earliest|latest|OFFSET|-N|@TIME",
        default_value = "latest",
        allow_hyphen_values = true
    )]
    pub(crate) from: String,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// Stop after this many seconds without a record. The clock starts once partitions are
    /// assigned (a group may hold a join for a while); until then kafkit waits, unless no broker
    /// is reachable or a topic does not exist, which end the run after this long.
    #[arg(long, value_name = "SECS")]
    pub(crate) idle_timeout: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// With --group: auto (commit what was printed, periodically and on exit), each (commit every
    /// record before printing the next), none (never commit).
    #[arg(long, value_enum, default_value_t = CommitMode::Auto)]
    pub(crate) commit: CommitMode,
    /// A librdkafka-style consumer property, KEY=VALUE (repeatable), e.g. session.timeout.ms=10000
    /// or security.protocol=SASL_SSL; overrides --config.
    #[arg(long = "property", short = 'X', value_name = "KEY=VALUE")]
    pub(crate) properties: Vec<String>,
    /// A file of KEY=VALUE lines (librdkafka or Java client.properties style: security.protocol,
    /// sasl.*, ssl.*, ...).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<std::path::PathBuf>,
}

/// Arguments of `kafkit metadata`.
#[derive(Debug, clap::Args)]
pub(crate) struct MetadataArgs {
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// Only these topics (repeatable); default: all.
    #[arg(long = "topic", value_name = "TOPIC")]
    pub(crate) topics: Vec<String>,
}

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The value only, one per line (null values print as empty lines).
    Text,
    /// One JSON object per record per line.
    Json,
}

/// When offsets are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CommitMode {
    /// Commit printed records periodically and on exit.
    Auto,
    /// Commit each record before printing the next.
    Each,
    /// Never commit.
    None,
}

/// A failure that ends the program: what to print and which exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    /// Bad usage: exit code 2.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// A fatal runtime condition: exit code 1.
    pub(crate) fn fatal(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafkit: error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Consume(args) => consume::run(args).await,
            Command::Metadata(args) => metadata::run(args).await,
            Command::Offsets(args) => offsets::run(args).await,
            Command::Group(GroupCommand::Describe(args)) => group::describe(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("kafkit: error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
