//! Group members as processes of their own, so a test can stop them cleanly (SIGTERM: commit and
//! leave) or kill them (SIGKILL: no leave, the session timeout evicts them): kafkit
//! (`kafkit-member`), librdkafka (`peers/rdkafka_member.py`, PyPI confluent-kafka) and the Java
//! `KafkaConsumer` (`peers/java/JavaMember.java`). All three write the same JSON lines, which
//! [`History::load_jsonl`](crate::history::History::load_jsonl) reads.
//!
//! Kafka's `VerifiableProducer` is here too: it writes increasing integers and reports each
//! acknowledged offset, which become the history checker's [`Expected`].

// Member processes are driven from plain threads (the tests' own), never from a runtime's worker:
// sleeping there blocks nothing.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::history::{Expected, History};

/// Which client a member process runs.
#[derive(Debug, Clone)]
/// Each with the `group.protocol` it uses (`classic` or `consumer`).
pub enum Client {
    /// kafkit's `kafkit-member` binary (pass `env!("CARGO_BIN_EXE_kafkit-member")`).
    Kafkit(PathBuf, &'static str),
    /// librdkafka through confluent-kafka (`KAFKIT_PYTHON`).
    Rdkafka(&'static str),
    /// The Java `KafkaConsumer`.
    Java(&'static str),
}

impl Client {
    /// The `group.protocol` it uses.
    pub fn protocol(&self) -> &'static str {
        match self {
            Client::Kafkit(_, p) | Client::Rdkafka(p) | Client::Java(p) => p,
        }
    }
}

/// The Python with confluent-kafka, from `KAFKIT_PYTHON` (panics, failing the test, when unset).
pub fn python() -> String {
    std::env::var("KAFKIT_PYTHON").unwrap_or_else(|_| {
        panic!("KAFKIT_PYTHON is not set: run ./scripts/test.sh (it installs confluent-kafka into a venv)")
    })
}

/// Where a group's members are and what they consume.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub bootstrap: String,
    pub group: String,
    pub topic: String,
    /// `partition.assignment.strategy` (classic) or the remote assignor (consumer protocol).
    pub strategy: String,
    /// Commit manually and log acknowledged commits (`manual`), or auto-commit (`auto`).
    pub commit: &'static str,
    /// Directory for the members' logs (one `NAME.jsonl` each).
    pub dir: PathBuf,
}

/// One running member process.
#[derive(Debug)]
pub struct MemberProcess {
    pub name: String,
    child: Child,
}

impl GroupSpec {
    /// Starts member `name` running `client`.
    pub fn spawn(&self, client: &Client, name: &str) -> MemberProcess {
        let log = self.log(name);
        let mut cmd = match client {
            Client::Kafkit(bin, _) => Command::new(bin),
            Client::Rdkafka(_) => {
                let mut c = Command::new(python());
                c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/rdkafka_member.py"));
                c
            }
            Client::Java(_) => crate::java::command("JavaMember"),
        };
        cmd.args([&self.bootstrap, &self.group, &self.topic, &self.strategy, name])
            .arg(&log)
            .arg(self.commit)
            .arg(client.protocol());
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.join(format!("{name}.stderr"))).unwrap(),
            ))
            .spawn()
            .unwrap_or_else(|e| panic!("start {client:?} member {name}: {e}"));
        MemberProcess {
            name: name.to_owned(),
            child,
        }
    }

    /// The JSON-lines log of member `name`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.jsonl"))
    }

    /// Every member log in the directory, plus `extra`'s facts (kills), as one history.
    pub fn history(&self, extra: &History) -> History {
        let h = History::new();
        for e in extra.entries() {
            h.record_at(e.t, &e.member, e.kind);
        }
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                h.load_jsonl(&path);
            }
        }
        h
    }

    /// What member `name` wrote on stderr (for failure messages).
    pub fn stderr(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.stderr"))).unwrap_or_default()
    }
}

impl MemberProcess {
    /// SIGTERM: the member commits, leaves the group and exits.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.name);
    }

    /// Waits (bounded) for the member to exit after [`MemberProcess::terminate`]; it must exit 0.
    pub fn wait_exit(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exited with {status} after SIGTERM",
                    self.name
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("member {} did not exit within {limit:?} of SIGTERM", self.name);
    }

    /// SIGKILL, recorded in `history` as a kill at this instant.
    pub fn kill(&mut self, history: &History) {
        self.child.kill().unwrap();
        history.killed(&self.name);
        let _ = self.child.wait();
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for MemberProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Kafka's `VerifiableProducer` writing `messages` records at about `per_second` to `topic`
/// (acks=all, keys cycling over 60 values so every partition gets records), its JSON report on
/// `out`.
pub struct VerifiableProducer {
    child: Child,
    out: PathBuf,
}

impl VerifiableProducer {
    pub fn start(
        bootstrap: &str,
        topic: &str,
        messages: usize,
        per_second: usize,
        out: &Path,
    ) -> VerifiableProducer {
        let child = crate::java::command("org.apache.kafka.tools.VerifiableProducer")
            .args(["--bootstrap-server", bootstrap, "--topic", topic, "--acks", "-1"])
            .args(["--max-messages", &messages.to_string()])
            .args(["--throughput", &per_second.to_string()])
            .args(["--repeating-keys", "60"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(out).unwrap()))
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start VerifiableProducer: {e}"));
        VerifiableProducer {
            child,
            out: out.to_owned(),
        }
    }

    /// Waits (bounded) for it to finish; every record must have been acknowledged.
    pub fn wait(&mut self, limit: Duration) -> Expected {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "VerifiableProducer exited with {status}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "VerifiableProducer did not finish within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (expected, errors) = self.acknowledged();
        assert_eq!(errors, 0, "VerifiableProducer reported {errors} failed sends");
        expected
    }

    /// The offsets acknowledged so far, and how many sends failed.
    pub fn acknowledged(&self) -> (Expected, usize) {
        let mut expected = Expected::default();
        let mut errors = 0;
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            match v["name"].as_str() {
                Some("producer_send_success") => {
                    let p = v["partition"].as_i64().unwrap() as i32;
                    let o = v["offset"].as_i64().unwrap();
                    expected.add(p, o, o + 1);
                }
                Some("producer_send_error") => errors += 1,
                _ => {}
            }
        }
        (expected, errors)
    }
}

impl Drop for VerifiableProducer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
