//! The live status line on stderr, shown only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use kafkit::{Health, Status};

/// Redraws one line on stderr: status, records, records/s, assigned partitions, lag, last error.
pub(crate) struct StatusLine {
    enabled: bool,
    drawn: bool,
    last_at: Instant,
    last_count: u64,
    rate: f64,
}

impl StatusLine {
    /// Enabled only when stderr is a terminal.
    pub(crate) fn new() -> Self {
        StatusLine {
            enabled: std::io::stderr().is_terminal(),
            drawn: false,
            last_at: Instant::now(),
            last_count: 0,
            rate: 0.0,
        }
    }

    /// Whether the line is shown at all.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Redraws the line with `count` records printed so far.
    pub(crate) fn draw(&mut self, health: &Health, count: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let secs = now.duration_since(self.last_at).as_secs_f64();
        if secs > 0.0 {
            self.rate = (count - self.last_count.min(count)) as f64 / secs;
        }
        self.last_at = now;
        self.last_count = count;
        let status = match health.status {
            Status::Starting => "starting",
            Status::Connecting => "connecting (retrying)",
            Status::Joining => "joining group",
            Status::Consuming => "consuming",
            Status::Rebalancing => "rebalancing",
            Status::Stalled => "stalled",
            Status::Failed => "failed",
            Status::Closed => "closed",
            _ => "unknown",
        };
        let mut line = format!(
            "[kafkit] {status} | {count} records | {:.0} rec/s | {} partitions assigned",
            self.rate, health.assigned_partitions
        );
        if let Some(lag) = health.lag {
            line.push_str(&format!(" | lag {lag}"));
        }
        if let Some(e) = &health.last_error {
            line.push_str(&format!(" | last error: {e}"));
        }
        // One terminal line, or the next redraw cannot erase it.
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(120);
        if let Some((cut, _)) = line.char_indices().nth(width.saturating_sub(1).max(20)) {
            line.truncate(cut);
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Prints `message` on its own line above the status line.
    pub(crate) fn note(&mut self, message: &str) {
        self.clear();
        eprintln!("{message}");
    }

    /// Erases the line (before exiting or printing something else on stderr).
    pub(crate) fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}
