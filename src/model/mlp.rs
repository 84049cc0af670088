//! The fully connected actor-critic (RLlib's default model for vector observations): a policy trunk and head, a
//! value trunk and head (or one shared trunk with `vf_share_layers`), and for Box actions either a log-std per
//! action from the head or a free, state-independent log-std parameter. Image observations go through a
//! convolutional encoder instead of the trunks, shared by both heads.

use super::{ActionDist, Activation, ConvEncoder, ModelConfig, ObsEncoding};
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::{relu, silu};
use burn::tensor::{Device, Tensor};

/// Policy and value outputs for a batch.
pub struct ModelOutput {
    /// `[B, K]`: the inputs of the action distribution (logits, or means then log-stds).
    pub dist_inputs: Tensor<2>,
    /// `[B]`: V(s).
    pub value: Tensor<1>,
}

#[derive(Module, Debug)]
pub struct ActorCritic {
    /// Image observations: the convolutional encoder (the trunks are then empty and shared).
    encoder: Option<ConvEncoder>,
    pi_hidden: Vec<Linear>,
    /// Empty when the value function shares the policy trunk.
    vf_hidden: Vec<Linear>,
    pi_head: Linear,
    vf_head: Linear,
    /// `[A]`, present with `free_log_std`.
    log_std: Option<Param<Tensor<1>>>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    encoding: ObsEncoding,
    #[module(skip)]
    dist: ActionDist,
    #[module(skip)]
    shared: bool,
}

impl ActorCritic {
    pub(super) fn new(
        config: &ModelConfig,
        encoding: ObsEncoding,
        dist: ActionDist,
        device: &Device,
    ) -> Result<Self, String> {
        let encoder = match encoding {
            ObsEncoding::Image { channels, height, width } => {
                Some(ConvEncoder::new(config, [channels, height, width], device)?)
            }
            _ => None,
        };
        let image = encoder.is_some();
        let input_width = encoder.as_ref().map_or(encoding.width(), ConvEncoder::width);
        let trunk = |device: &Device| {
            let mut width = input_width;
            let mut layers = Vec::new();
            for &h in config.fcnet_hiddens.iter().filter(|_| !image) {
                layers.push(LinearConfig::new(width, h).init(device));
                width = h;
            }
            (layers, width)
        };
        let (pi_hidden, pi_width) = trunk(device);
        let shared = config.vf_share_layers || image;
        let (vf_hidden, vf_width) = if shared { (Vec::new(), pi_width) } else { trunk(device) };
        let free_log_std = config.free_log_std && matches!(dist, ActionDist::DiagGaussian(_));
        let head_width = if free_log_std { dist.action_width() } else { dist.input_width() };
        // Small policy-head weights start the policy near uniform (RLlib's normc(0.01)); the value head at unit scale.
        let pi_head = LinearConfig::new(pi_width, head_width)
            .with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 / (pi_width as f64).sqrt() })
            .init(device);
        let vf_head = LinearConfig::new(vf_width, 1)
            .with_initializer(Initializer::Normal { mean: 0.0, std: 1.0 / (vf_width as f64).sqrt() })
            .init(device);
        let log_std = free_log_std.then(|| Param::from_tensor(Tensor::zeros([dist.action_width()], device)));
        Ok(Self {
            encoder,
            pi_hidden,
            vf_hidden,
            pi_head,
            vf_head,
            log_std,
            activation: config.fcnet_activation,
            encoding,
            dist,
            shared,
        })
    }

    /// The distribution the policy head parameterises.
    pub fn dist(&self) -> &ActionDist {
        &self.dist
    }

    /// # Shapes
    /// - `obs`: `[B, obs_dim]` as the env writes it (Discrete observations as an index, `obs_dim = 1`)
    /// - returns distribution inputs `[B, K]` and values `[B]`
    pub fn forward(&self, obs: Tensor<2>) -> ModelOutput {
        let x = self.encode(obs);
        let pi = self.trunk(&self.pi_hidden, x.clone());
        let vf = if self.shared { pi.clone() } else { self.trunk(&self.vf_hidden, x) };
        let mut dist_inputs = self.pi_head.forward(pi);
        if let Some(log_std) = &self.log_std {
            let batch = dist_inputs.dims()[0];
            let log_std = log_std.val().unsqueeze_dim::<2>(0).repeat_dim(0, batch); // [B, A]
            dist_inputs = Tensor::cat(vec![dist_inputs, log_std], 1);
        }
        ModelOutput { dist_inputs, value: self.vf_head.forward(vf).squeeze_dim(1) }
    }

    /// V(s) alone, `[B]`.
    pub fn value(&self, obs: Tensor<2>) -> Tensor<1> {
        let x = self.encode(obs);
        let hidden = if self.shared { &self.pi_hidden } else { &self.vf_hidden };
        self.vf_head.forward(self.trunk(hidden, x)).squeeze_dim(1)
    }

    fn encode(&self, obs: Tensor<2>) -> Tensor<2> {
        match (&self.encoder, self.encoding) {
            (Some(encoder), _) => encoder.forward(obs),
            (None, ObsEncoding::OneHot { n }) => obs.squeeze_dim::<1>(1).one_hot_fill(n, 1.0, 0.0, -1),
            (None, _) => obs,
        }
    }

    fn trunk(&self, layers: &[Linear], mut x: Tensor<2>) -> Tensor<2> {
        for layer in layers {
            x = layer.forward(x);
            x = match self.activation {
                Activation::Tanh => tanh(x),
                Activation::Relu => relu(x),
                Activation::Silu => silu(x),
            };
        }
        x
    }
}

impl crate::runners::Policy for ActorCritic {
    /// Sampled actions with `explore`, the distribution's mode without.
    fn act(
        &self,
        obs: Tensor<2>,
        explore: bool,
        noise: &mut crate::runners::Noise,
        bridge: &crate::runners::Bridge,
    ) -> Result<Tensor<2>, crate::Error> {
        let out = self.forward(obs);
        if !explore {
            return Ok(self.dist.mode(out.dist_inputs));
        }
        let rows = out.dist_inputs.dims()[0];
        let eps = bridge.noise(noise, self.dist.noise(), rows, 1)?;
        Ok(self.dist.sample(out.dist_inputs, eps))
    }
}

impl crate::runners::Behaviour for ActorCritic {
    fn noise(&self) -> (crate::runners::NoiseKind, usize) {
        self.dist.noise()
    }

    fn act(&self, obs: Tensor<2>, eps: Tensor<2>) -> crate::runners::Acted {
        let out = self.forward(obs);
        let actions = self.dist.sample(out.dist_inputs.clone(), eps);
        let log_prob = self.dist.log_prob(out.dist_inputs.clone(), actions.clone());
        crate::runners::Acted { actions, log_prob, value: out.value, dist_inputs: out.dist_inputs }
    }
}

/// tanh(x) = 2 / (1 + e^(-2x)) − 1, on x clamped to [-20, 20] (where tanh is ±1 in f32, so the clamp changes
/// nothing and keeps e^(-2x) finite for the backward pass). A few times faster than the backends' scalar `tanh`
/// on the CPU, forward and backward.
pub(super) fn tanh(x: Tensor<2>) -> Tensor<2> {
    x.clamp(-20.0, 20.0).mul_scalar(-2.0).exp().add_scalar(1.0).recip().mul_scalar(2.0).sub_scalar(1.0)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    #[test]
    fn tanh_matches_the_reference() {
        let xs: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.1).collect();
        let n = xs.len();
        let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [1, n]), &Device::flex());
        let y = super::tanh(x).into_data().try_into_vec::<f32>().unwrap();
        for (a, b) in xs.iter().zip(&y) {
            assert!((a.tanh() - b).abs() < 2e-6, "tanh({a}) = {b}");
        }
    }
}
