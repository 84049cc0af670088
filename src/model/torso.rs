//! A torso (Stoix's name for the shared feature extractor): observations in, features out, for any head to sit
//! on. 1-D Box observations go through the `fcnet_hiddens` trunk with `fcnet_activation`; Discrete observations
//! are one-hot encoded first; `[C, H, W]` images go through a [`ConvEncoder`] (`conv_filters`, `conv_type`,
//! `post_fcnet_hiddens`) and skip the trunk, as the actor-critic does.

use super::{Activation, ConvEncoder, ModelConfig, ObsEncoding};
use crate::envs::spaces::Space;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, silu};
use burn::tensor::{Device, Tensor};

/// Observations → features `[B, width]`.
#[derive(Module, Debug)]
pub struct Torso {
    /// Image observations: the convolutional encoder (the trunk is then empty).
    encoder: Option<ConvEncoder>,
    /// Vector observations: the fully connected layers.
    trunk: Vec<Linear>,
    /// With layer normalisation (PQN's Q network): one LayerNorm after each trunk layer, before its activation;
    /// for images, one on the convolutional encoder's features.
    norms: Vec<LayerNorm>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    encoding: ObsEncoding,
    #[module(skip)]
    width: usize,
}

impl Torso {
    /// Builds the torso `model` describes for `observation_space`, with a LayerNorm after each trunk layer (images:
    /// on the encoder's features) if `layer_norm`; an error names the bad size.
    pub fn new(
        model: &ModelConfig,
        observation_space: &Space,
        layer_norm: bool,
        device: &Device,
    ) -> Result<Torso, String> {
        if model.fcnet_hiddens.contains(&0) {
            return Err(format!("rl_module.fcnet_hiddens must be positive sizes, got {:?}", model.fcnet_hiddens));
        }
        let encoding = ObsEncoding::for_space(observation_space)?;
        if encoding.width() == 0 {
            return Err(format!("the observation space {observation_space:?} has no values"));
        }
        let (encoder, mut trunk, mut width) = match encoding {
            ObsEncoding::Image { channels, height, width } => {
                let encoder = ConvEncoder::new(model, [channels, height, width], device)?;
                let features = encoder.width();
                (Some(encoder), Vec::new(), features)
            }
            _ => (None, Vec::new(), encoding.width()),
        };
        let mut norms = Vec::new();
        if encoder.is_some() && layer_norm {
            norms.push(LayerNormConfig::new(width).init(device));
        }
        if encoder.is_none() {
            for &hidden in &model.fcnet_hiddens {
                trunk.push(LinearConfig::new(width, hidden).init(device));
                if layer_norm {
                    norms.push(LayerNormConfig::new(hidden).init(device));
                }
                width = hidden;
            }
        }
        Ok(Torso { encoder, trunk, norms, activation: model.fcnet_activation, encoding, width })
    }

    /// Width of the features.
    pub fn width(&self) -> usize {
        self.width
    }

    /// # Shapes
    /// - `obs`: `[B, obs_dim]` as the env writes it (Discrete observations as an index, `obs_dim = 1`; images
    ///   flattened `[B, C·H·W]` in [0, 1])
    /// - returns `[B, width]`
    pub fn forward(&self, obs: Tensor<2>) -> Tensor<2> {
        let mut x = match (&self.encoder, self.encoding) {
            (Some(encoder), _) => {
                let features = encoder.forward(obs);
                return match self.norms.first() {
                    Some(norm) => norm.forward(features),
                    None => features,
                };
            }
            (None, ObsEncoding::OneHot { n }) => one_hot(obs.squeeze_dim::<1>(1), n), // [B, n]
            (None, _) => obs,
        };
        for (k, layer) in self.trunk.iter().enumerate() {
            x = layer.forward(x);
            if let Some(norm) = self.norms.get(k) {
                x = norm.forward(x);
            }
            x = match self.activation {
                Activation::Tanh => super::mlp::tanh(x),
                Activation::Relu => relu(x),
                Activation::Silu => silu(x),
            };
        }
        x
    }
}

/// `[classes]`: 0, 1, …, classes − 1 as f32, made on `device` (no upload: a cumulative sum of ones).
pub fn iota(classes: usize, device: &Device) -> Tensor<1> {
    Tensor::<1>::ones([classes], device).cumsum(0).sub_scalar(1.0)
}

/// One-hot rows of integral f32 indices, compared on the device (burn's `one_hot` reads the indices back to the
/// host); an index outside `[0, classes)` gives a row of zeros.
///
/// # Shapes
/// - `indices`: `[N]`
/// - returns `[N, classes]`
pub fn one_hot(indices: Tensor<1>, classes: usize) -> Tensor<2> {
    let n = indices.dims()[0];
    let columns = iota(classes, &indices.device()).unsqueeze_dim::<2>(0).expand([n, classes]);
    indices.unsqueeze_dim::<2>(1).expand([n, classes]).equal(columns).float()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn host(x: Tensor<2>) -> Vec<f32> {
        x.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn one_hot_marks_the_index_column() {
        let device = Device::flex();
        let idx = Tensor::<1>::from_data(TensorData::new(vec![2.0f32, 0.0, 3.0, 7.0], [4]), &device);
        let got = host(one_hot(idx, 4));
        #[rustfmt::skip]
        let want = [0., 0., 1., 0.,  1., 0., 0., 0.,  0., 0., 0., 1.,  0., 0., 0., 0.];
        assert_eq!(got, want);
    }

    #[test]
    fn widths_follow_the_space() {
        let device = Device::flex();
        let model = ModelConfig { fcnet_hiddens: vec![8, 5], ..ModelConfig::default() };
        let boxed = Space::Box { low: vec![-1.0; 3], high: vec![1.0; 3], shape: vec![3] };
        let torso = Torso::new(&model, &boxed, false, &device).unwrap();
        assert_eq!(torso.width(), 5);
        assert_eq!(torso.forward(Tensor::zeros([2, 3], &device)).dims(), [2, 5]);
        let discrete = Torso::new(&model, &Space::Discrete { n: 6 }, false, &device).unwrap();
        assert_eq!(discrete.forward(Tensor::ones([4, 1], &device)).dims(), [4, 5]);
        let bad = ModelConfig { fcnet_hiddens: vec![8, 0], ..ModelConfig::default() };
        assert!(Torso::new(&bad, &boxed, false, &device).is_err());
    }
}
