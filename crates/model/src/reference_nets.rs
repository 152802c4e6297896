//! The two plain CNNs of the speed benchmark, fixed so that burn and PyTorch
//! (`benches/pytorch_reference.py`) run exactly the same architecture. They are yardsticks for
//! throughput, not candidates for the product.
//!
//! - A: conv3x3 32, conv3x3 32, max-pool, conv3x3 64, conv3x3 64, max-pool, FC 128, dropout
//!   0.25, FC 10 (467,818 parameters).
//! - B: conv3x3 16, max-pool, conv3x3 32, max-pool, FC 10 (20,490 parameters).
//!
//! Convolutions are "same"-padded, with a bias, each followed by ReLU; no batch norm.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Which reference architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceArch {
    A,
    B,
}

#[derive(Module, Debug)]
pub struct PlainCnn {
    convs: Vec<Conv2d>,
    pool_after: Vec<bool>,
    hidden: Vec<Linear>,
    dropout: Dropout,
    output: Linear,
}

impl PlainCnn {
    pub fn new(arch: ReferenceArch, device: &Device) -> Self {
        // (output channels, max-pool after it)
        let (convs, hidden): (&[(usize, bool)], &[usize]) = match arch {
            ReferenceArch::A => (&[(32, false), (32, true), (64, false), (64, true)], &[128]),
            ReferenceArch::B => (&[(16, true), (32, true)], &[]),
        };
        let mut in_ch = 1;
        let mut side = 28;
        let mut layers = Vec::new();
        for &(out_ch, pool) in convs {
            layers.push(
                Conv2dConfig::new([in_ch, out_ch], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
            );
            in_ch = out_ch;
            if pool {
                side /= 2;
            }
        }
        let mut features = in_ch * side * side;
        let mut fcs = Vec::new();
        for &width in hidden {
            fcs.push(LinearConfig::new(features, width).init(device));
            features = width;
        }
        Self {
            convs: layers,
            pool_after: convs.iter().map(|c| c.1).collect(),
            hidden: fcs,
            dropout: DropoutConfig::new(0.25).init(),
            output: LinearConfig::new(features, 10).init(device),
        }
    }

    /// Logits `[batch, 10]` for images `[batch, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for (conv, &pool) in self.convs.iter().zip(&self.pool_after) {
            x = relu(crate::same_conv3x3(conv, x));
            if pool {
                x = kernels::max_pool2x2(x);
            }
        }
        let mut x: Tensor<2> = x.flatten(1, 3);
        for fc in &self.hidden {
            x = self.dropout.forward(relu(fc.forward(x)));
        }
        self.output.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_the_pytorch_reference() {
        let device = Device::flex();
        assert_eq!(
            PlainCnn::new(ReferenceArch::A, &device).num_params(),
            467_818
        );
        assert_eq!(
            PlainCnn::new(ReferenceArch::B, &device).num_params(),
            20_490
        );
        let logits = PlainCnn::new(ReferenceArch::B, &device)
            .forward(Tensor::<4>::zeros([3, 1, 28, 28], &device));
        assert_eq!(logits.dims(), [3, 10]);
    }
}
