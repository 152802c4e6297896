//! CPU kernels for burn's flex backend, each with its backward step, plugged into burn through
//! its backend-extension mechanism: a 3x3 convolution, batch norm with the ReLU after it, and
//! 2x2 max pooling. Every other backend (ndarray, GPUs) keeps burn's own operations:
//! [`conv3x3`], [`batch_norm`] and [`max_pool2x2`] pick.
//!
//! Why the convolution: burn 0.22 computes a convolution's weight gradient generically
//! (`conv2d_weight_grad_no_groups` in burn-backend) as a convolution whose "kernel" is the whole
//! output-gradient image and whose output is 3x3, and its input gradient through a transposed
//! convolution. On flex both end up as many small, badly shaped matrix products. Here every
//! pass is a well-shaped GEMM on an im2col matrix:
//!
//! - forward: `y[co, p] = W[co, k] · col(x)[k, p]`, with `k = (ci, kh, kw)` and `p` a pixel
//!   (of one image, or of up to six 7x7 images side by side: see `im2col.rs`);
//! - input gradient: the same kernel on `dy` with the weights transposed and flipped;
//! - weight gradient: `dW[co, k] = Σ_images dy[co, p] · col(x)[k, p]ᵀ`, one GEMM per image.
//!
//! Why batch norm and pooling: see `batch_norm.rs` and `pool.rs`; together they were a third of
//! a training step on flex (transposed copies, one pass per element-wise operation, an i64
//! index per pooled value).

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::ops::{ActivationOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, DispatchDevice, Flex, backend_extension,
};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Bytes, DType};
use std::sync::atomic::{AtomicBool, Ordering};

#[macro_use]
mod simd;
mod batch_norm;
mod buffer;
mod im2col;
mod pool;
mod winograd;

pub use batch_norm::{
    BatchNormOutput, batch_norm_inference_f32, batch_norm_train_backward_f32, batch_norm_train_f32,
};
pub use im2col::{conv3x3_f32, conv3x3_input_grad_f32, conv3x3_weight_grad_f32};
pub use pool::{max_pool2x2_backward_f32, max_pool2x2_f32};

/// Images per thread: the batch split into one contiguous run per rayon thread, so that the
/// cores never wait on each other.
pub(crate) fn images_per_task(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

static PROJECT_KERNEL: AtomicBool = AtomicBool::new(true);

/// Whether [`conv3x3`], [`batch_norm`] and [`max_pool2x2`] use this crate's kernels on flex
/// (the default) or burn's operations everywhere. Exists so that the speed benchmark can run
/// both in one process.
pub fn use_project_kernel(enabled: bool) {
    PROJECT_KERNEL.store(enabled, Ordering::Relaxed);
}

pub fn project_kernel_enabled() -> bool {
    PROJECT_KERNEL.load(Ordering::Relaxed)
}

static WINOGRAD: AtomicBool = AtomicBool::new(false);

/// Whether the project's convolution runs by F(2x2, 3x3) where the input has 16 channels or
/// more, or by im2col everywhere (the default).
///
/// Off by default because it did not train faster: on the 2-core AMD EPYC without AVX-512
/// (2026-11-30) its GEMMs took about a quarter fewer profile samples than im2col's, but its
/// transforms (a fifth of a step) gave that back: the default model trained at 609, 685 and
/// 673 images/s against 718, 624 and 651 by im2col (`trainer bench --convs
/// project,winograd`, three rounds). Selectable so that the benchmark can compare the two on
/// another machine, e.g. one with AVX-512 and a larger L2.
pub fn use_winograd(enabled: bool) {
    WINOGRAD.store(enabled, Ordering::Relaxed);
}

/// Whether [`use_winograd`] turned the Winograd convolution on.
pub fn winograd_enabled() -> bool {
    WINOGRAD.load(Ordering::Relaxed)
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

/// Batch norm followed, when `relu`, by a ReLU: `relu(norm.forward(x))` in one operation.
///
/// On flex this crate's fused kernels run: in training (an autodiff device, the layer not
/// frozen) with the batch's statistics, updating the running ones as burn's [`BatchNorm`]
/// does (same momentum, same biased batch variance, so a model trained either way saves the
/// same record); at inference (a plain device) with the running statistics. Everything else
/// (other backends, a frozen layer on an autodiff device) is burn's own layer.
pub fn batch_norm(norm: &BatchNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let device = x.device();
    let project = project_kernel_enabled() && runs_on_flex(&device);
    let training = device.is_autodiff() && norm.training.is_enabled();
    if project && !device.is_autodiff() {
        let output = <Dispatch as BatchNormBackend>::batch_norm_inference_fused(
            x.into_dispatch(),
            norm.gamma.val().into_dispatch(),
            norm.beta.val().into_dispatch(),
            norm.running_mean.value().to_device(&device).into_dispatch(),
            norm.running_var.value().to_device(&device).into_dispatch(),
            norm.epsilon,
            relu,
        );
        return Tensor::from_dispatch(output);
    }
    if !(project && training) {
        let y = norm.forward(x);
        return if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        };
    }
    let (output, mean, variance) = <Dispatch as BatchNormBackend>::batch_norm_train_fused(
        x.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        norm.beta.val().into_dispatch(),
        norm.epsilon,
        relu,
    );
    let (mean, variance): (Tensor<1>, Tensor<1>) =
        (Tensor::from_dispatch(mean), Tensor::from_dispatch(variance));
    let momentum = norm.momentum;
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - momentum)
            .add(batch.detach().mul_scalar(momentum))
            .detach()
    };
    norm.running_mean
        .update(blend(norm.running_mean.value_sync(), mean));
    norm.running_var
        .update(blend(norm.running_var.value_sync(), variance));
    Tensor::from_dispatch(output)
}

/// Batch norm (and ReLU) as a backend extension. Training mode returns
/// `(output, mean, variance)`, the statistics `[channels]` and not differentiated, as burn's
/// `batch_norm_train`; inference mode normalises with the statistics it is given.
#[backend_extension(Flex, Autodiff)]
pub trait BatchNormBackend: Backend {
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_inference_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self>;

    fn batch_norm_train_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The gradients of [`BatchNormBackend::batch_norm_train_fused`]: `(dx, dγ, dβ)`.
pub trait BatchNormGradients: Backend {
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_train_fused_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// A contiguous f32 rank-1 flex tensor's values.
fn f32_vector(tensor: &FlexTensor) -> Option<&[f32]> {
    if tensor.dtype() != DType::F32 || tensor.layout().shape().num_dims() != 1 {
        return None;
    }
    tensor.as_slice::<f32>()
}

fn flex_f32_vector(values: Vec<f32>) -> FlexTensor {
    let len = values.len();
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(Shape::from([len])),
        DType::F32,
    )
}

impl BatchNormBackend for Flex {
    /// Anything but f32 NCHW input with matching per-channel tensors goes to burn's generic
    /// batch norm.
    fn batch_norm_inference_fused(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> FlexTensor {
        let [x, gamma, beta, mean, variance] = [x, gamma, beta, mean, variance].map(contiguous);
        if let Some((xs, dims @ [n, c, h, w])) = f32_view(&x)
            && let [Some(gs), Some(bs), Some(ms), Some(vs)] =
                [&gamma, &beta, &mean, &variance].map(f32_vector)
            && [gs, bs, ms, vs].iter().all(|v| v.len() == c)
        {
            let output = batch_norm_inference_f32(xs, [n, c, h * w], gs, bs, ms, vs, epsilon, relu);
            return flex_f32(output, dims);
        }
        let output = Flex::batch_norm(x, gamma, beta, mean, variance, epsilon);
        if relu { Flex::relu(output) } else { output }
    }

    /// Anything but f32 NCHW input with matching per-channel parameters goes to burn's
    /// generic batch norm.
    fn batch_norm_train_fused(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
        if let (Some((xs, dims @ [n, c, h, w])), Some(gs), Some(bs)) =
            (f32_view(&x), f32_vector(&gamma), f32_vector(&beta))
            && gs.len() == c
            && bs.len() == c
        {
            let result = batch_norm_train_f32(xs, [n, c, h * w], gs, bs, epsilon, relu);
            return (
                flex_f32(result.output, dims),
                flex_f32_vector(result.mean),
                flex_f32_vector(result.variance),
            );
        }
        let result = Flex::batch_norm_train(x, gamma, beta, epsilon);
        let output = if relu {
            Flex::relu(result.output)
        } else {
            result.output
        };
        (output, result.mean, result.variance)
    }
}

impl BatchNormGradients for Flex {
    fn batch_norm_train_fused_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        relu: bool,
        dy: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [x, gamma, beta, mean, variance, dy] =
            [x, gamma, beta, mean, variance, dy].map(contiguous);
        if let (Some((xs, dims @ [n, c, h, w])), Some((dys, dy_dims))) =
            (f32_view(&x), f32_view(&dy))
            && dy_dims == dims
            && let [Some(gs), Some(bs), Some(ms), Some(vs)] =
                [&gamma, &beta, &mean, &variance].map(f32_vector)
            && [gs, bs, ms, vs].iter().all(|v| v.len() == c)
        {
            let (dx, dgamma, dbeta) = batch_norm_train_backward_f32(
                xs,
                [n, c, h * w],
                gs,
                bs,
                ms,
                vs,
                epsilon,
                relu,
                dys,
            );
            return (
                flex_f32(dx, dims),
                flex_f32_vector(dgamma),
                flex_f32_vector(dbeta),
            );
        }
        let dy = if relu {
            let normalized = Flex::batch_norm(
                x.clone(),
                gamma.clone(),
                beta,
                mean.clone(),
                variance.clone(),
                epsilon,
            );
            Flex::relu_backward(Flex::relu(normalized), dy)
        } else {
            dy
        };
        let result = Flex::batch_norm_train_backward(x, gamma, mean, variance, epsilon, dy);
        (result.x_grad, result.gamma_grad, result.beta_grad)
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl<B: BatchNormBackend + BatchNormGradients> Backward<B, 3> for BatchNormBackward {
    /// Checkpoints of `x`, `gamma` and `beta`; the batch statistics as the forward computed
    /// them; epsilon and whether the ReLU was applied.
    type State = (
        NodeId,
        NodeId,
        NodeId,
        FloatTensor<B>,
        FloatTensor<B>,
        f64,
        bool,
    );

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        let (x_state, gamma_state, beta_state, mean, variance, epsilon, relu) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let gamma: FloatTensor<B> = checkpointer.retrieve_node_output(gamma_state);
        let beta: FloatTensor<B> = checkpointer.retrieve_node_output(beta_state);
        let (dx, dgamma, dbeta) = B::batch_norm_train_fused_backward(
            x,
            gamma,
            beta,
            mean,
            variance,
            epsilon,
            relu,
            output_grad,
        );
        for (node, grad) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: BatchNormBackend + BatchNormGradients, C: CheckpointStrategy> BatchNormBackend
    for Autodiff<B, C>
{
    /// burn's generic batch norm, differentiable. Not reached through [`batch_norm`], which
    /// runs the inference kernel on plain devices only.
    fn batch_norm_inference_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self> {
        let output = Self::batch_norm(x, gamma, beta, mean, variance, epsilon);
        if relu { Self::relu(output) } else { output }
    }

    fn batch_norm_train_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let beta_state = prep.checkpoint(&beta);
                let (output, mean, variance) = B::batch_norm_train_fused(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    relu,
                );
                let state = (
                    x_state,
                    gamma_state,
                    beta_state,
                    mean.clone(),
                    variance.clone(),
                    epsilon,
                    relu,
                );
                (
                    prep.finish(state, output),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
            OpsKind::UnTracked(prep) => {
                let (output, mean, variance) = B::batch_norm_train_fused(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    relu,
                );
                (
                    prep.finish(output),
                    Self::from_inner(mean),
                    Self::from_inner(variance),
                )
            }
        }
    }
}

/// 2x2 max pooling, stride 2, no padding: `[n, c, h, w]` -> `[n, c, h / 2, w / 2]`, as
/// burn's `MaxPool2d` with a 2x2 kernel. Differentiable on every backend; on flex it runs this
/// crate's kernel, elsewhere burn's layer.
pub fn max_pool2x2(x: Tensor<4>) -> Tensor<4> {
    if project_kernel_enabled() && runs_on_flex(&x.device()) {
        Tensor::from_dispatch(<Dispatch as MaxPoolBackend>::max_pool2x2(x.into_dispatch()))
    } else {
        burn::nn::pool::MaxPool2dConfig::new([2, 2])
            .init()
            .forward(x)
    }
}

const POOL_WINDOW: [usize; 2] = [2, 2];

#[backend_extension(Flex, Autodiff)]
pub trait MaxPoolBackend: Backend {
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The input gradient of [`MaxPoolBackend::max_pool2x2`], for the autodiff wrapper.
pub trait MaxPoolGradients: Backend {
    fn max_pool2x2_backward(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl MaxPoolBackend for Flex {
    fn max_pool2x2(x: FlexTensor) -> FlexTensor {
        let x = contiguous(x);
        if let Some((xs, dims @ [n, c, h, w])) = f32_view(&x) {
            return flex_f32(max_pool2x2_f32(xs, dims), [n, c, h / 2, w / 2]);
        }
        Flex::max_pool2d(x, POOL_WINDOW, POOL_WINDOW, [0, 0], [1, 1], false)
    }
}

impl MaxPoolGradients for Flex {
    fn max_pool2x2_backward(x: FlexTensor, dy: FlexTensor) -> FlexTensor {
        let (x, dy) = (contiguous(x), contiguous(dy));
        if let (Some((xs, dims @ [n, c, h, w])), Some((dys, dy_dims))) =
            (f32_view(&x), f32_view(&dy))
            && dy_dims == [n, c, h / 2, w / 2]
        {
            return flex_f32(max_pool2x2_backward_f32(xs, dims, dys), dims);
        }
        let indices_dtype = burn::tensor::IntDType::I64;
        let pooled = Flex::max_pool2d_with_indices(
            x.clone(),
            POOL_WINDOW,
            POOL_WINDOW,
            [0, 0],
            [1, 1],
            false,
            indices_dtype,
        );
        Flex::max_pool2d_with_indices_backward(
            x,
            POOL_WINDOW,
            POOL_WINDOW,
            [0, 0],
            [1, 1],
            false,
            dy,
            pooled.indices,
        )
        .x_grad
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl<B: MaxPoolBackend + MaxPoolGradients> Backward<B, 1> for MaxPoolBackward {
    type State = NodeId;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_x {
            let x: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state);
            grads.register::<B>(node.id, B::max_pool2x2_backward(x, output_grad));
        }
    }
}

impl<B: MaxPoolBackend + MaxPoolGradients, C: CheckpointStrategy> MaxPoolBackend
    for Autodiff<B, C>
{
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let output = B::max_pool2x2(x.into_primitive());
                prep.finish(x_state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool2x2(x.into_primitive())),
        }
    }
}

#[cfg(test)]
mod tests;
