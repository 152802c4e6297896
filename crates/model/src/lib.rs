//! The image classifiers: a family of small VGG-style CNNs with batch norm, described by a
//! serde configuration that is saved next to every trained model.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;

pub mod reference_nets;

/// A module that maps a batch of images `[batch, channels, side, side]` to class logits
/// `[batch, classes]`: what the speed benchmark needs of any model.
pub trait Classifier: Module {
    fn logits(&self, images: Tensor<4>) -> Tensor<2>;
}

impl Classifier for Cnn {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }
}

impl Classifier for reference_nets::PlainCnn {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }
}

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    #[error("cannot read model weights from {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("cannot serialise model weights: {0}")]
    Save(String),
}

/// Convolutions at one resolution, followed by a 2x2 max-pool unless it is the last stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageConfig {
    pub channels: usize,
    pub convs: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    pub input_channels: usize,
    pub input_side: usize,
    pub num_classes: usize,
    pub stages: Vec<StageConfig>,
    /// Dropout before the classifier.
    pub dropout: f64,
    /// Identity shortcuts around every convolution of a stage but its first (whose input
    /// has another width), as in ResNet. Absent from configs saved before it existed.
    #[serde(default)]
    pub residual: bool,
}

impl Default for CnnConfig {
    /// The default model, chosen for accuracy per CPU-second on 2 cores. It down-samples
    /// early: a single cheap convolution at full resolution (one input channel), the wider
    /// ones at 14x14 and 7x7; global average pooling keeps the classifier tiny. Measured on
    /// flex (batch 128, 2 cores), it trains ~1.6x faster than the 32-64-128 variant of the
    /// same shape (README, "Choosing the default model").
    fn default() -> Self {
        Self {
            input_channels: 1,
            input_side: 28,
            num_classes: 10,
            stages: vec![
                StageConfig {
                    channels: 16,
                    convs: 1,
                },
                StageConfig {
                    channels: 64,
                    convs: 2,
                },
                StageConfig {
                    channels: 128,
                    convs: 2,
                },
            ],
            dropout: 0.1,
            residual: false,
        }
    }
}

impl CnnConfig {
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: &str| Err(ModelError::InvalidConfig(m.to_string()));
        if self.stages.is_empty() {
            return bad("at least one stage is needed");
        }
        if self.stages.iter().any(|s| s.channels == 0 || s.convs == 0) {
            return bad("every stage needs at least one convolution with at least one channel");
        }
        if self.num_classes < 2 || self.input_channels == 0 {
            return bad("needs at least two classes and one input channel");
        }
        if self.input_side >> (self.stages.len() - 1) == 0 {
            return bad("too many stages: the image would shrink below one pixel");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout must be in [0, 1)");
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Result<Cnn, ModelError> {
        self.validate()?;
        let mut blocks = Vec::new();
        let mut pool_after = Vec::new();
        let mut shortcut = Vec::new();
        let mut in_ch = self.input_channels;
        for (s, stage) in self.stages.iter().enumerate() {
            for c in 0..stage.convs {
                blocks.push(ConvBlock::new(in_ch, stage.channels, device));
                in_ch = stage.channels;
                pool_after.push(c + 1 == stage.convs && s + 1 < self.stages.len());
                shortcut.push(self.residual && c > 0);
            }
        }
        Ok(Cnn {
            blocks,
            pool_after,
            shortcut,
            dropout: DropoutConfig::new(self.dropout).init(),
            classifier: LinearConfig::new(in_ch, self.num_classes).init(device),
        })
    }

    /// The same network with every stage's channels scaled by `factor` (rounded, at least 1).
    pub fn widened(&self, factor: f64) -> CnnConfig {
        let mut wide = self.clone();
        for stage in &mut wide.stages {
            stage.channels = ((stage.channels as f64 * factor).round() as usize).max(1);
        }
        wide
    }

    /// Multiply-accumulates of one forward pass of one image, for throughput estimates.
    pub fn forward_macs(&self) -> u64 {
        let mut side = self.input_side as u64;
        let mut in_ch = self.input_channels as u64;
        let mut macs = 0;
        for (s, stage) in self.stages.iter().enumerate() {
            for _ in 0..stage.convs {
                macs += side * side * in_ch * stage.channels as u64 * 9;
                in_ch = stage.channels as u64;
            }
            if s + 1 < self.stages.len() {
                side /= 2;
            }
        }
        macs + in_ch * self.num_classes as u64
    }
}

/// A 3x3, stride-1, padding-1 convolution layer through the project's CPU kernel (burn's own
/// convolution on backends the kernel does not cover). Same weights, same result.
pub(crate) fn same_conv3x3(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let y = kernels::conv3x3(x, conv.weight.val());
    match &conv.bias {
        Some(bias) => {
            let channels = bias.val().dims()[0];
            y + bias.val().reshape([1, channels, 1, 1])
        }
        None => y,
    }
}

/// 3x3 convolution, batch norm, ReLU. The convolution has no bias: batch norm's shift
/// makes it redundant.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBlock {
    fn new(in_ch: usize, out_ch: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([in_ch, out_ch], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(out_ch).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        kernels::batch_norm(&self.norm, same_conv3x3(&self.conv, x), true)
    }

    fn forward_with_shortcut(&self, x: Tensor<4>) -> Tensor<4> {
        relu(kernels::batch_norm(&self.norm, same_conv3x3(&self.conv, x.clone()), false) + x)
    }
}

#[derive(Module, Debug)]
pub struct Cnn {
    blocks: Vec<ConvBlock>,
    pool_after: Vec<bool>,
    shortcut: Vec<bool>,
    dropout: Dropout,
    classifier: Linear,
}

impl Cnn {
    /// Logits `[batch, classes]` for images `[batch, channels, side, side]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for ((block, &pool), &shortcut) in
            self.blocks.iter().zip(&self.pool_after).zip(&self.shortcut)
        {
            x = if shortcut {
                block.forward_with_shortcut(x)
            } else {
                block.forward(x)
            };
            if pool {
                x = kernels::max_pool2x2(x);
            }
        }
        let [b, c, h, w] = x.dims();
        let pooled = x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c]);
        self.classifier.forward(self.dropout.forward(pooled))
    }

    /// The weights as a backend-independent burnpack byte buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        let bytes = self
            .valid()
            .into_record()
            .into_bytes()
            .map_err(|e| ModelError::Save(e.to_string()))?;
        Ok(bytes.to_vec())
    }

    /// Loads weights saved by [`Cnn::to_bytes`] into a model built from the same config.
    pub fn load_bytes(self, bytes: Vec<u8>, origin: &Path) -> Result<Self, ModelError> {
        let load_err = |reason: String| ModelError::Load {
            path: origin.display().to_string(),
            reason,
        };
        let record =
            burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
                .map_err(|e| load_err(e.to_string()))?;
        self.try_load_record(record)
            .map_err(|e| load_err(e.to_string()))
    }
}

/// Several trained models that predict together: the mean of their class probabilities.
#[derive(Module, Debug)]
pub struct Ensemble {
    members: Vec<Cnn>,
}

impl Ensemble {
    pub fn new(members: Vec<Cnn>) -> Result<Self, ModelError> {
        if members.is_empty() {
            return Err(ModelError::InvalidConfig(
                "an ensemble needs at least one model".into(),
            ));
        }
        Ok(Self { members })
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The log of the members' mean probabilities: a softmax of it gives that mean back, so
    /// callers treat an ensemble like any other classifier. One member is passed through
    /// untouched.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let probabilities = |m: &Cnn| softmax(m.forward(images.clone()), 1);
        match self.members.as_slice() {
            [only] => only.forward(images),
            [first, rest @ ..] => {
                let sum = rest
                    .iter()
                    .fold(probabilities(first), |sum, m| sum + probabilities(m));
                (sum / self.members.len() as f64).clamp_min(1e-30).log()
            }
            // `new` refuses an empty ensemble.
            [] => Tensor::zeros([images.dims()[0], 0], &images.device()),
        }
    }
}

impl Classifier for Ensemble {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> CnnConfig {
        CnnConfig {
            stages: vec![
                StageConfig {
                    channels: 4,
                    convs: 1,
                },
                StageConfig {
                    channels: 8,
                    convs: 2,
                },
            ],
            ..CnnConfig::default()
        }
    }

    #[test]
    fn default_model_is_small() {
        let cfg = CnnConfig::default();
        let model = cfg.init(&Device::flex()).unwrap();
        let params = model.num_params();
        assert!(
            params > 100_000 && params < 1_000_000,
            "{params} parameters"
        );
        let out = model.forward(Tensor::zeros([2, 1, 28, 28], &Device::flex()));
        assert_eq!(out.dims(), [2, 10]);
    }

    #[test]
    fn rejects_nonsense_configs() {
        let mut cfg = tiny();
        cfg.stages.clear();
        assert!(cfg.validate().is_err());
        let mut cfg = tiny();
        cfg.stages[0].convs = 0;
        assert!(cfg.validate().is_err());
        let mut cfg = tiny();
        cfg.stages = vec![
            StageConfig {
                channels: 2,
                convs: 1
            };
            7
        ];
        assert!(cfg.validate().is_err());
        let mut cfg = tiny();
        cfg.dropout = 1.0;
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn weights_round_trip_through_bytes() {
        let dev = Device::flex();
        dev.seed(1);
        let cfg = tiny();
        let trained = cfg.init(&dev).unwrap();
        let bytes = trained.to_bytes().unwrap();
        let x = Tensor::<4>::random([3, 1, 28, 28], burn::tensor::Distribution::Default, &dev);
        let want = trained.forward(x.clone()).into_data();
        let fresh = cfg.init(&dev).unwrap();
        assert_ne!(fresh.forward(x.clone()).into_data(), want);
        let loaded = fresh.load_bytes(bytes, Path::new("mem")).unwrap();
        assert_eq!(loaded.forward(x).into_data(), want);
    }

    #[test]
    fn garbage_bytes_are_an_error_not_a_panic() {
        let model = tiny().init(&Device::flex()).unwrap();
        let err = model
            .load_bytes(b"not a model".to_vec(), Path::new("x.bpk"))
            .unwrap_err();
        assert!(err.to_string().contains("x.bpk"));
    }

    #[test]
    fn residual_blocks_add_their_input() {
        let dev = Device::flex();
        dev.seed(3);
        let plain = tiny().init(&dev).unwrap();
        let bytes = plain.to_bytes().unwrap();
        let residual_cfg = CnnConfig {
            residual: true,
            ..tiny()
        };
        // Same parameters, so the plain weights load; only the shortcut differs.
        let residual = residual_cfg
            .init(&dev)
            .unwrap()
            .load_bytes(bytes, Path::new("mem"))
            .unwrap();
        assert_eq!(residual.shortcut, vec![false, false, true]);
        let x = Tensor::<4>::random([2, 1, 28, 28], burn::tensor::Distribution::Default, &dev);
        let a = plain.forward(x.clone()).into_data();
        let b = residual.forward(x).into_data();
        assert_eq!(b.shape(), a.shape());
        assert_ne!(a, b);
    }

    #[test]
    fn an_ensemble_averages_its_members_probabilities() {
        let dev = Device::flex();
        dev.seed(5);
        let (m1, m2) = (tiny().init(&dev).unwrap(), tiny().init(&dev).unwrap());
        let x = Tensor::<4>::random([3, 1, 28, 28], burn::tensor::Distribution::Default, &dev);
        let p = |logits: Tensor<2>| -> Vec<f32> {
            softmax(logits, 1).into_data().try_to_vec::<f32>().unwrap()
        };
        let (p1, p2) = (p(m1.forward(x.clone())), p(m2.forward(x.clone())));
        let single = p(m1.forward(x.clone()));
        let ensemble = Ensemble::new(vec![m1, m2]).unwrap();
        assert_eq!(ensemble.len(), 2);
        let both = p(ensemble.forward(x.clone()));
        for ((a, b), e) in p1.iter().zip(&p2).zip(&both) {
            assert!(((a + b) / 2.0 - e).abs() < 1e-5, "{a} {b} {e}");
        }
        let alone = Ensemble::new(vec![tiny().init(&dev).unwrap()]).unwrap();
        assert_eq!(alone.forward(x).dims(), [3, 10]);
        assert_ne!(single, both);
        assert!(Ensemble::new(Vec::new()).is_err());
    }

    #[test]
    fn macs_count_matches_hand_count() {
        // 28*28*1*4*9 + 14*14*4*8*9 + 14*14*8*8*9 + 8*10
        assert_eq!(tiny().forward_macs(), 28_224 + 56_448 + 112_896 + 80);
    }
}
