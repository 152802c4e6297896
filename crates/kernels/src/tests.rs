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

fn to_vec(t: Tensor<4>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 after convert")
}

fn assert_close(ours: Tensor<4>, reference: Tensor<4>, what: &str) {
    assert_eq!(ours.dims(), reference.dims(), "{what}: shapes");
    let (ours, reference) = (to_vec(ours), to_vec(reference));
    let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
        assert!(
            (a - b).abs() <= 2e-5 * scale,
            "{what}[{i}]: {a} (project kernel) vs {b} (burn)"
        );
    }
}

const SHAPES: [([usize; 4], usize); 4] = [
    ([4, 3, 9, 7], 5),
    ([2, 1, 28, 28], 16),
    ([3, 16, 14, 14], 8),
    ([5, 2, 1, 3], 4),
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
