//! Area interpolation of a u8 image, as OpenCV's `resize(..., INTER_AREA)` computes it when shrinking by a
//! non-integer factor (the 210×160 → 84×84 of Atari preprocessing).
//!
//! Each output pixel is the mean of the source rectangle it covers, `[x·sx, (x+1)·sx) × [y·sy, (y+1)·sy)` with
//! `sx = w_in / w_out`, `sy = h_in / h_out`; a source pixel partly inside counts with the covered fraction.
//! The sum runs in f32 and rounds to nearest, ties to even, like OpenCV's `saturate_cast<uchar>`.

/// One output coordinate's source taps: `(source index, weight)`, weights summing to 1.
type Taps = Vec<Vec<(usize, f32)>>;

/// A precomputed resize of `channels`-channel images from `(h_in, w_in)` to `(h_out, w_out)`.
#[derive(Clone, Debug)]
pub struct AreaResize {
    h_in: usize,
    w_in: usize,
    channels: usize,
    rows: Taps,
    cols: Taps,
}

impl AreaResize {
    pub fn new((h_in, w_in): (usize, usize), (h_out, w_out): (usize, usize), channels: usize) -> AreaResize {
        assert!(h_out > 0 && w_out > 0 && h_out <= h_in && w_out <= w_in, "area resize only shrinks");
        AreaResize { h_in, w_in, channels, rows: taps(h_in, h_out), cols: taps(w_in, w_out) }
    }

    /// Output bytes per image.
    pub fn output_len(&self) -> usize {
        self.rows.len() * self.cols.len() * self.channels
    }

    /// Resizes `src` (`h_in × w_in × channels`, row-major) into `dst` (`h_out × w_out × channels`).
    pub fn apply(&self, src: &[u8], dst: &mut [u8]) {
        let c = self.channels;
        assert_eq!(src.len(), self.h_in * self.w_in * c, "resize input length");
        assert_eq!(dst.len(), self.output_len(), "resize output length");
        let mut row_sum = vec![0f32; self.w_in * c];
        for (y, row_taps) in self.rows.iter().enumerate() {
            row_sum.iter_mut().for_each(|v| *v = 0.0);
            for &(sy, wy) in row_taps {
                let line = &src[sy * self.w_in * c..(sy + 1) * self.w_in * c];
                for (acc, &px) in row_sum.iter_mut().zip(line) {
                    *acc += wy * px as f32;
                }
            }
            let out = &mut dst[y * self.cols.len() * c..(y + 1) * self.cols.len() * c];
            for (x, col_taps) in self.cols.iter().enumerate() {
                for ch in 0..c {
                    let v: f32 = col_taps.iter().map(|&(sx, wx)| wx * row_sum[sx * c + ch]).sum();
                    out[x * c + ch] = v.round_ties_even().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
}

/// OpenCV's area table along one axis: source cells covered by `[d·scale, (d+1)·scale)`.
fn taps(n_in: usize, n_out: usize) -> Taps {
    let scale = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|d| {
            let f1 = d as f64 * scale;
            let f2 = f1 + scale;
            let cell = scale.min(n_in as f64 - f1);
            let (s1, s2) = (f1.ceil() as usize, (f2.floor() as usize).min(n_in));
            let mut t = Vec::new();
            if s1 as f64 - f1 > 1e-3 {
                t.push((s1 - 1, ((s1 as f64 - f1) / cell) as f32));
            }
            for s in s1..s2 {
                t.push((s, (1.0 / cell) as f32));
            }
            if f2 - s2 as f64 > 1e-3 && s2 < n_in {
                t.push((s2, ((f2 - s2 as f64).min(1.0).min(cell) / cell) as f32));
            }
            t
        })
        .collect()
}

/// `dst[i] = max(a[i], b[i])`.
pub fn max_pool(a: &[u8], b: &[u8], dst: &mut [u8]) {
    for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
        *d = x.max(y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_cover_each_output_cell_once() {
        for (n_in, n_out) in [(210, 84), (160, 84), (7, 3), (10, 10)] {
            for t in taps(n_in, n_out) {
                let total: f32 = t.iter().map(|x| x.1).sum();
                assert!((total - 1.0).abs() < 1e-5, "{n_in}->{n_out}: {t:?}");
            }
        }
    }

    #[test]
    fn constant_images_stay_constant_and_means_are_exact() {
        let r = AreaResize::new((210, 160), (84, 84), 1);
        let src = vec![77u8; 210 * 160];
        let mut dst = vec![0u8; 84 * 84];
        r.apply(&src, &mut dst);
        assert!(dst.iter().all(|&v| v == 77));
        // 4 → 2 along both axes: every output is the mean of a 2×2 block.
        let r = AreaResize::new((4, 4), (2, 2), 1);
        let src: Vec<u8> = (0..16).map(|i| (i * 10) as u8).collect();
        let mut dst = vec![0u8; 4];
        r.apply(&src, &mut dst);
        assert_eq!(dst, vec![25, 45, 105, 125]);
    }
}
