//! Cutting a run folder's logs back to a checkpoint before a resumed run appends to them, so every iteration is
//! logged exactly once however the previous process ended (a crash or a kill between checkpoints, or in the middle
//! of a write).
//!
//! - `progress.jsonl`: lines whose `training_iteration` is at most the checkpoint's are kept.
//! - `progress.csv`: the header and the rows whose `training_iteration` column is at most the checkpoint's.
//! - `tb/*`: the records whose step (env steps sampled) is at most the checkpoint's, and records without a step.
//!
//! A line or record cut short or unreadable is dropped. A file that changes is rewritten atomically (a temporary
//! file, synced, then renamed over it).

use super::tensorboard;
use crate::Error;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

/// What [`truncate_logs`] dropped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TruncateReport {
    /// The checkpoint's iteration the logs were cut back to.
    pub iteration: u64,
    /// Lines of `progress.jsonl` after the checkpoint.
    pub jsonl_lines: usize,
    /// Rows of `progress.csv` after the checkpoint.
    pub csv_rows: usize,
    /// TensorBoard records after the checkpoint.
    pub tensorboard_records: usize,
    /// Lines and records cut short or unreadable (a write the previous process did not finish).
    pub damaged: usize,
}

impl TruncateReport {
    pub fn is_empty(&self) -> bool {
        self.jsonl_lines + self.csv_rows + self.tensorboard_records + self.damaged == 0
    }
}

impl fmt::Display for TruncateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dropped what was logged after the checkpoint's iteration {}: {} line(s) of progress.jsonl, {} row(s) of \
             progress.csv, {} TensorBoard record(s)",
            self.iteration, self.jsonl_lines, self.csv_rows, self.tensorboard_records
        )?;
        if self.damaged > 0 {
            write!(f, "; and {} line(s) or record(s) cut short or unreadable", self.damaged)?;
        }
        Ok(())
    }
}

/// Cuts the logs in run folder `dir` back to the checkpoint at `iteration` with `env_steps` sampled.
pub fn truncate_logs(dir: &Path, iteration: u64, env_steps: u64) -> Result<TruncateReport, Error> {
    let mut report = TruncateReport { iteration, ..TruncateReport::default() };
    let jsonl = dir.join("progress.jsonl");
    if let Some(bytes) = read(&jsonl)? {
        let (kept, dropped, damaged) = keep_jsonl(&bytes, iteration);
        report.jsonl_lines = dropped;
        report.damaged += damaged;
        replace_if_changed(&jsonl, &bytes, &kept)?;
    }
    let csv = dir.join("progress.csv");
    if let Some(bytes) = read(&csv)? {
        let (kept, dropped, damaged) = keep_csv(&bytes, iteration);
        report.csv_rows = dropped;
        report.damaged += damaged;
        replace_if_changed(&csv, &bytes, &kept)?;
    }
    let tb = dir.join("tb");
    if tb.is_dir() {
        let entries = fs::read_dir(&tb).map_err(|e| io_error("listing", &tb, &e))?;
        for entry in entries {
            let path = entry.map_err(|e| io_error("listing", &tb, &e))?.path();
            if !path.is_file() || !is_event_file(&path) {
                continue;
            }
            let Some(bytes) = read(&path)? else { continue };
            let (kept, dropped, damaged) = keep_events(&bytes, env_steps);
            report.tensorboard_records += dropped;
            report.damaged += damaged;
            replace_if_changed(&path, &bytes, &kept)?;
        }
    }
    Ok(report)
}

/// What a file keeps of its lines or records, and the counts of those it drops.
struct Cut {
    kept: Vec<u8>,
    /// Logged after the checkpoint.
    dropped: usize,
    /// Cut short or unreadable.
    damaged: usize,
}

impl Cut {
    fn new(capacity: usize) -> Self {
        Cut { kept: Vec::with_capacity(capacity), dropped: 0, damaged: 0 }
    }

    /// Keeps the bytes `parts` make up when `keep` says so, else counts them as dropped; `None` (unreadable)
    /// counts them as damaged.
    fn sort(&mut self, parts: &[&[u8]], keep: Option<bool>) {
        match keep {
            Some(true) => parts.iter().for_each(|part| self.kept.extend_from_slice(part)),
            Some(false) => self.dropped += 1,
            None => self.damaged += 1,
        }
    }

    fn into_parts(self) -> (Vec<u8>, usize, usize) {
        (self.kept, self.dropped, self.damaged)
    }
}

/// `(kept bytes, lines after the checkpoint, lines cut short or unreadable)`.
fn keep_jsonl(bytes: &[u8], iteration: u64) -> (Vec<u8>, usize, usize) {
    let mut cut = Cut::new(bytes.len());
    for (line, whole) in lines(bytes) {
        let parsed = whole
            .then(|| serde_json::from_slice::<serde_json::Value>(line).ok())
            .flatten()
            .and_then(|v| v.get("training_iteration").and_then(serde_json::Value::as_u64));
        cut.sort(&[line, b"\n"], parsed.map(|i| i <= iteration));
    }
    cut.into_parts()
}

/// `(kept bytes, rows after the checkpoint, rows cut short or unreadable)`; a header cut short empties the file
/// so the next run writes it anew.
fn keep_csv(bytes: &[u8], iteration: u64) -> (Vec<u8>, usize, usize) {
    let mut lines = lines(bytes);
    let Some((header, true)) = lines.next() else {
        let damaged = usize::from(!bytes.is_empty());
        return (Vec::new(), 0, damaged);
    };
    let columns = header.split(|&b| b == b',').count();
    let column = header.split(|&b| b == b',').position(|c| c == b"training_iteration");
    let mut cut = Cut::new(bytes.len());
    cut.sort(&[header, b"\n"], Some(true));
    for (row, whole) in lines {
        let cells: Vec<&[u8]> = row.split(|&b| b == b',').collect();
        let parsed = column
            .filter(|_| whole && cells.len() == columns)
            .and_then(|c| std::str::from_utf8(cells[c]).ok())
            .and_then(|cell| cell.parse::<u64>().ok());
        cut.sort(&[row, b"\n"], parsed.map(|i| i <= iteration));
    }
    cut.into_parts()
}

/// `(kept bytes, records after the checkpoint, records cut short or unreadable)`.
fn keep_events(bytes: &[u8], env_steps: u64) -> (Vec<u8>, usize, usize) {
    let records = tensorboard::records(bytes);
    let mut cut = Cut::new(records.valid_len);
    for record in records.records {
        let event = tensorboard::decode_event(&bytes[record.payload]).ok();
        cut.sort(&[&bytes[record.framed]], event.map(|e| e.step.is_none_or(|s| s <= env_steps as i64)));
    }
    if records.valid_len < bytes.len() {
        cut.damaged += 1;
    }
    cut.into_parts()
}

/// The lines of `bytes` without their `\n`, each with whether it was whole (ended by `\n`).
fn lines(bytes: &[u8]) -> impl Iterator<Item = (&[u8], bool)> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let line = &rest[..end];
                rest = &rest[end + 1..];
                Some((line, true))
            }
            None => Some((std::mem::take(&mut rest), false)),
        }
    })
}

fn is_event_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("events.out.tfevents."))
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("reading", path, &e)),
    }
}

/// Replaces `path` with `kept` atomically when it differs from `old`.
fn replace_if_changed(path: &Path, old: &[u8], kept: &[u8]) -> Result<(), Error> {
    if old == kept {
        return Ok(());
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("log");
    let tmp = path.with_file_name(format!("{name}.truncate-tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(kept)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        crate::checkpoint::sync_dir(path.parent().unwrap_or(Path::new(".")))
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error("cutting back", path, &e)
    })
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Io(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tensorboard::{read_events, EventWriter};

    fn unique_dir(name: &str) -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("myriad-{name}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn jsonl_line(i: u64) -> String {
        format!("{{\"training_iteration\":{i},\"num_env_steps_sampled_lifetime\":{}}}\n", i * 100)
    }

    #[test]
    fn jsonl_keeps_iterations_up_to_the_checkpoint_and_drops_partial_lines() {
        let mut text: String = (1..=5).map(jsonl_line).collect();
        text.push_str("{\"training_iteration\":6,\"num_en");
        let (kept, dropped, damaged) = keep_jsonl(text.as_bytes(), 3);
        assert_eq!(String::from_utf8(kept).unwrap(), (1..=3).map(jsonl_line).collect::<String>());
        assert_eq!((dropped, damaged), (2, 1));
        // A whole but corrupt line (a torn write from a crashed filesystem) is dropped, not kept.
        let text = format!("{}garbage\n{}", jsonl_line(1), jsonl_line(2));
        let (kept, dropped, damaged) = keep_jsonl(text.as_bytes(), 9);
        assert_eq!(String::from_utf8(kept).unwrap(), format!("{}{}", jsonl_line(1), jsonl_line(2)));
        assert_eq!((dropped, damaged), (0, 1));
    }

    #[test]
    fn csv_keeps_the_header_and_rows_up_to_the_checkpoint() {
        let header = "timers/training_iteration,training_iteration,loss\n";
        let rows: String = (1..=4).map(|i| format!("0.5,{i},{}\n", i as f64 / 10.0)).collect();
        let text = format!("{header}{rows}0.5,5");
        let (kept, dropped, damaged) = keep_csv(text.as_bytes(), 2);
        assert_eq!(String::from_utf8(kept).unwrap(), format!("{header}0.5,1,0.1\n0.5,2,0.2\n"));
        assert_eq!((dropped, damaged), (2, 1));
        // A header cut short: the file is emptied, so the next run writes a whole one.
        assert_eq!(keep_csv(b"timers/tra", 2), (Vec::new(), 0, 1));
        assert_eq!(keep_csv(b"", 2), (Vec::new(), 0, 0));
        // A row with a missing cell is damaged, not parsed from the wrong column.
        let (_, dropped, damaged) = keep_csv(format!("{header}7,1\n").as_bytes(), 9);
        assert_eq!((dropped, damaged), (0, 1));
    }

    #[test]
    fn event_files_keep_steps_up_to_the_checkpoint_and_drop_a_cut_record() {
        let dir = unique_dir("truncate-tb");
        let path = {
            let mut writer = EventWriter::create(&dir.join("tb")).unwrap();
            for step in 1..=5 {
                writer.scalar("a", step * 100, step as f32).unwrap();
                writer.scalar("b", step * 100, -(step as f32)).unwrap();
            }
            writer.flush().unwrap();
            writer.path().to_path_buf()
        };
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        fs::write(dir.join("progress.jsonl"), (1..=5).map(jsonl_line).collect::<String>()).unwrap();

        let report = truncate_logs(&dir, 3, 300).unwrap();
        assert_eq!(
            report,
            TruncateReport { iteration: 3, jsonl_lines: 2, csv_rows: 0, tensorboard_records: 3, damaged: 1 }
        );
        assert!(report.to_string().contains("dropped"), "{report}");
        let events = read_events(&path).unwrap();
        assert_eq!(events[0].step, None);
        let steps: Vec<i64> = events[1..].iter().map(|e| e.step.unwrap()).collect();
        assert_eq!(steps, vec![100, 100, 200, 200, 300, 300]);
        assert_eq!(
            fs::read_to_string(dir.join("progress.jsonl")).unwrap(),
            (1..=3).map(jsonl_line).collect::<String>()
        );
        // Cutting again changes nothing; no temporary file is left behind.
        assert!(truncate_logs(&dir, 3, 300).unwrap().is_empty());
        let names: Vec<String> =
            fs::read_dir(dir.join("tb")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_without_logs_is_left_alone() {
        let dir = unique_dir("truncate-empty");
        assert!(truncate_logs(&dir, 7, 700).unwrap().is_empty());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
