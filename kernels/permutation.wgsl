// permutation.wgsl — a keyed pseudo-random permutation of 0..n (`runners::Noise::permutation`, its CPU twin and
// specification), for shuffling minibatches on the device.
//
// Output: out u32 [n]: out[i] = π(i), a bijection of 0..n.
// Threads: one per index, 64 per workgroup (2-D grid past 65535 groups).
// Equation: a 4-round Feistel network on 2h-bit words (h = p.half_bits, 2h ≥ log2 n), halves (L, R):
//   (L, R) ← (R, L ⊕ (draw(key, (round << 16) | R) & (2^h - 1))), round = 0..3;
//   π(i) = the first value below n on the cycle i → F(i) → F(F(i)) → … (cycle walking; 2^(2h) < 4n, so a walk
//   takes under 4 rounds of F on average and always ends, since i itself is below n).
// Prepended: `rng.wgsl` (draw).

struct Params {
    key: u32,
    n: u32,
    half_bits: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

fn feistel(x: u32) -> u32 {
    let mask = (1u << p.half_bits) - 1u;
    var l = x >> p.half_bits;
    var r = x & mask;
    for (var round = 0u; round < 4u; round++) {
        let f = draw(p.key, (round << 16u) | r) & mask;
        let next = l ^ f;
        l = r;
        r = next;
    }
    return (l << p.half_bits) | r;
}

@compute @workgroup_size(64)
fn permutation(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if i >= p.n {
        return;
    }
    var x = feistel(i);
    while x >= p.n {
        x = feistel(x);
    }
    out[i] = x;
}
