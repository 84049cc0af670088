//! TensorBoard event files with scalar summaries, written without dependencies.
//!
//! An event file is a sequence of TFRecords. Each record is the payload length as a little-endian `u64`, the
//! masked CRC32C of those 8 bytes (`u32` LE), the payload, and the masked CRC32C of the payload (`u32` LE).
//! Every payload is a protobuf `tensorflow.Event`. The first one carries `wall_time` (field 1, double) and
//! `file_version = "brain.Event:2"` (field 3); each scalar is an event with `wall_time`, `step` (field 2, int64)
//! and a `summary` (field 5) holding one `Summary.Value` with `tag` (field 1) and `simple_value` (field 2, float).

mod reader;

pub use reader::{decode_event, read_events, records, Event, Record, Records};

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes scalar summaries to one TensorBoard event file.
///
/// Records are buffered; call [`EventWriter::flush`] to make them visible to a running TensorBoard. Dropping the
/// writer flushes what is left, ignoring errors.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
    buf: Vec<u8>,
}

impl EventWriter {
    /// Creates `dir` if missing and a new file `events.out.tfevents.<unix secs>.<hostname>` in it (the host name
    /// falls back to `myriad`), and writes the file-version event.
    pub fn create(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let base = format!("events.out.tfevents.{secs}.{}", hostname());
        let (file, path) = create_unique(dir, &base)?;
        let mut writer = Self { out: BufWriter::new(file), path, buf: Vec::with_capacity(128) };
        put_double(&mut writer.buf, 1, wall_time());
        put_bytes(&mut writer.buf, 3, b"brain.Event:2");
        writer.write_record()?;
        writer.flush()?;
        Ok(writer)
    }

    /// The path of the event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the scalar `value` under `tag` at `step`.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f32) -> io::Result<()> {
        let mut summary_value = Vec::with_capacity(tag.len() + 8);
        put_bytes(&mut summary_value, 1, tag.as_bytes());
        put_float(&mut summary_value, 2, value);
        let mut summary = Vec::with_capacity(summary_value.len() + 4);
        put_bytes(&mut summary, 1, &summary_value);

        self.buf.clear();
        put_double(&mut self.buf, 1, wall_time());
        put_varint_field(&mut self.buf, 2, step as u64);
        put_bytes(&mut self.buf, 5, &summary);
        self.write_record()
    }

    /// Writes buffered records through to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Frames `self.buf` as one TFRecord.
    fn write_record(&mut self) -> io::Result<()> {
        let len = (self.buf.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc32c(&len).to_le_bytes())?;
        self.out.write_all(&self.buf)?;
        self.out.write_all(&masked_crc32c(&self.buf).to_le_bytes())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// Creates `dir/base`, or `dir/base.1`, `dir/base.2`, … when that exists (two writers started in the same second).
fn create_unique(dir: &Path, base: &str) -> io::Result<(File, PathBuf)> {
    let mut n = 0u32;
    loop {
        let path = if n == 0 { dir.join(base) } else { dir.join(format!("{base}.{n}")) };
        match File::options().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Seconds since the Unix epoch.
fn wall_time() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The host name from `HOSTNAME` or `/etc/hostname`, reduced to characters safe in a file name; `myriad` if none.
fn hostname() -> String {
    let raw = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let name: String =
        raw.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    if name.is_empty() {
        "myriad".to_string()
    } else {
        name
    }
}

// Protobuf encoding.

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, WIRE_VARINT);
    put_varint(out, v);
}

fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_key(out, field, WIRE_FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_float(out: &mut Vec<u8>, field: u32, v: f32) {
    put_key(out, field, WIRE_FIXED32);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, WIRE_LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

// CRC32C (Castagnoli), as TFRecord uses it.

const CRC32C_TABLE: [u32; 256] = crc32c_table();

const fn crc32c_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC32C_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xA282_EAD8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_vectors() {
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    }

    fn unique_dir(name: &str) -> PathBuf {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        std::env::temp_dir().join(format!("myriad-{name}-{}-{nanos}", std::process::id()))
    }

    #[test]
    fn round_trip() {
        let dir = unique_dir("tensorboard");
        let long_tag = "a/very/long/tag/".repeat(20);
        let written: Vec<(&str, i64, f32)> = vec![
            ("train/loss", 0, 1.5),
            ("train/return", 0, -200.25),
            ("train/loss", 1000, 0.125),
            ("eval/return", -3, f32::MAX),
            (&long_tag, 1 << 40, 1e-30),
        ];
        let path = {
            let mut writer = EventWriter::create(&dir).unwrap();
            for &(tag, step, value) in &written {
                writer.scalar(tag, step, value).unwrap();
            }
            writer.flush().unwrap();
            writer.path().to_path_buf()
        };
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with("events.out.tfevents."), "{name}");

        let events = read_events(&path).unwrap();
        assert_eq!(events.len(), written.len() + 1);
        assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
        assert!(events[0].wall_time > 1.0e9);
        assert!(events[0].values.is_empty());
        assert_eq!(events[0].step, None);
        for (event, &(tag, step, value)) in events[1..].iter().zip(&written) {
            assert!(event.wall_time >= events[0].wall_time);
            assert_eq!(event.step, Some(step));
            assert_eq!(event.file_version, None);
            assert_eq!(event.values, vec![(tag.to_string(), value)]);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn create_makes_directories_and_never_overwrites() {
        let dir = unique_dir("tensorboard-nested");
        let nested = dir.join("a").join("b");
        let first = EventWriter::create(&nested).unwrap();
        let second = EventWriter::create(&nested).unwrap();
        assert!(first.path().starts_with(&nested));
        assert_ne!(first.path(), second.path());
        drop((first, second));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn damaged_files_are_cut_at_the_first_bad_record_and_never_panic() {
        let dir = unique_dir("tensorboard-damaged");
        let path = {
            let mut writer = EventWriter::create(&dir).unwrap();
            for step in 0..4 {
                writer.scalar("loss", step, step as f32).unwrap();
            }
            writer.flush().unwrap();
            writer.path().to_path_buf()
        };
        let bytes = fs::read(&path).unwrap();
        let whole = records(&bytes);
        assert_eq!(whole.records.len(), 5);
        assert_eq!(whole.valid_len, bytes.len());
        // Every cut and every flipped byte: the valid prefix is made of whole records, never past the damage.
        for cut in 0..bytes.len() {
            let r = records(&bytes[..cut]);
            assert!(r.valid_len <= cut);
            assert!(whole.records.iter().any(|w| w.framed.end == r.valid_len) || r.valid_len == 0);
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            let r = records(&damaged);
            assert!(r.valid_len <= at, "byte {at} flipped, {} bytes accepted", r.valid_len);
            for record in r.records {
                decode_event(&damaged[record.payload]).unwrap();
            }
        }
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = read_events(&path).unwrap_err().to_string();
        assert!(err.contains("cut short or damaged"), "{err}");
        // Garbage payloads decode to errors, not panics.
        for garbage in [&[0xFFu8; 11][..], &[0x2A, 0x05, 0x0A], &[0x0B], &[0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]] {
            assert!(decode_event(garbage).is_err(), "{garbage:?}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
