//! Area interpolation of a u8 image, as OpenCV's `resize(..., INTER_AREA)` computes it when shrinking by a
//! non-integer factor (the 210×160 → 84×84 of Atari preprocessing).
//!
//! Each output pixel is the mean of the source rectangle it covers, `[x·sx, (x+1)·sx) × [y·sy, (y+1)·sy)` with
//! `sx = w_in / w_out`, `sy = h_in / h_out`; a source pixel partly inside counts with the covered fraction.
//! The sum runs in f32 and rounds to nearest, ties to even, like OpenCV's `saturate_cast<uchar>`.

/// One axis' taps, flattened: output coordinate `d` reads source indices `index[start[d]..start[d + 1]]` with
/// the weights at the same positions (summing to 1).
#[derive(Clone, Debug)]
struct Axis {
    start: Vec<usize>,
    index: Vec<usize>,
    weight: Vec<f32>,
}

impl Axis {
    fn len(&self) -> usize {
        self.start.len() - 1
    }

    fn taps(&self, d: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let span = self.start[d]..self.start[d + 1];
        self.index[span.clone()].iter().copied().zip(self.weight[span].iter().copied())
    }
}

/// The column taps of every output value of a row (`w_out × channels` of them), padded to the same count
/// `taps`: tap `k` of output `o` reads `row[index[k·len + o]]` with `weight[k·len + o]`; padding taps have
/// weight 0 (adding `0·x` to a non-negative sum leaves it unchanged, so padding does not change any result).
#[derive(Clone, Debug)]
struct Columns {
    taps: usize,
    index: Vec<u32>,
    weight: Vec<f32>,
}

impl Columns {
    fn new(axis: &Axis, channels: usize) -> Columns {
        let len = axis.len() * channels;
        let taps = (0..axis.len()).map(|d| axis.start[d + 1] - axis.start[d]).max().unwrap_or(0);
        let mut columns = Columns { taps, index: vec![0; taps * len], weight: vec![0.0; taps * len] };
        for d in 0..axis.len() {
            for (k, (s, w)) in axis.taps(d).enumerate() {
                for ch in 0..channels {
                    let at = k * len + d * channels + ch;
                    columns.index[at] = (s * channels + ch) as u32;
                    columns.weight[at] = w;
                }
            }
        }
        columns
    }
}

/// A precomputed resize of `channels`-channel images from `(h_in, w_in)` to `(h_out, w_out)`.
#[derive(Clone, Debug)]
pub struct AreaResize {
    h_in: usize,
    w_in: usize,
    channels: usize,
    rows: Axis,
    cols: Columns,
    out_len: usize,
}

impl AreaResize {
    pub fn new((h_in, w_in): (usize, usize), (h_out, w_out): (usize, usize), channels: usize) -> AreaResize {
        assert!(h_out > 0 && w_out > 0 && h_out <= h_in && w_out <= w_in, "area resize only shrinks");
        let cols = Columns::new(&axis(w_in, w_out), channels);
        AreaResize { h_in, w_in, channels, rows: axis(h_in, h_out), cols, out_len: w_out * channels }
    }

    /// Output bytes per image.
    pub fn output_len(&self) -> usize {
        self.rows.len() * self.out_len
    }

    /// Resizes `src` (`h_in × w_in × channels`, row-major) into `dst` (`h_out × w_out × channels`).
    ///
    /// Rows first: each output row sums its source rows (weighted, in tap order) into a row of f32, then each
    /// output value sums its columns of that row (in tap order), one tap of the whole row at a time.
    pub fn apply(&self, src: &[u8], dst: &mut [u8]) {
        let line_len = self.w_in * self.channels;
        let out_len = self.out_len;
        assert_eq!(src.len(), self.h_in * line_len, "resize input length");
        assert_eq!(dst.len(), self.output_len(), "resize output length");
        let mut row_sum = vec![0f32; line_len];
        let mut out_sum = vec![0f32; out_len];
        for (y, out) in dst.chunks_exact_mut(out_len).enumerate() {
            row_sum.fill(0.0);
            for (sy, wy) in self.rows.taps(y) {
                let line = &src[sy * line_len..(sy + 1) * line_len];
                for (acc, &px) in row_sum.iter_mut().zip(line) {
                    *acc += wy * px as f32;
                }
            }
            out_sum.fill(0.0);
            for k in 0..self.cols.taps {
                let tap = k * out_len..(k + 1) * out_len;
                for ((acc, &i), &w) in out_sum.iter_mut().zip(&self.cols.index[tap.clone()]).zip(&self.cols.weight[tap])
                {
                    *acc += w * row_sum[i as usize];
                }
            }
            for (value, &v) in out.iter_mut().zip(&out_sum) {
                *value = round_ties_even(v).clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Rounds `0 <= v < 2^22` to the nearest integer, ties to even (OpenCV's `saturate_cast<uchar>`), without a
/// libm call: adding 1.5·2^23 leaves no fraction bits, so the addition itself rounds in the FPU's default
/// round-to-nearest-even mode.
#[inline]
fn round_ties_even(v: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    (v + SHIFT) - SHIFT
}

/// OpenCV's area table along one axis: source cells covered by `[d·scale, (d+1)·scale)`.
fn axis(n_in: usize, n_out: usize) -> Axis {
    let scale = n_in as f64 / n_out as f64;
    let mut axis = Axis { start: vec![0], index: Vec::new(), weight: Vec::new() };
    for d in 0..n_out {
        let f1 = d as f64 * scale;
        let f2 = f1 + scale;
        let cell = scale.min(n_in as f64 - f1);
        let (s1, s2) = (f1.ceil() as usize, (f2.floor() as usize).min(n_in));
        let mut tap = |s: usize, w: f64| {
            axis.index.push(s);
            axis.weight.push(w as f32);
        };
        if s1 as f64 - f1 > 1e-3 {
            tap(s1 - 1, (s1 as f64 - f1) / cell);
        }
        for s in s1..s2 {
            tap(s, 1.0 / cell);
        }
        if f2 - s2 as f64 > 1e-3 && s2 < n_in {
            tap(s2, (f2 - s2 as f64).min(1.0).min(cell) / cell);
        }
        axis.start.push(axis.index.len());
    }
    axis
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
            let a = axis(n_in, n_out);
            assert_eq!(a.len(), n_out);
            for d in 0..n_out {
                let total: f32 = a.taps(d).map(|x| x.1).sum();
                assert!((total - 1.0).abs() < 1e-5, "{n_in}->{n_out} at {d}: {:?}", a.taps(d).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_with_ties_to_even() {
        for v in [0.0f32, 0.49, 0.5, 1.5, 2.5, 2.51, 254.5, 255.49, 255.5, 100.000_01] {
            assert_eq!(round_ties_even(v), v.round_ties_even(), "{v}");
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
