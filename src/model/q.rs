//! Q networks of the DQN/Rainbow family: a [`Torso`] composed with a Q head shaped by RLlib's DQN `training`
//! keys ([`QHeadConfig`]):
//!
//! - `hiddens`: ReLU layers after the torso, per stream;
//! - `dueling` (Wang et al. 2016): a value stream V `[B, atoms]` and an advantage stream A `[B, A, atoms]`,
//!   combined as Q = V + A − mean_a A; with C51 the combination is on the per-atom logits, before the softmax,
//!   as in Rainbow (Hessel et al. 2018);
//! - `num_atoms > 1` (C51, Bellemare et al. 2017): a categorical return distribution over the support
//!   z = linspace(v_min, v_max, atoms), q = Σ_j z_j p_j;
//! - `noisy` (Fortunato et al. 2017): every head layer (hiddens and outputs, both streams) a [`NoisyLinear`];
//!   the torso stays plain. One [`HeadNoise`] holds a draw for all of them.

use super::noisy::{LayerNoise, NoisyLinear};
use super::torso::{iota, Torso};
use super::ModelConfig;
use crate::envs::spaces::Space;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The Q head's shape (RLlib's DQN `training` keys).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QHeadConfig {
    /// ReLU layers after the torso, in each stream.
    pub hiddens: Vec<usize>,
    /// Separate value and advantage streams.
    pub dueling: bool,
    /// Atoms of the return distribution: 1 = expected Q, more = C51.
    pub num_atoms: usize,
    /// Lowest atom of the C51 support.
    pub v_min: f64,
    /// Highest atom of the C51 support.
    pub v_max: f64,
    /// Noisy head layers instead of plain ones.
    pub noisy: bool,
    /// σ0 of the noisy layers' initial σ = σ0/√in.
    pub sigma0: f64,
    /// A LayerNorm after each torso layer (PQN, Gallici et al. 2024).
    pub layer_norm: bool,
}

impl Default for QHeadConfig {
    fn default() -> Self {
        Self {
            hiddens: vec![256],
            dueling: true,
            num_atoms: 1,
            v_min: -10.0,
            v_max: 10.0,
            noisy: false,
            sigma0: 0.5,
            layer_norm: false,
        }
    }
}

/// A head layer: plain, or noisy.
#[derive(Module, Debug)]
enum HeadLayer {
    Plain(Linear),
    Noisy(NoisyLinear),
}

impl HeadLayer {
    fn new(d_input: usize, d_output: usize, head: &QHeadConfig, device: &Device) -> HeadLayer {
        if head.noisy {
            HeadLayer::Noisy(NoisyLinear::new(d_input, d_output, head.sigma0, device))
        } else {
            HeadLayer::Plain(LinearConfig::new(d_input, d_output).init(device))
        }
    }

    /// `noise` is read by noisy layers only.
    fn forward(&self, x: Tensor<2>, noise: Option<&LayerNoise>) -> Tensor<2> {
        match self {
            HeadLayer::Plain(layer) => layer.forward(x),
            HeadLayer::Noisy(layer) => layer.forward(x, noise),
        }
    }
}

/// A stream of the head: `hiddens` ReLU layers, then the output layer.
#[derive(Module, Debug)]
struct Stream {
    layers: Vec<HeadLayer>,
}

impl Stream {
    fn new(d_input: usize, d_output: usize, head: &QHeadConfig, device: &Device) -> Stream {
        let mut widths = vec![d_input];
        widths.extend(&head.hiddens);
        widths.push(d_output);
        Stream { layers: widths.windows(2).map(|w| HeadLayer::new(w[0], w[1], head, device)).collect() }
    }

    /// `noise`: one entry per layer (noisy heads), or none.
    fn forward(&self, mut x: Tensor<2>, noise: Option<&[LayerNoise]>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        for (k, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x, noise.map(|n| &n[k]));
            if k < last {
                x = relu(x);
            }
        }
        x
    }
}

/// One draw of noise for every noisy layer of a [`QNetwork`]: the advantage stream's layers in order, then the
/// value stream's (dueling).
#[derive(Clone, Debug)]
pub struct HeadNoise {
    /// Per noisy layer, in the order above.
    pub layers: Vec<LayerNoise>,
}

impl HeadNoise {
    /// The draw from [`QNetwork::noise_size`] standard normals, on their device: per layer ε_in then ε_out, each
    /// through f(x) = sign(x)·√|x|.
    ///
    /// # Panics
    /// If `normals` does not hold `network.noise_size()` values.
    pub fn from_normals(normals: Tensor<1>, network: &QNetwork) -> HeadNoise {
        let sizes = network.noisy_sizes();
        let total: usize = sizes.iter().map(|(i, o)| i + o).sum();
        assert_eq!(normals.dims()[0], total, "this network's noise takes {total} normals");
        let mut offset = 0;
        let layers = sizes
            .into_iter()
            .map(|(d_in, d_out)| {
                let layer = LayerNoise::from_normals(normals.clone().narrow(0, offset, d_in + d_out), d_in, d_out);
                offset += d_in + d_out;
                layer
            })
            .collect();
        HeadNoise { layers }
    }
}

/// Q-values of a batch, and with C51 the return distributions behind them.
pub struct QOutput {
    /// `[B, A]`: Q(s, a) (C51: the expectation Σ_j z_j p_j).
    pub q: Tensor<2>,
    /// `[B, A, atoms]`: log p_j(s, a), with C51.
    pub log_probs: Option<Tensor<3>>,
}

/// A torso and a Q head (plain, dueling, C51, noisy, or any mix).
#[derive(Module, Debug)]
pub struct QNetwork {
    torso: Torso,
    /// `[B, A·atoms]`.
    advantage: Stream,
    /// Dueling: `[B, atoms]`.
    value: Option<Stream>,
    #[module(skip)]
    num_actions: usize,
    #[module(skip)]
    num_atoms: usize,
    #[module(skip)]
    v_min: f64,
    #[module(skip)]
    v_max: f64,
}

impl QNetwork {
    /// Checks the sizes and builds the network for `num_actions` discrete actions on `device`.
    pub fn new(
        model: &ModelConfig,
        head: &QHeadConfig,
        observation_space: &Space,
        num_actions: usize,
        device: &Device,
    ) -> Result<QNetwork, String> {
        if num_actions == 0 {
            return Err("a Q network needs at least one action".into());
        }
        if head.num_atoms == 0 {
            return Err("training.num_atoms must be at least 1".into());
        }
        let ordered = head.v_min < head.v_max; // false with a NaN too
        if head.num_atoms > 1 && !ordered {
            return Err(format!("training.v_min ({}) must be below v_max ({})", head.v_min, head.v_max));
        }
        if head.hiddens.contains(&0) {
            return Err(format!("training.hiddens must be positive sizes, got {:?}", head.hiddens));
        }
        if head.noisy && (head.sigma0.is_nan() || head.sigma0 < 0.0) {
            return Err(format!("training.sigma0 must be non-negative, got {}", head.sigma0));
        }
        let torso = Torso::new(model, observation_space, head.layer_norm, device)?;
        let width = torso.width();
        let advantage = Stream::new(width, num_actions * head.num_atoms, head, device);
        let value = head.dueling.then(|| Stream::new(width, head.num_atoms, head, device));
        Ok(QNetwork {
            torso,
            advantage,
            value,
            num_actions,
            num_atoms: head.num_atoms,
            v_min: head.v_min,
            v_max: head.v_max,
        })
    }

    /// Actions A.
    pub fn num_actions(&self) -> usize {
        self.num_actions
    }

    /// Atoms of the return distribution (1: expected Q).
    pub fn num_atoms(&self) -> usize {
        self.num_atoms
    }

    /// C51: the support z `[atoms]`, linspace(v_min, v_max, atoms), made on the network's device.
    pub fn support(&self) -> Option<Tensor<1>> {
        (self.num_atoms > 1).then(|| support(self.v_min, self.v_max, self.num_atoms, &self.devices()[0]))
    }

    /// Standard normals one [`HeadNoise`] takes (0 without noisy layers).
    pub fn noise_size(&self) -> usize {
        self.noisy_sizes().iter().map(|(i, o)| i + o).sum()
    }

    /// `(in, out)` of each noisy layer, in [`HeadNoise`]'s order.
    fn noisy_sizes(&self) -> Vec<(usize, usize)> {
        let streams = std::iter::once(&self.advantage).chain(&self.value);
        let layers = streams.flat_map(|s| &s.layers);
        layers
            .filter_map(|l| match l {
                HeadLayer::Noisy(n) => Some((n.d_input(), n.d_output())),
                HeadLayer::Plain(_) => None,
            })
            .collect()
    }

    /// Q-values under a draw of the head's noise (`None`: the noisy layers' mean weights, for greedy evaluation;
    /// plain networks ignore `noise`).
    ///
    /// # Shapes
    /// - `obs`: `[B, obs_dim]` as the env writes it
    /// - returns `q` `[B, A]` and, with C51, `log_probs` `[B, A, atoms]`
    ///
    /// # Panics
    /// If `noise` was drawn for a network of another shape.
    pub fn forward(&self, obs: Tensor<2>, noise: Option<&HeadNoise>) -> QOutput {
        let (actions, atoms) = (self.num_actions, self.num_atoms);
        let noise = noise.filter(|_| self.noise_size() > 0).map(|n| n.layers.as_slice());
        let split = self.advantage.layers.len();
        if let Some(layers) = noise {
            let expected = split + self.value.as_ref().map_or(0, |v| v.layers.len());
            assert_eq!(layers.len(), expected, "head noise for {} layers, this head has {expected}", layers.len());
        }
        let features = self.torso.forward(obs);
        let batch = features.dims()[0];
        let advantage = self.advantage.forward(features.clone(), noise.map(|n| &n[..split]));
        let mut logits = advantage.reshape([batch, actions, atoms]); // [B, A, atoms]
        if let Some(value) = &self.value {
            let v = value.forward(features, noise.map(|n| &n[split..])).unsqueeze_dim::<3>(1); // [B, 1, atoms]
            let mean = logits.clone().mean_dim(1); // [B, 1, atoms]
            logits = logits - mean + v;
        }
        if atoms == 1 {
            return QOutput { q: logits.reshape([batch, actions]), log_probs: None };
        }
        let log_probs = log_softmax(logits, 2);
        let z = support(self.v_min, self.v_max, atoms, &log_probs.device()).reshape([1, 1, atoms]);
        let q = (log_probs.clone().exp() * z).sum_dim(2).reshape([batch, actions]);
        QOutput { q, log_probs: Some(log_probs) }
    }
}

/// linspace(v_min, v_max, atoms) on `device`, `atoms` ≥ 2.
fn support(v_min: f64, v_max: f64, atoms: usize, device: &Device) -> Tensor<1> {
    iota(atoms, device).mul_scalar((v_max - v_min) / (atoms - 1) as f64).add_scalar(v_min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::{Noise, NoiseKind};
    use burn::tensor::TensorData;

    fn host<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.into_data().try_into_vec::<f32>().unwrap()
    }

    fn boxed(dim: usize) -> Space {
        Space::Box { low: vec![-1.0; dim], high: vec![1.0; dim], shape: vec![dim] }
    }

    fn random(shape: [usize; 2], seed: u64, device: &Device) -> Tensor<2> {
        let values = Noise::new(seed, 0).sample(NoiseKind::Normal, shape[0] * shape[1]);
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn small() -> ModelConfig {
        ModelConfig { fcnet_hiddens: vec![6], ..ModelConfig::default() }
    }

    /// The two streams' raw outputs, host-side: (advantages `[B·A·atoms]`, values `[B·atoms]`).
    fn streams(net: &QNetwork, obs: Tensor<2>, noise: Option<&HeadNoise>) -> (Vec<f32>, Vec<f32>) {
        let features = net.torso.forward(obs);
        let layers = noise.map(|n| n.layers.as_slice());
        let split = net.advantage.layers.len();
        let a = net.advantage.forward(features.clone(), layers.map(|l| &l[..split]));
        let v = net.value.as_ref().unwrap().forward(features, layers.map(|l| &l[split..]));
        (host(a), host(v))
    }

    #[test]
    fn dueling_q_is_value_plus_centred_advantage() {
        let device = Device::flex();
        let head = QHeadConfig { hiddens: vec![8], ..QHeadConfig::default() };
        let net = QNetwork::new(&small(), &head, &boxed(4), 3, &device).unwrap();
        let obs = random([5, 4], 1, &device);
        let q = host(net.forward(obs.clone(), None).q);
        let (a, v) = streams(&net, obs, None);
        for b in 0..5 {
            let row = &a[b * 3..b * 3 + 3];
            let mean_a = row.iter().sum::<f32>() / 3.0;
            let q_minus_v: Vec<f32> = (0..3).map(|k| q[b * 3 + k] - v[b]).collect();
            assert!(q_minus_v.iter().sum::<f32>().abs() < 1e-5, "Q − V has zero mean over actions");
            for k in 0..3 {
                assert!((q_minus_v[k] - (row[k] - mean_a)).abs() < 1e-5, "Q − V = A − mean A");
            }
        }
    }

    #[test]
    fn c51_q_is_the_expectation_over_the_support() {
        let device = Device::flex();
        let (actions, atoms) = (2usize, 5usize);
        let head =
            QHeadConfig { hiddens: vec![7], num_atoms: atoms, v_min: -2.0, v_max: 6.0, ..QHeadConfig::default() };
        let net = QNetwork::new(&small(), &head, &boxed(3), actions, &device).unwrap();
        assert_eq!(host(net.support().unwrap()), [-2.0, 0.0, 2.0, 4.0, 6.0]);
        let obs = random([4, 3], 2, &device);
        let out = net.forward(obs.clone(), None);
        let (q, log_probs) = (host(out.q), host(out.log_probs.unwrap()));
        let (a, v) = streams(&net, obs, None);
        let z = [-2.0f32, 0.0, 2.0, 4.0, 6.0];
        for b in 0..4 {
            for k in 0..actions {
                // Rainbow: the dueling combination on the logits, then the softmax over atoms
                let logits: Vec<f32> = (0..atoms)
                    .map(|j| {
                        let mean: f32 =
                            (0..actions).map(|m| a[(b * actions + m) * atoms + j]).sum::<f32>() / actions as f32;
                        v[b * atoms + j] + a[(b * actions + k) * atoms + j] - mean
                    })
                    .collect();
                let top = logits.iter().cloned().fold(f32::MIN, f32::max);
                let sum: f32 = logits.iter().map(|l| (l - top).exp()).sum();
                let p: Vec<f32> = logits.iter().map(|l| (l - top).exp() / sum).collect();
                let want: f32 = p.iter().zip(&z).map(|(p, z)| p * z).sum();
                assert!((q[b * actions + k] - want).abs() < 1e-4, "q {} vs Σ z·p {want}", q[b * actions + k]);
                for j in 0..atoms {
                    assert!((log_probs[(b * actions + k) * atoms + j] - p[j].ln()).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn noisy_head_draws_from_the_normals_and_none_is_the_mean() {
        let device = Device::flex();
        let head = QHeadConfig { hiddens: vec![8], num_atoms: 2, noisy: true, ..QHeadConfig::default() };
        let net = QNetwork::new(&small(), &head, &boxed(5), 3, &device).unwrap();
        // advantage 6→8, 8→6; value 6→8, 8→2
        assert_eq!(net.noise_size(), 14 + 14 + 14 + 10);
        let normals = Noise::new(5, 0).sample(NoiseKind::Normal, net.noise_size());
        let noise = HeadNoise::from_normals(Tensor::from_data(TensorData::new(normals.clone(), [52]), &device), &net);
        let drawn: Vec<f32> =
            noise.layers.iter().flat_map(|l| [host(l.eps_in.clone()), host(l.eps_out.clone())]).flatten().collect();
        for (got, x) in drawn.iter().zip(&normals) {
            assert!((got - x.signum() * x.abs().sqrt()).abs() < 1e-6);
        }
        let obs = random([3, 5], 6, &device);
        let zero = HeadNoise::from_normals(Tensor::zeros([52], &device), &net);
        let mean = host(net.forward(obs.clone(), None).q);
        assert_eq!(mean, host(net.forward(obs.clone(), Some(&zero)).q));
        let noisy = host(net.forward(obs, Some(&noise)).q);
        assert!(noisy.iter().zip(&mean).any(|(a, b)| (a - b).abs() > 1e-4), "noise changes Q");
        // a plain network takes no noise and ignores any
        let plain = QNetwork::new(&small(), &QHeadConfig::default(), &boxed(5), 3, &device).unwrap();
        assert_eq!(plain.noise_size(), 0);
    }

    #[test]
    fn output_shapes_for_vectors_discrete_and_images() {
        let device = Device::flex();
        let head = QHeadConfig { num_atoms: 3, ..QHeadConfig::default() };
        let net = QNetwork::new(&small(), &head, &boxed(4), 5, &device).unwrap();
        let out = net.forward(Tensor::zeros([2, 4], &device), None);
        assert_eq!(out.q.dims(), [2, 5]);
        assert_eq!(out.log_probs.unwrap().dims(), [2, 5, 3]);
        let net = QNetwork::new(&small(), &QHeadConfig::default(), &Space::Discrete { n: 7 }, 2, &device).unwrap();
        let out = net.forward(Tensor::ones([3, 1], &device), None);
        assert_eq!(out.q.dims(), [3, 2]);
        assert!(out.log_probs.is_none());
        let image = Space::Box { low: vec![0.0; 2 * 36 * 36], high: vec![1.0; 2 * 36 * 36], shape: vec![2, 36, 36] };
        let model = ModelConfig { post_fcnet_hiddens: vec![32], ..ModelConfig::default() };
        let head = QHeadConfig { hiddens: vec![16], noisy: true, ..QHeadConfig::default() };
        let net = QNetwork::new(&model, &head, &image, 4, &device).unwrap();
        assert_eq!(net.noise_size(), (32 + 16) + (16 + 4) + (32 + 16) + (16 + 1));
        let noise = HeadNoise::from_normals(Tensor::ones([net.noise_size()], &device), &net);
        assert_eq!(net.forward(Tensor::zeros([2, 2 * 36 * 36], &device), Some(&noise)).q.dims(), [2, 4]);
    }

    #[test]
    fn bad_configs_are_errors() {
        let device = Device::flex();
        let new = |head: QHeadConfig| QNetwork::new(&small(), &head, &boxed(3), 2, &device).map(|_| ());
        assert!(new(QHeadConfig { num_atoms: 0, ..QHeadConfig::default() }).is_err());
        assert!(new(QHeadConfig { num_atoms: 11, v_min: 1.0, v_max: 1.0, ..QHeadConfig::default() }).is_err());
        assert!(new(QHeadConfig { num_atoms: 11, v_min: 2.0, v_max: -1.0, ..QHeadConfig::default() }).is_err());
        assert!(new(QHeadConfig { hiddens: vec![8, 0], ..QHeadConfig::default() }).is_err());
        // one atom ignores the support
        assert!(new(QHeadConfig { num_atoms: 1, v_min: 1.0, v_max: 1.0, ..QHeadConfig::default() }).is_ok());
        let zero_trunk = ModelConfig { fcnet_hiddens: vec![0], ..ModelConfig::default() };
        assert!(QNetwork::new(&zero_trunk, &QHeadConfig::default(), &boxed(3), 2, &device).is_err());
        assert!(QNetwork::new(&small(), &QHeadConfig::default(), &boxed(3), 0, &device).is_err());
    }
}
