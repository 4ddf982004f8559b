//! One table row per scenario run, as Markdown, printed and optionally appended to a file.

use std::io::Write;
use std::path::Path;

/// The figures of one run. `None` prints as "–" (not measured by this scenario).
#[derive(Debug, Default, Clone)]
pub struct Row {
    /// Scenario name.
    pub scenario: &'static str,
    /// `ws`, `quic` or `http`.
    pub transport: &'static str,
    /// The load, e.g. `2000 clients, 200×10, in 10 Hz`.
    pub load: String,
    /// Clients running at the end of the window, and how many were asked for.
    pub clients: (u64, u64),
    /// Server CPU, cores.
    pub cores: Option<f64>,
    /// Server RSS at the end of the window, MiB.
    pub rss_mib: Option<f64>,
    /// Server peak RSS, MiB.
    pub peak_mib: Option<f64>,
    /// Messages per second into the server.
    pub msgs_in: f64,
    /// Messages per second out of the server.
    pub msgs_out: f64,
    /// Bytes per second out of the server (application bytes).
    pub bytes_out: f64,
    /// Bytes per player (or entity) per state update.
    pub bytes_per_entry: Option<f64>,
    /// What the latency columns measure.
    pub latency_of: &'static str,
    /// Latency p50, p99, max in microseconds.
    pub latency: Option<(u64, u64, u64)>,
    /// Server tick p50 and p99 in microseconds (bucket upper bounds) and what ticked.
    pub tick: Option<(&'static str, u64, u64)>,
    /// Clients that never got going.
    pub failures: u64,
    /// Established clients lost, and error frames.
    pub drops: u64,
    /// Error frames received.
    pub errors: u64,
}

const HEADER: &str = "| scenario | wire | load | clients ok | server cores | RSS MiB (peak) | msg/s in | msg/s out | KiB/s out | B/player/update | latency p50 / p99 / max ms | tick p50 / p99 ms | failed | drops | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.0}")
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "–".to_owned(), f)
}

impl Row {
    /// The Markdown row.
    pub fn markdown(&self) -> String {
        let memory = match (self.rss_mib, self.peak_mib) {
            (Some(r), Some(p)) => format!("{r:.0} ({p:.0})"),
            (Some(r), None) => format!("{r:.0}"),
            _ => "–".into(),
        };
        let latency = opt(self.latency, |(p50, p99, max)| {
            format!(
                "{}: {} / {} / {}",
                self.latency_of,
                ms(p50),
                ms(p99),
                ms(max)
            )
        });
        let tick = opt(self.tick, |(what, p50, p99)| {
            format!("{what}: ≤{} / ≤{}", ms(p50), ms(p99))
        });
        format!(
            "| {} | {} | {} | {} / {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} |",
            self.scenario,
            self.transport,
            self.load,
            self.clients.0,
            self.clients.1,
            opt(self.cores, |c| format!("{c:.3}")),
            memory,
            self.msgs_in,
            self.msgs_out,
            self.bytes_out / 1024.0,
            opt(self.bytes_per_entry, |b| format!("{b:.1}")),
            latency,
            tick,
            self.failures,
            self.drops,
            self.errors,
        )
    }

    /// What kept the run from being complete: clients missing at the end, setup failures,
    /// drops, error frames, or no latency sample where the scenario measures one.
    pub fn shortfall(&self) -> Option<String> {
        let (live, asked) = self.clients;
        if live < asked {
            Some(format!("{live} of {asked} clients running at the end"))
        } else if self.failures + self.drops + self.errors > 0 {
            Some(format!(
                "{} failed, {} dropped, {} error frames",
                self.failures, self.drops, self.errors
            ))
        } else if !self.latency_of.is_empty() && self.latency.is_none() {
            Some(format!("no {} latency sample", self.latency_of))
        } else {
            None
        }
    }

    /// Prints the row (with the header) and appends it to `table` when given, writing the
    /// header first if the file is new.
    pub fn emit(&self, table: Option<&Path>) -> std::io::Result<()> {
        println!("{HEADER}\n{}", self.markdown());
        if let Some(path) = table {
            let fresh = !path.exists();
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            if fresh {
                writeln!(f, "{HEADER}")?;
            }
            writeln!(f, "{}", self.markdown())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_has_one_cell_per_header_column() {
        let row = Row {
            scenario: "rooms",
            transport: "ws",
            load: "2000 clients".into(),
            latency_of: "input→state",
            latency: Some((1500, 12_000, 40_000)),
            tick: Some(("match", 100, 250)),
            ..Row::default()
        };
        let cells = |s: &str| s.matches('|').count();
        let header_line = HEADER.lines().next().unwrap();
        assert_eq!(cells(&row.markdown()), cells(header_line));
        assert!(row.markdown().contains("input→state: 1.50 / 12 / 40"));
        assert!(
            row.markdown().contains("| – |"),
            "unmeasured cells show a dash"
        );
    }
}
