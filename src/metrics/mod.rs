//! Metrics a person can watch: every iteration's result appended to `progress.jsonl` and `progress.csv` in the run
//! folder, and written as TensorBoard scalars under `tb/`.

pub mod tensorboard;
mod truncate;

pub use truncate::{truncate_logs, TruncateReport};

use crate::algo::TrainResult;
use crate::Error;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// The per-iteration logs of one run folder. Appends, so a resumed run continues the same files (cut back to its
/// checkpoint first by [`truncate_logs`]).
pub struct RunLog {
    jsonl: File,
    csv: File,
    csv_columns: Option<Vec<String>>,
    tensorboard: tensorboard::EventWriter,
}

impl RunLog {
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let io = |what: &str, e: std::io::Error| Error::Io(format!("{what} in {}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(|e| io("creating the run folder", e))?;
        let append = |name: &str| OpenOptions::new().create(true).append(true).open(dir.join(name));
        let jsonl = append("progress.jsonl").map_err(|e| io("opening progress.jsonl", e))?;
        let csv_path = dir.join("progress.csv");
        // A resumed run keeps the existing header.
        let csv_columns = std::fs::read_to_string(&csv_path)
            .ok()
            .and_then(|text| text.lines().next().map(|h| h.split(',').map(str::to_string).collect()));
        let csv = append("progress.csv").map_err(|e| io("opening progress.csv", e))?;
        let tensorboard = tensorboard::EventWriter::create(&dir.join("tb")).map_err(|e| io("creating tb/", e))?;
        Ok(Self { jsonl, csv, csv_columns, tensorboard })
    }

    pub fn log(&mut self, result: &TrainResult) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Io(format!("writing the run logs: {e}"));
        // Each line goes out in one write, so a killed process leaves at most one partial line at the end.
        let mut line = serde_json::to_string(result).map_err(|e| Error::Io(e.to_string()))?;
        line.push('\n');
        self.jsonl.write_all(line.as_bytes()).map_err(io)?;
        let scalars = result.scalars();
        if self.csv_columns.is_none() {
            let header: Vec<String> = scalars.iter().map(|(k, _)| k.clone()).collect();
            self.csv.write_all(format!("{}\n", header.join(",")).as_bytes()).map_err(io)?;
            self.csv_columns = Some(header);
        }
        let columns = self.csv_columns.as_ref().expect("set above");
        let row: Vec<String> = columns
            .iter()
            .map(|c| match scalars.iter().find(|(k, _)| k == c) {
                Some((_, v)) if v.is_finite() => format!("{v}"),
                _ => String::new(),
            })
            .collect();
        self.csv.write_all(format!("{}\n", row.join(",")).as_bytes()).map_err(io)?;
        let step = result.num_env_steps_sampled_lifetime as i64;
        for (tag, value) in scalars.iter().filter(|(_, v)| v.is_finite()) {
            self.tensorboard.scalar(tag, step, *value as f32).map_err(io)?;
        }
        self.tensorboard.flush().map_err(io)?;
        self.jsonl.flush().map_err(io)?;
        self.csv.flush().map_err(io)
    }
}
