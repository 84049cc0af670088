//! Convolutional encoders for image observations (`[C, H, W]`, e.g. 4 stacked 84×84 Atari frames):
//!
//! - **Nature CNN** (Mnih et al. 2015): a plain stack of convolutions with ReLU, `conv_filters` giving
//!   `[filters, kernel, stride]` per layer (default `[[32, 8, 4], [64, 4, 2], [64, 3, 1]]`), no padding.
//! - **IMPALA CNN** (Espeholt et al. 2018): per `conv_filters` entry (only its filter count is used; default
//!   16, 32, 32) a 3×3 convolution, a 3×3 max-pool of stride 2, and two residual blocks
//!   `x + conv(relu(conv(relu(x))))`, all padded to keep sizes; then ReLU.
//!
//! Either is flattened and followed by `post_fcnet_hiddens` fully connected ReLU layers (default `[512]`), whose
//! output the policy and value heads share.

use super::ModelConfig;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Which convolutional encoder image observations get (`conv_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvType {
    #[default]
    Nature,
    Impala,
}

impl ConvType {
    /// The default `conv_filters` of this encoder.
    pub fn default_filters(self) -> Vec<[usize; 3]> {
        match self {
            ConvType::Nature => vec![[32, 8, 4], [64, 4, 2], [64, 3, 1]],
            ConvType::Impala => vec![[16, 3, 1], [32, 3, 1], [32, 3, 1]],
        }
    }
}

#[derive(Module, Debug)]
struct ResidualBlock {
    conv0: Conv2d,
    conv1: Conv2d,
}

impl ResidualBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.conv1.forward(relu(self.conv0.forward(relu(x.clone()))));
        x + y
    }
}

#[derive(Module, Debug)]
struct ImpalaStack {
    conv: Conv2d,
    pool: MaxPool2d,
    blocks: Vec<ResidualBlock>,
}

/// A convolutional encoder with its fully connected layers: `[B, C·H·W]` → `[B, width]`.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    /// Nature: the convolutions.
    convs: Vec<Conv2d>,
    /// IMPALA: the residual stacks.
    stacks: Vec<ImpalaStack>,
    fc: Vec<Linear>,
    #[module(skip)]
    input: [usize; 3],
}

/// The spatial size after a `kernel`/`stride` convolution without padding.
fn valid(size: usize, kernel: usize, stride: usize) -> Option<usize> {
    (size >= kernel).then(|| (size - kernel) / stride + 1)
}

impl ConvEncoder {
    /// Builds the encoder for `[C, H, W]` inputs; an error names the layer that does not fit.
    pub fn new(config: &ModelConfig, [c, h, w]: [usize; 3], device: &Device) -> Result<Self, String> {
        let filters = if config.conv_filters.is_empty() {
            config.conv_type.default_filters()
        } else {
            config.conv_filters.clone()
        };
        if filters.iter().any(|f| f.iter().any(|&v| v == 0)) {
            return Err(format!("rl_module.conv_filters must be positive [filters, kernel, stride], got {filters:?}"));
        }
        let (mut channels, mut height, mut width) = (c, h, w);
        let (mut convs, mut stacks) = (Vec::new(), Vec::new());
        match config.conv_type {
            ConvType::Nature => {
                for (i, &[out, kernel, stride]) in filters.iter().enumerate() {
                    let fits = valid(height, kernel, stride).zip(valid(width, kernel, stride));
                    let (hh, ww) = fits.ok_or_else(|| {
                        format!("rl_module.conv_filters[{i}] = [{out}, {kernel}, {stride}] does not fit a {height}×{width} input")
                    })?;
                    convs.push(
                        Conv2dConfig::new([channels, out], [kernel, kernel]).with_stride([stride, stride]).init(device),
                    );
                    (channels, height, width) = (out, hh, ww);
                }
            }
            ConvType::Impala => {
                let same = |cin: usize, cout: usize| {
                    Conv2dConfig::new([cin, cout], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device)
                };
                for &[out, _, _] in &filters {
                    stacks.push(ImpalaStack {
                        conv: same(channels, out),
                        pool: MaxPool2dConfig::new([3, 3])
                            .with_strides([2, 2])
                            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                            .init(),
                        blocks: (0..2)
                            .map(|_| ResidualBlock { conv0: same(out, out), conv1: same(out, out) })
                            .collect(),
                    });
                    (channels, height, width) = (out, (height - 1) / 2 + 1, (width - 1) / 2 + 1);
                }
            }
        }
        let mut fc = Vec::new();
        let mut features = channels * height * width;
        for &hidden in &config.post_fcnet_hiddens {
            if hidden == 0 {
                return Err("rl_module.post_fcnet_hiddens must be positive sizes".into());
            }
            fc.push(LinearConfig::new(features, hidden).init(device));
            features = hidden;
        }
        Ok(ConvEncoder { convs, stacks, fc, input: [c, h, w] })
    }

    /// Width of the encoding.
    pub fn width(&self) -> usize {
        match self.fc.last() {
            Some(layer) => layer.weight.dims()[1],
            None => {
                let [c, h, w] = self.input;
                let x = Tensor::<4>::zeros([1, c, h, w], &self.device());
                self.features(x).dims()[1]
            }
        }
    }

    fn device(&self) -> Device {
        match (self.convs.first(), self.stacks.first()) {
            (Some(conv), _) => conv.weight.device(),
            (None, Some(stack)) => stack.conv.weight.device(),
            (None, None) => unreachable!("an encoder has at least one convolution"),
        }
    }

    fn features(&self, mut x: Tensor<4>) -> Tensor<2> {
        for conv in &self.convs {
            x = relu(conv.forward(x));
        }
        for stack in &self.stacks {
            x = stack.pool.forward(stack.conv.forward(x));
            for block in &stack.blocks {
                x = block.forward(x);
            }
        }
        if !self.stacks.is_empty() {
            x = relu(x);
        }
        x.flatten(1, 3)
    }

    /// # Shapes
    /// - `obs`: `[B, C·H·W]`, values in [0, 1]
    /// - returns `[B, width]`
    pub fn forward(&self, obs: Tensor<2>) -> Tensor<2> {
        let [c, h, w] = self.input;
        let batch = obs.dims()[0];
        let mut x = self.features(obs.reshape([batch, c, h, w]));
        for layer in &self.fc {
            x = relu(layer.forward(x));
        }
        x
    }
}
