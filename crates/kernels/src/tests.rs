//! The kernel against burn's own convolution, forward and gradients, through the same public
//! entry point the model uses.

use super::*;
use burn::tensor::TensorData;

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let v = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            ((v >> 8) % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn tensor(dims: [usize; 4], seed: u32, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(values(dims.iter().product(), seed), dims),
        device,
    )
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 after convert")
}

fn assert_close(ours: Tensor<4>, reference: Tensor<4>, what: &str) {
    assert_eq!(ours.dims(), reference.dims(), "{what}: shapes");
    assert_close_values(&to_vec(ours), &to_vec(reference), 2e-5, what);
}

/// Every element within `tolerance` times the reference's largest magnitude (at least 1).
fn assert_close_values(ours: &[f32], reference: &[f32], tolerance: f32, what: &str) {
    assert_eq!(ours.len(), reference.len(), "{what}: lengths");
    let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!(
            (a - b).abs() <= tolerance * scale,
            "{what}[{i}]: {a} (project kernel) vs {b} (burn)"
        );
    }
}

const SHAPES: [([usize; 4], usize); 6] = [
    ([4, 3, 9, 7], 5),
    ([2, 1, 28, 28], 16),
    ([3, 16, 14, 14], 8),
    ([3, 20, 7, 9], 24),
    ([5, 2, 1, 3], 4),
    // 7x7 images go six to a GEMM: with one or two threads, full groups and a last one of
    // five.
    ([35, 4, 7, 7], 6),
];

#[test]
fn forward_on_flex_matches_burns_convolution_and_runs_the_project_kernel() {
    let device = Device::flex();
    for (x_dims, c_out) in SHAPES {
        let x = tensor(x_dims, 1, &device);
        let weight = tensor([c_out, x_dims[1], 3, 3], 2, &device);
        let ours = conv3x3(x.clone(), weight.clone());
        // Bit-identical to the slice kernel: the call really went through it.
        let direct = conv3x3_f32(&to_vec(x.clone()), x_dims, &to_vec(weight.clone()), c_out);
        assert_eq!(to_vec(ours.clone()), direct, "{x_dims:?}");
        let reference = burn::tensor::module::conv2d(x, weight, None, same_3x3_options());
        assert_close(ours, reference, &format!("forward {x_dims:?}"));
    }
}

#[test]
fn gradients_on_flex_match_burns_convolution() {
    let device = Device::flex().autodiff();
    for (x_dims, c_out) in SHAPES {
        let [n, c_in, h, w] = x_dims;
        // Weighting the outputs gives every output element a different gradient.
        let upstream = tensor([n, c_out, h, w], 3, &device);
        let gradients = |project: bool| {
            let x = tensor(x_dims, 1, &device).require_grad();
            let weight = tensor([c_out, c_in, 3, 3], 2, &device).require_grad();
            let y = if project {
                conv3x3(x.clone(), weight.clone())
            } else {
                burn::tensor::module::conv2d(x.clone(), weight.clone(), None, same_3x3_options())
            };
            let grads = (y * upstream.clone()).sum().backward();
            let dx = x.grad(&grads).expect("x is tracked");
            let dw = weight.grad(&grads).expect("the weight is tracked");
            (dx, dw)
        };
        let (dx, dw) = gradients(true);
        let (ref_dx, ref_dw) = gradients(false);
        assert_close(dx.clone(), ref_dx, &format!("input gradient {x_dims:?}"));
        assert_close(dw.clone(), ref_dw, &format!("weight gradient {x_dims:?}"));
        // The gradients are the project kernel's own, bit for bit.
        let dy = to_vec(upstream.clone().inner());
        let xs = to_vec(tensor(x_dims, 1, &Device::flex()));
        let ws = to_vec(tensor([c_out, c_in, 3, 3], 2, &Device::flex()));
        assert_eq!(
            to_vec(dw),
            conv3x3_weight_grad_f32(&xs, x_dims, &dy, c_out),
            "{x_dims:?}"
        );
        assert_eq!(
            to_vec(dx),
            conv3x3_input_grad_f32(&dy, [n, c_out, h, w], &ws, c_in),
            "{x_dims:?}"
        );
    }
}

#[test]
#[allow(deprecated)]
fn other_backends_use_burns_convolution() {
    let device = Device::ndarray();
    let (x_dims, c_out) = SHAPES[0];
    let x = tensor(x_dims, 1, &device);
    let weight = tensor([c_out, x_dims[1], 3, 3], 2, &device);
    let ours = conv3x3(x.clone(), weight.clone());
    let reference = burn::tensor::module::conv2d(x, weight, None, same_3x3_options());
    assert_eq!(to_vec(ours), to_vec(reference));
}

#[test]
fn other_dtypes_fall_back_to_burns_convolution_on_flex() {
    let device = Device::flex();
    let (x_dims, c_out) = SHAPES[0];
    let x = tensor(x_dims, 1, &device).cast(burn::tensor::FloatDType::F64);
    let weight = tensor([c_out, x_dims[1], 3, 3], 2, &device).cast(burn::tensor::FloatDType::F64);
    let ours = conv3x3(x.clone(), weight.clone());
    let reference = burn::tensor::module::conv2d(x, weight, None, same_3x3_options());
    assert_eq!(to_vec(ours), to_vec(reference));
}

/// A batch norm layer whose parameters are not the identity: γ around 1, of both signs for
/// one channel, β around 0.
fn batch_norm_layer(channels: usize, device: &Device) -> BatchNorm {
    let mut norm = burn::nn::BatchNormConfig::new(channels).init(device);
    let mut gamma: Vec<f32> = values(channels, 7).iter().map(|v| 1.0 + v).collect();
    gamma[0] = -0.7;
    norm.gamma = burn::module::Param::from_tensor(Tensor::from_data(
        TensorData::new(gamma, [channels]),
        device,
    ));
    norm.beta = burn::module::Param::from_tensor(Tensor::from_data(
        TensorData::new(values(channels, 8), [channels]),
        device,
    ));
    norm
}

/// Input with a per-channel offset and spread, as a convolution's output has: the statistics
/// are not those of the raw test values.
fn batch_norm_input(dims: [usize; 4], device: &Device) -> Tensor<4> {
    let [n, c, h, w] = dims;
    let raw = values(n * c * h * w, 9);
    let shaped = raw
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let channel = (i / (h * w)) % c;
            3.0 * channel as f32 - 2.0 + (1.0 + channel as f32) * v
        })
        .collect();
    Tensor::from_data(TensorData::new(shaped, dims), device)
}

const NORM_SHAPES: [[usize; 4]; 4] = [[4, 3, 5, 7], [8, 16, 28, 28], [3, 8, 1, 1], [1, 5, 4, 19]];

#[test]
fn fused_batch_norm_matches_burns_layer_forward_and_running_statistics() {
    let device = Device::flex().autodiff();
    for dims in NORM_SHAPES {
        for relu in [true, false] {
            let norm = batch_norm_layer(dims[1], &device);
            let reference_norm = norm.clone();
            let x = batch_norm_input(dims, &device);
            let ours = batch_norm(&norm, x.clone(), relu);
            let reference = reference_norm.forward(x.clone());
            let reference = if relu {
                burn::tensor::activation::relu(reference)
            } else {
                reference
            };
            let what = format!("{dims:?} relu {relu}");
            // Bit-identical to the slice kernel: the call really went through it.
            let [n, c, h, w] = dims;
            let direct = batch_norm_train_f32(
                &to_vec(x.inner()),
                [n, c, h * w],
                &to_vec(norm.gamma.val().inner()),
                &to_vec(norm.beta.val().inner()),
                norm.epsilon,
                relu,
            );
            assert_eq!(to_vec(ours.clone().inner()), direct.output, "{what}");
            assert_close_values(
                &to_vec(ours.inner()),
                &to_vec(reference.inner()),
                2e-5,
                &format!("output {what}"),
            );
            for (running, reference_running, name) in [
                (&norm.running_mean, &reference_norm.running_mean, "mean"),
                (&norm.running_var, &reference_norm.running_var, "variance"),
            ] {
                assert_close_values(
                    &to_vec(running.value_sync()),
                    &to_vec(reference_running.value_sync()),
                    2e-5,
                    &format!("running {name} {what}"),
                );
            }
        }
    }
}

#[test]
fn fused_batch_norm_gradients_match_burns_layer() {
    let device = Device::flex().autodiff();
    for dims in NORM_SHAPES {
        for relu in [true, false] {
            let upstream = tensor(dims, 3, &device);
            let gradients = |project: bool| {
                let norm = batch_norm_layer(dims[1], &device);
                let x = batch_norm_input(dims, &device).require_grad();
                let y = if project {
                    batch_norm(&norm, x.clone(), relu)
                } else if relu {
                    burn::tensor::activation::relu(norm.forward(x.clone()))
                } else {
                    norm.forward(x.clone())
                };
                let grads = (y * upstream.clone()).sum().backward();
                let dx = to_vec(x.grad(&grads).expect("x is tracked"));
                let dgamma = to_vec(norm.gamma.grad(&grads).expect("gamma is tracked"));
                let dbeta = to_vec(norm.beta.grad(&grads).expect("beta is tracked"));
                (dx, dgamma, dbeta)
            };
            let ours = gradients(true);
            let reference = gradients(false);
            let what = format!("{dims:?} relu {relu}");
            assert_close_values(&ours.0, &reference.0, 1e-4, &format!("dx {what}"));
            assert_close_values(&ours.1, &reference.1, 1e-4, &format!("dgamma {what}"));
            assert_close_values(&ours.2, &reference.2, 1e-4, &format!("dbeta {what}"));
        }
    }
}

/// A layer at inference: running statistics that are not the initial zeros and ones.
fn trained_batch_norm_layer(channels: usize, device: &Device) -> BatchNorm {
    let mut norm = batch_norm_layer(channels, device);
    let mean: Vec<f32> = values(channels, 10).iter().map(|v| 3.0 * v).collect();
    let variance: Vec<f32> = values(channels, 11).iter().map(|v| 1.5 + v).collect();
    norm.running_mean = burn::module::RunningState::new(Tensor::from_data(
        TensorData::new(mean, [channels]),
        device,
    ));
    norm.running_var = burn::module::RunningState::new(Tensor::from_data(
        TensorData::new(variance, [channels]),
        device,
    ));
    norm
}

#[test]
fn fused_batch_norm_at_inference_matches_burns_layer() {
    let device = Device::flex();
    for dims in NORM_SHAPES {
        for relu in [true, false] {
            let norm = trained_batch_norm_layer(dims[1], &device);
            let x = batch_norm_input(dims, &device);
            let ours = batch_norm(&norm, x.clone(), relu);
            let reference = norm.forward(x.clone());
            let reference = if relu {
                burn::tensor::activation::relu(reference)
            } else {
                reference
            };
            let what = format!("{dims:?} relu {relu}");
            let [n, c, h, w] = dims;
            let direct = batch_norm_inference_f32(
                &to_vec(x),
                [n, c, h * w],
                &to_vec(norm.gamma.val()),
                &to_vec(norm.beta.val()),
                &to_vec(norm.running_mean.value()),
                &to_vec(norm.running_var.value()),
                norm.epsilon,
                relu,
            );
            assert_eq!(to_vec(ours.clone()), direct, "{what}");
            assert_close_values(&to_vec(ours), &to_vec(reference), 2e-5, &what);
        }
    }
}

#[test]
#[allow(deprecated)]
fn batch_norm_on_other_backends_is_burns_layer() {
    let dims = NORM_SHAPES[0];
    for device in [Device::ndarray(), Device::ndarray().autodiff()] {
        let norm = trained_batch_norm_layer(dims[1], &device);
        let x = batch_norm_input(dims, &device);
        let ours = batch_norm(&norm, x.clone(), true);
        let reference = burn::tensor::activation::relu(norm.forward(x));
        assert_eq!(to_vec(ours), to_vec(reference), "{device:?}");
    }
}

const POOL_SHAPES: [[usize; 4]; 4] = [[2, 3, 6, 8], [4, 16, 28, 28], [3, 4, 7, 5], [1, 2, 2, 2]];

#[test]
fn max_pool_matches_burns_layer_forward_and_gradient() {
    let device = Device::flex().autodiff();
    let layer = burn::nn::pool::MaxPool2dConfig::new([2, 2]).init();
    for dims in POOL_SHAPES {
        let [n, c, h, w] = dims;
        let upstream = tensor([n, c, h / 2, w / 2], 5, &device);
        let run = |project: bool| {
            let x = tensor(dims, 4, &device).require_grad();
            let y = if project {
                max_pool2x2(x.clone())
            } else {
                layer.forward(x.clone())
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            (to_vec(y), to_vec(x.grad(&grads).expect("x is tracked")))
        };
        let (ours, ours_dx) = run(true);
        let (reference, reference_dx) = run(false);
        assert_eq!(ours, reference, "forward {dims:?}");
        assert_eq!(ours_dx, reference_dx, "gradient {dims:?}");
        // The project kernel ran: its slice functions give the same bits.
        let xs = to_vec(tensor(dims, 4, &Device::flex()));
        assert_eq!(ours, max_pool2x2_f32(&xs, dims), "{dims:?}");
        let dy = to_vec(upstream.inner());
        assert_eq!(
            ours_dx,
            max_pool2x2_backward_f32(&xs, dims, &dy),
            "{dims:?}"
        );
    }
}

#[test]
fn max_pool_gradient_goes_to_the_first_maximum_of_a_tied_window() {
    // One 2x4 plane: a window of zeros (what ReLU leaves) and one tied at 3 in its bottom row.
    let x = [0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 3.0];
    let dx = max_pool2x2_backward_f32(&x, [1, 1, 2, 4], &[10.0, 20.0]);
    assert_eq!(dx, [10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 20.0, 0.0]);
    assert_eq!(max_pool2x2_f32(&x, [1, 1, 2, 4]), [0.0, 3.0]);
}
