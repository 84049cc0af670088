// noise.wgsl — the learner's random draws (`runners::Noise::sample`, its CPU twin and specification).
//
// Output: out f32 [rows, count], row-major. Row r is what the r-th successive `Noise::sample(kind, count)` call
// returns: its draws start at counter p.counter + r · p.row_stride, where row_stride = count (uniform) or
// 2·ceil(count / 2) (normal: one pair of uniforms per two normals).
// Threads: one per output value, 64 per workgroup (2-D grid past 65535 groups).
// Equation: u(c) = ((draw(key, c) >> 8) + 0.5) · 2⁻²⁴ ∈ (0, 1);
//   uniform: out[r, j] = u(base + j);
//   normal (Box–Muller): with k = j / 2, u = u(base + 2k), v = u(base + 2k + 1), ρ = sqrt(-2 ln u),
//   out[r, j] = ρ · cos(2πv) for even j, ρ · sin(2πv) for odd j.
// Prepended: `rng.wgsl` (draw).

struct Params {
    key: u32,
    counter: u32,
    count: u32,
    rows: u32,
    row_stride: u32,
    normal: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

fn open_unit(bits: u32) -> f32 {
    return (f32(bits >> 8u) + 0.5) * (1.0 / 16777216.0);
}

@compute @workgroup_size(64)
fn noise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if i >= p.count * p.rows {
        return;
    }
    let r = i / p.count;
    let j = i % p.count;
    let base = p.counter + r * p.row_stride;
    if p.normal == 0u {
        out[i] = open_unit(draw(p.key, base + j));
        return;
    }
    let k = j / 2u;
    let u = open_unit(draw(p.key, base + 2u * k));
    let v = open_unit(draw(p.key, base + 2u * k + 1u));
    let rho = sqrt(-2.0 * log(u));
    let angle = 6.283185307179586 * v;
    if (j & 1u) == 0u {
        out[i] = rho * cos(angle);
    } else {
        out[i] = rho * sin(angle);
    }
}
