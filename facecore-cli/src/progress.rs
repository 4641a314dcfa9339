//! A minimal progress bar on stderr, drawn only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    total: usize,
    done: usize,
    label: &'static str,
    start: Instant,
    tty: bool,
}

impl Progress {
    pub fn new(label: &'static str, total: usize) -> Self {
        Progress { total, done: 0, label, start: Instant::now(), tty: std::io::stderr().is_terminal() }
    }

    pub fn tick(&mut self) {
        self.done += 1;
        let every = (self.total / 100).max(1);
        if !self.done.is_multiple_of(every) && self.done != self.total {
            return;
        }
        let el = self.start.elapsed().as_secs_f64();
        let eta = if self.done > 0 { el / self.done as f64 * (self.total - self.done) as f64 } else { 0.0 };
        let width = 30;
        let fill = width * self.done / self.total.max(1);
        let bar = format!("{}{}", "#".repeat(fill), "-".repeat(width - fill));
        let mut e = std::io::stderr();
        if self.tty {
            let _ = write!(e, "\r{} [{bar}] {}/{} {el:.0}s eta {eta:.0}s ", self.label, self.done, self.total);
            if self.done == self.total {
                let _ = writeln!(e);
            }
        } else if self.done.is_multiple_of((every * 10).max(1)) || self.done == self.total {
            let _ = writeln!(e, "{} {}/{} {el:.0}s", self.label, self.done, self.total);
        }
    }
}
