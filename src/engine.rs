//! The engine: one thread, one current-thread tokio runtime, owning every socket and timer.
//!
//! Two halves:
//! - [`core`]: the engine's state, sans IO. It composes the group membership ([`crate::group`]),
//!   fetch ([`crate::fetch`]) and commit ([`crate::commit`]) cores with the engine's ends of the
//!   [`crate::handoff`], and holds liveness (max poll) and close as small functions. It takes
//!   commands, answers and timer ticks as inputs and gives requests to send and a wake-up time as
//!   outputs. The deterministic simulation drives exactly this.
//! - [`driver`]: I/O only. A select loop turns the core's requests into tasks on the broker pools
//!   (each encodes its request at the version negotiated with its broker and decodes the answer)
//!   and their answers, the application's commands and the core's timer back into core inputs, so
//!   the loop itself never waits on the network.
//!
//! The engine talks to the application only through the handoff (channels and a few atomics) and
//! [`crate::events`]; it never imports the consumer.

mod core;
mod driver;
mod transmit;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio::sync::mpsc;

pub(crate) use self::core::{EngineCore, HandoffEnds};
pub(crate) use self::transmit::{Response, Transmit};
use crate::config::ConsumerConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Reporter, Status};
use crate::handoff::{Command, NewPartition, RejoinSignal};
use crate::net::{BrokerPool, NetConfig};

/// Everything the engine thread needs, built on the caller's thread (no I/O).
pub(crate) struct Engine {
    config: ConsumerConfig,
    commands: mpsc::Receiver<Command>,
    ends: HandoffEnds,
    pool: BrokerPool,
    group_pool: Option<BrokerPool>,
}

impl Engine {
    /// Validates what the engine will need (addresses, group settings) without any I/O.
    pub(crate) fn new(
        config: ConsumerConfig,
        commands: mpsc::Receiver<Command>,
        partitions: mpsc::UnboundedSender<NewPartition>,
        reporter: Reporter,
        rejoin: Arc<RejoinSignal>,
    ) -> Result<Engine> {
        EngineCore::validate(&config)?;
        let pool = BrokerPool::new(&config.bootstrap, config.net.clone())?;
        let group_pool = match config.group_id {
            Some(_) => {
                // JoinGroup is held by the coordinator for up to the rebalance timeout; each request
                // carries its own deadline, so the connection's must not be shorter.
                let net: NetConfig = config
                    .net
                    .clone()
                    .request_timeout(config.max_poll_interval + config.net.request_timeout);
                Some(BrokerPool::new(&config.bootstrap, net)?)
            }
            None => None,
        };
        Ok(Engine {
            config,
            commands,
            ends: HandoffEnds {
                partitions,
                reporter,
                rejoin,
                total_buffered: Arc::new(AtomicUsize::new(0)),
            },
            pool,
            group_pool,
        })
    }

    /// Starts the engine thread.
    pub(crate) fn start(self) -> Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("kafkit-engine".into())
            .spawn(move || self.run_on_own_runtime())
            .map_err(|e| Error::with_source(ErrorKind::Config, "could not start the engine thread", e))
    }

    /// Runs the engine to completion on a runtime of its own (called on the engine thread).
    fn run_on_own_runtime(self) {
        let reporter = self.ends.reporter.clone();
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let error = Error::with_source(ErrorKind::Config, "could not start the engine runtime", e);
                reporter.event(Event::Fatal(error.clone()));
                reporter.error(&error);
                reporter.status(Status::Failed);
                return;
            }
        };
        runtime.block_on(self.run());
        reporter.status(Status::Closed);
    }

    /// Runs the engine on the current runtime until it has closed. Its clock is that runtime's
    /// (`tokio::time::Instant`), so under paused tokio time everything runs on virtual time.
    pub(crate) async fn run(self) {
        let now = tokio::time::Instant::now().into_std();
        let core = match EngineCore::new(self.config, self.ends, now) {
            Ok(core) => core,
            // Validated in `Engine::new`.
            Err(e) => {
                tracing::error!(error = %e, "the engine could not start");
                return;
            }
        };
        driver::Driver::new(core, self.commands, self.pool, self.group_pool)
            .run()
            .await;
    }
}
