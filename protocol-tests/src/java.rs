//! Java peers: Kafka's own client and tools, run from the jars `scripts/kafka-broker.sh install`
//! resolved (`KAFKIT_KAFKA_LIB`), and the small programs in `peers/java/` compiled against them
//! with `javac` on first use (cached under `target/java-peers/<hash of the sources>`).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The Kafka jars directory, from `KAFKIT_KAFKA_LIB`.
///
/// Panics (failing the test, never skipping it) when the variable is not set: run the tests with
/// `./scripts/test.sh`, or `export KAFKIT_KAFKA_LIB=$(scripts/kafka-broker.sh install)`.
pub fn kafka_lib() -> PathBuf {
    match std::env::var("KAFKIT_KAFKA_LIB") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "KAFKIT_KAFKA_LIB is not set: run ./scripts/test.sh, or `export KAFKIT_KAFKA_LIB=$(scripts/kafka-broker.sh install)`"
        ),
    }
}

fn java_home_tool(tool: &str) -> PathBuf {
    if let Ok(home) = std::env::var("JAVA_HOME") {
        let p = Path::new(&home).join("bin").join(tool);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(tool)
}

/// The directory holding the compiled `peers/java/*.java` classes (compiled once per test process,
/// and reused across processes while the sources are unchanged).
pub fn peers_classes() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/java");
        let mut sources: Vec<PathBuf> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "java"))
            .collect();
        sources.sort();
        let mut hasher = DefaultHasher::new();
        for s in &sources {
            s.file_name().hash(&mut hasher);
            std::fs::read(s).unwrap().hash(&mut hasher);
        }
        kafka_lib().hash(&mut hasher);
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/java-peers");
        let dir = target.join(format!("{:016x}", hasher.finish()));
        if dir.join(".complete").exists() {
            return dir;
        }
        let tmp = target.join(format!(".tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let output = Command::new(java_home_tool("javac"))
            .arg("-nowarn")
            .arg("-d")
            .arg(&tmp)
            .arg("-cp")
            .arg(format!("{}/*", kafka_lib().display()))
            .args(&sources)
            .output()
            .unwrap_or_else(|e| panic!("run javac (a JDK 17+ must be installed): {e}"));
        assert!(
            output.status.success(),
            "javac failed on peers/java:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(tmp.join(".complete"), b"").unwrap();
        // Another process may have won the race: either copy is as good.
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
    .clone()
}

/// `java` with a small heap and the Kafka jars (plus the compiled peers) on the class path,
/// running `main_class`. Add the program's arguments.
pub fn command(main_class: &str) -> Command {
    let mut cmd = Command::new(java_home_tool("java"));
    let classpath = format!("{}:{}/*", peers_classes().display(), kafka_lib().display());
    cmd.args([
        "-Xms64m",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
    ])
    .arg(format!(
        "-Dlog4j2.configurationFile={}",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("peers/java/log4j2-peers.properties")
            .display()
    ))
    .arg("-cp")
    .arg(classpath)
    .arg(main_class);
    cmd
}
