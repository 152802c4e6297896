//! A 3x3 convolution (stride 1, padding 1, no bias) for burn's flex CPU backend, forward and
//! both gradients, plugged into burn through its backend-extension mechanism.
//!
//! Why: burn 0.22 computes a convolution's weight gradient generically
//! (`conv2d_weight_grad_no_groups` in burn-backend) as a convolution whose "kernel" is the whole
//! output-gradient image and whose output is 3x3, and its input gradient through a transposed
//! convolution. On flex both end up as many small, badly shaped matrix products. Here every
//! pass is one well-shaped GEMM per image on an im2col matrix:
//!
//! - forward: `y[co, p] = W[co, k] · col(x)[k, p]`, with `k = (ci, kh, kw)` and `p` a pixel;
//! - input gradient: the same kernel on `dy` with the weights transposed and flipped;
//! - weight gradient: `dW[co, k] = Σ_images dy[co, p] · col(x)[k, p]ᵀ`.
//!
//! Every other backend (ndarray, GPUs) keeps burn's own convolution: [`conv3x3`] picks.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Bytes, DType};
use std::sync::atomic::{AtomicBool, Ordering};

mod im2col;

pub use im2col::{conv3x3_f32, conv3x3_input_grad_f32, conv3x3_weight_grad_f32};

static PROJECT_KERNEL: AtomicBool = AtomicBool::new(true);

/// Whether [`conv3x3`] uses this crate's kernel on flex (the default) or burn's convolution
/// everywhere. Exists so that the speed benchmark can run both in one process.
pub fn use_project_kernel(enabled: bool) {
    PROJECT_KERNEL.store(enabled, Ordering::Relaxed);
}

pub fn project_kernel_enabled() -> bool {
    PROJECT_KERNEL.load(Ordering::Relaxed)
}

/// The options of the only convolution this crate accelerates, for burn's reference path.
pub fn same_3x3_options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

/// 3x3 convolution, stride 1, padding 1, no bias: `x [n, c_in, h, w]`,
/// `weight [c_out, c_in, 3, 3]` -> `[n, c_out, h, w]`. Differentiable on every backend.
pub fn conv3x3(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    if project_kernel_enabled() && runs_on_flex(&x.device()) {
        let out = <Dispatch as Conv3x3Backend>::conv3x3(x.into_dispatch(), weight.into_dispatch());
        Tensor::from_dispatch(out)
    } else {
        burn::tensor::module::conv2d(x, weight, None, same_3x3_options())
    }
}

fn runs_on_flex(device: &Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        DispatchDevice::Flex(_)
    )
}

/// The operation as a backend extension: burn routes a call on a flex tensor (plain or
/// autodiff) to the implementations below.
#[backend_extension(Flex, Autodiff)]
pub trait Conv3x3Backend: Backend {
    fn conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The two gradients, for the autodiff wrapper's backward step.
pub trait Conv3x3Gradients: Backend {
    /// `dx [n, c_in, h, w]` from `weight [c_out, c_in, 3, 3]` and `dy [n, c_out, h, w]`.
    fn conv3x3_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// `dW [c_out, c_in, 3, 3]` from `x [n, c_in, h, w]` and `dy [n, c_out, h, w]`.
    fn conv3x3_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// A contiguous f32 flex tensor's values and dims, or `None` for another dtype or rank.
fn f32_view(tensor: &FlexTensor) -> Option<(&[f32], [usize; 4])> {
    let shape = tensor.layout().shape();
    if tensor.dtype() != DType::F32 || shape.num_dims() != 4 {
        return None;
    }
    let dims: [usize; 4] = shape.dims();
    tensor.as_slice::<f32>().map(|values| (values, dims))
}

fn contiguous(tensor: FlexTensor) -> FlexTensor {
    if tensor.is_contiguous() && tensor.layout().start_offset() == 0 {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

fn flex_f32(values: Vec<f32>, dims: [usize; 4]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(Shape::from(dims)),
        DType::F32,
    )
}

impl Conv3x3Backend for Flex {
    /// Anything but f32 NCHW input with a matching 3x3 kernel goes to burn's convolution,
    /// which also reports shape errors.
    fn conv3x3(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        let (x, weight) = (contiguous(x), contiguous(weight));
        match (f32_view(&x), f32_view(&weight)) {
            (Some((xs, [n, c_in, h, w])), Some((ws, [c_out, w_in, 3, 3]))) if w_in == c_in => {
                flex_f32(
                    conv3x3_f32(xs, [n, c_in, h, w], ws, c_out),
                    [n, c_out, h, w],
                )
            }
            _ => Flex::conv2d(x, weight, None, same_3x3_options()),
        }
    }
}

impl Conv3x3Gradients for Flex {
    fn conv3x3_input_grad(x: FlexTensor, weight: FlexTensor, dy: FlexTensor) -> FlexTensor {
        let (x, weight, dy) = (contiguous(x), contiguous(weight), contiguous(dy));
        match (f32_view(&x), f32_view(&weight), f32_view(&dy)) {
            (Some((_, x_dims)), Some((ws, [_, c_in, 3, 3])), Some((dys, [n, c_out, h, w])))
                if x_dims == [n, c_in, h, w] =>
            {
                flex_f32(
                    conv3x3_input_grad_f32(dys, [n, c_out, h, w], ws, c_in),
                    [n, c_in, h, w],
                )
            }
            _ => Flex::conv2d_x_backward(x, weight, dy, same_3x3_options()),
        }
    }

    fn conv3x3_weight_grad(x: FlexTensor, weight: FlexTensor, dy: FlexTensor) -> FlexTensor {
        let (x, weight, dy) = (contiguous(x), contiguous(weight), contiguous(dy));
        match (f32_view(&x), f32_view(&weight), f32_view(&dy)) {
            (Some((xs, [n, c_in, h, w])), Some((_, w_dims)), Some((dys, dy_dims)))
                if w_dims[1..] == [c_in, 3, 3] && dy_dims == [n, w_dims[0], h, w] =>
            {
                let c_out = w_dims[0];
                flex_f32(
                    conv3x3_weight_grad_f32(xs, [n, c_in, h, w], dys, c_out),
                    [c_out, c_in, 3, 3],
                )
            }
            _ => Flex::conv2d_weight_backward(x, weight, dy, same_3x3_options()),
        }
    }
}

/// Records the operation on the autodiff graph; its backward step calls the inner backend's
/// [`Conv3x3Gradients`].
#[derive(Debug)]
struct Conv3x3Backward;

impl<B: Conv3x3Backend + Conv3x3Gradients> Backward<B, 2> for Conv3x3Backward {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
        if let Some(node) = node_weight {
            let grad = B::conv3x3_weight_grad(x.clone(), weight.clone(), output_grad.clone());
            grads.register::<B>(node.id, grad);
        }
        if let Some(node) = node_x {
            let grad = B::conv3x3_input_grad(x, weight, output_grad);
            grads.register::<B>(node.id, grad);
        }
    }
}

impl<B: Conv3x3Backend + Conv3x3Gradients, C: CheckpointStrategy> Conv3x3Backend
    for Autodiff<B, C>
{
    fn conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        match Conv3x3Backward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let output = B::conv3x3(x.into_primitive(), weight.into_primitive());
                prep.finish((x_state, weight_state), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::conv3x3(x.into_primitive(), weight.into_primitive()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
