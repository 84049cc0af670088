//! Observation rows as they are stored on the device: f32 values, or u8 pixels packed 4 per `i32` word (the form
//! Atari frames cross to the device in, and replay keeps them in at a quarter of the f32 size): each row of
//! `bytes` bytes becomes `⌈bytes / 4⌉` little-endian words (the last one zero-padded), and on the device the
//! words are split into bytes with shifts and masks and scaled to [0, 1].

use burn::tensor::{Device, Int, Tensor};
use std::ops::Range;

/// `bytes` as little-endian words appended to `out`, each row of `row` bytes padded to whole words.
pub fn pack(bytes: &[u8], row: usize, out: &mut Vec<i32>) {
    for r in bytes.chunks_exact(row) {
        let mut chunks = r.chunks_exact(4);
        out.extend(chunks.by_ref().map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 4];
            last[..rest.len()].copy_from_slice(rest);
            out.push(i32::from_le_bytes(last));
        }
    }
}

/// Words → f32 bytes / 255, on the words' device.
///
/// # Shapes
/// - `words`: `[N, W]`, `W = ⌈dim / 4⌉`
/// - returns `[N, dim]`
pub fn unpack(words: Tensor<2, Int>, dim: usize) -> Tensor<2> {
    let [n, w] = words.dims();
    let bytes: Vec<Tensor<2, Int>> =
        (0..4).map(|k| words.clone().bitwise_right_shift_scalar(8 * k).bitwise_and_scalar(255)).collect();
    Tensor::stack::<3>(bytes, 2).reshape([n, 4 * w]).narrow(1, 0, dim).float().div_scalar(255.0)
}

/// How observations are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObsStorage {
    /// f32 rows of `dim` values.
    F32 { dim: usize },
    /// u8 rows of `bytes` pixels, packed 4 per i32 word.
    PackedU8 { bytes: usize },
}

impl ObsStorage {
    /// Columns of a stored row: values, or words.
    pub fn width(self) -> usize {
        match self {
            ObsStorage::F32 { dim } => dim,
            ObsStorage::PackedU8 { bytes } => bytes.div_ceil(4),
        }
    }
}

/// Observation rows as pushed and as stored.
#[derive(Clone, Debug)]
pub enum StoredObs {
    /// `[rows, dim]` f32.
    F32(Tensor<2>),
    /// `[rows, ⌈bytes/4⌉]` packed u8 pixels.
    Packed(Tensor<2, Int>),
}

impl StoredObs {
    /// Zero rows of `storage`.
    pub fn zeros(storage: ObsStorage, rows: usize, device: &Device) -> StoredObs {
        match storage {
            ObsStorage::F32 { dim } => StoredObs::F32(Tensor::zeros([rows, dim], device)),
            ObsStorage::PackedU8 { bytes } => StoredObs::Packed(Tensor::zeros([rows, bytes.div_ceil(4)], device)),
        }
    }

    /// `[rows, columns]`, whatever the kind.
    pub fn dims(&self) -> [usize; 2] {
        match self {
            StoredObs::F32(t) => t.dims(),
            StoredObs::Packed(t) => t.dims(),
        }
    }

    /// Whether these rows are of `storage`'s kind.
    pub fn is(&self, storage: ObsStorage) -> bool {
        matches!(
            (self, storage),
            (StoredObs::F32(_), ObsStorage::F32 { .. }) | (StoredObs::Packed(_), ObsStorage::PackedU8 { .. })
        )
    }

    /// Overwrites rows `rows` with `values` (same kind, `[rows.len(), columns]`), in place.
    ///
    /// # Panics
    /// If `values` is of the other kind.
    pub fn write(&mut self, rows: Range<usize>, values: StoredObs) {
        let columns = self.dims()[1];
        match (self, values) {
            (StoredObs::F32(c), StoredObs::F32(v)) => c.inplace(|c| c.slice_assign([rows, 0..columns], v)),
            (StoredObs::Packed(c), StoredObs::Packed(v)) => c.inplace(|c| c.slice_assign([rows, 0..columns], v)),
            _ => panic!("writing observation rows of another kind"),
        }
    }

    /// Rows `rows` as f32 `[B, dim]` (packed pixels unpacked to bytes / 255; `storage` gives their count).
    ///
    /// # Shapes
    /// - `rows`: `[B]`
    ///
    /// # Panics
    /// If these rows are not of `storage`'s kind.
    pub fn read(&self, rows: Tensor<1, Int>, storage: ObsStorage) -> Tensor<2> {
        match (self, storage) {
            (StoredObs::F32(t), ObsStorage::F32 { .. }) => t.clone().select(0, rows),
            (StoredObs::Packed(t), ObsStorage::PackedU8 { bytes }) => unpack(t.clone().select(0, rows), bytes),
            _ => panic!("reading observation rows as another kind"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn packed_frames_unpack_to_the_same_bytes() {
        let device = burn::tensor::Device::flex();
        for dim in [8usize, 7, 1, 13] {
            let bytes: Vec<u8> = (0..3 * dim).map(|i| (i * 97 % 256) as u8).collect();
            let mut words = Vec::new();
            pack(&bytes, dim, &mut words);
            let w = dim.div_ceil(4);
            assert_eq!(words.len(), 3 * w);
            let t = Tensor::<1, Int>::from_data(TensorData::new(words, [3 * w]), &device).reshape([3, w]);
            let got: Vec<f32> = unpack(t, dim).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
            let want: Vec<f32> = bytes.iter().map(|&b| b as f32 / 255.0).collect();
            assert_eq!(got, want, "dim {dim}");
        }
    }
}
