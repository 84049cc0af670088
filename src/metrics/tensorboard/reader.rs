//! Reading TensorBoard event files back: TFRecord framing with both CRCs checked, and the `Event` fields the
//! writer uses. Nothing here panics on damaged input: a record that is cut short or fails its CRC ends the valid
//! part of a file, and an undecodable payload is an error.

use super::{masked_crc32c, WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT};
use std::io;
use std::ops::Range;
use std::path::Path;

/// A decoded `tensorflow.Event` as [`super::EventWriter`] writes them.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Seconds since the Unix epoch.
    pub wall_time: f64,
    /// The step (field 2); `None` for the file-version event.
    pub step: Option<i64>,
    /// `brain.Event:2` on the first event of a file.
    pub file_version: Option<String>,
    /// `(tag, simple_value)` of every `Summary.Value`.
    pub values: Vec<(String, f32)>,
}

/// The records of an event file: every whole, CRC-valid record up to the first that is cut short or damaged,
/// and the length of that valid prefix.
pub struct Records {
    pub records: Vec<Record>,
    pub valid_len: usize,
}

/// One record's place in its file.
pub struct Record {
    /// The whole record: length, its CRC, payload, the payload's CRC.
    pub framed: Range<usize>,
    /// The payload (an `Event`).
    pub payload: Range<usize>,
}

/// Splits `bytes` into TFRecords (length `u64` LE, masked CRC32C of the length, payload, masked CRC32C of the
/// payload), stopping at the first record that is incomplete or fails a CRC.
pub fn records(bytes: &[u8]) -> Records {
    let mut found = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + 12) {
        let (len_bytes, len_crc) = header.split_at(8);
        if u32::from_le_bytes(len_crc.try_into().expect("4 bytes")) != masked_crc32c(len_bytes) {
            break;
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let Some(end) = usize::try_from(len).ok().and_then(|l| (at + 12).checked_add(l)) else { break };
        let (Some(payload), Some(crc)) = (bytes.get(at + 12..end), bytes.get(end..end + 4)) else { break };
        if u32::from_le_bytes(crc.try_into().expect("4 bytes")) != masked_crc32c(payload) {
            break;
        }
        found.push(Record { framed: at..end + 4, payload: at + 12..end });
        at = end + 4;
    }
    Records { records: found, valid_len: at }
}

/// Reads every event of the file at `path`; a damaged or cut-short record is an error naming its offset.
pub fn read_events(path: &Path) -> io::Result<Vec<Event>> {
    let bytes = std::fs::read(path)?;
    let records = records(&bytes);
    if records.valid_len != bytes.len() {
        return Err(invalid(format!(
            "{}: the record at byte {} is cut short or damaged",
            path.display(),
            records.valid_len
        )));
    }
    records.records.into_iter().map(|r| decode_event(&bytes[r.payload])).collect()
}

/// Decodes one `Event` payload.
pub fn decode_event(bytes: &[u8]) -> io::Result<Event> {
    let mut event = Event { wall_time: 0.0, step: None, file_version: None, values: Vec::new() };
    for field in Fields(bytes) {
        match field? {
            (1, Field::Fixed64(b)) => event.wall_time = f64::from_le_bytes(b),
            (2, Field::Varint(v)) => event.step = Some(v as i64),
            (3, Field::Len(s)) => event.file_version = Some(utf8(s)?),
            (5, Field::Len(summary)) => {
                for value in Fields(summary) {
                    let (1, Field::Len(value)) = value? else { return Err(invalid("unexpected Summary field")) };
                    let (mut tag, mut simple) = (None, None);
                    for field in Fields(value) {
                        match field? {
                            (1, Field::Len(s)) => tag = Some(utf8(s)?),
                            (2, Field::Fixed32(b)) => simple = Some(f32::from_le_bytes(b)),
                            _ => return Err(invalid("unexpected Summary.Value field")),
                        }
                    }
                    match (tag, simple) {
                        (Some(tag), Some(simple)) => event.values.push((tag, simple)),
                        _ => return Err(invalid("a Summary.Value without tag or simple_value")),
                    }
                }
            }
            // Fields this writer never sets are skipped, as protobuf readers do.
            _ => {}
        }
    }
    Ok(event)
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn utf8(bytes: &[u8]) -> io::Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| invalid("a string field is not UTF-8"))
}

enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Len(&'a [u8]),
    Fixed32([u8; 4]),
}

/// The `(field number, value)` pairs of one protobuf message.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn varint(&mut self) -> io::Result<u64> {
        let mut v = 0u64;
        for (i, &b) in self.0.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Ok(v);
            }
        }
        Err(invalid("a varint is cut short"))
    }

    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if n > self.0.len() {
            return Err(invalid("a field is cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn field(&mut self) -> io::Result<(u64, Field<'a>)> {
        let key = self.varint()?;
        let value = match (key & 7) as u8 {
            WIRE_VARINT => Field::Varint(self.varint()?),
            WIRE_FIXED64 => Field::Fixed64(self.take(8)?.try_into().expect("8 bytes")),
            WIRE_LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| invalid("a length is too large"))?;
                Field::Len(self.take(len)?)
            }
            WIRE_FIXED32 => Field::Fixed32(self.take(4)?.try_into().expect("4 bytes")),
            wire => return Err(invalid(format!("unexpected wire type {wire}"))),
        };
        Ok((key >> 3, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = io::Result<(u64, Field<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.0 = &[];
        }
        Some(field)
    }
}
