//! The GPU code path (burn's wgpu backend) on whatever adapter this machine has. CI has no GPU:
//! there it runs on Mesa's software Vulkan driver (lavapipe, package mesa-vulkan-drivers),
//! which exercises the same shaders, slowly. Shapes stay small for that reason.
#![cfg(feature = "gpu")]

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use model::{Cnn, CnnConfig};
mod common;

use common::*;
use std::path::{Path, PathBuf};
use trainer::backend::{Backend, BackendChoice, Compute};

/// The wgpu backend, or `None` outside CI when this machine has no adapter at all; in CI a
/// missing adapter fails the test.
fn wgpu() -> Option<Compute> {
    match Compute::open(BackendChoice::Wgpu) {
        Ok(compute) => Some(compute),
        Err(e) => {
            assert!(
                std::env::var("CI").ok().is_none_or(|v| v != "true"),
                "CI=true but no wgpu adapter: install mesa-vulkan-drivers ({e})"
            );
            eprintln!("skipping: {e}");
            None
        }
    }
}

/// Deterministic images in [0, 1) (no RNG shared between backends to worry about).
fn images(batch: usize, device: &Device) -> Tensor<4> {
    let values = (0..batch * 784)
        .map(|i| ((i * 7919 + 13) % 1000) as f32 / 1000.0)
        .collect::<Vec<_>>();
    Tensor::from_data(TensorData::new(values, [batch, 1, 28, 28]), device)
}

fn logits(model: &Cnn, device: &Device) -> Vec<f32> {
    model
        .forward(images(6, device))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

fn assert_close(cpu: &[f32], gpu: &[f32], what: &str) {
    assert_eq!(cpu.len(), gpu.len());
    let scale = cpu.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let worst = cpu
        .iter()
        .zip(gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-3 * scale,
        "{what}: flex and wgpu logits differ by {worst} (scale {scale})\nflex {cpu:?}\nwgpu {gpu:?}"
    );
}

fn moved(model: &Cnn, to: &Device) -> Cnn {
    let config = CnnConfig::default();
    config
        .init(to)
        .unwrap()
        .load_bytes(model.to_bytes().unwrap(), Path::new("in memory"))
        .unwrap()
}

#[test]
fn wgpu_agrees_with_flex_and_its_trained_weights_load_on_flex() {
    let Some(gpu) = wgpu() else { return };
    eprintln!("{}", gpu.describe());
    assert_eq!(gpu.backend, Backend::Wgpu);
    let adapter = gpu
        .adapter
        .as_ref()
        .expect("a wgpu backend names its adapter");
    assert!(!adapter.name.is_empty());
    let flex = Device::flex();
    flex.seed(7);

    // The same weights give the same logits on both backends.
    let on_flex = CnnConfig::default().init(&flex).unwrap();
    let on_gpu = moved(&on_flex, &gpu.device);
    assert_close(
        &logits(&on_flex, &flex),
        &logits(&on_gpu, &gpu.device),
        "initial weights",
    );

    // A few training steps on wgpu lower the loss of the batch they see.
    let train_device = gpu.device.clone().autodiff();
    let mut model = moved(&on_flex, &train_device);
    let batch = images(8, &train_device);
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new((0..8i64).map(|i| i % 10).collect::<Vec<_>>(), [8]),
        &train_device,
    );
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    let mut optimizer = AdamConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..4 {
        let loss = loss_fn.forward(model.forward(batch.clone()), labels.clone());
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-2, model, grads);
    }
    assert!(
        losses.iter().all(|l| l.is_finite()) && losses[3] < losses[0],
        "training on wgpu did not lower the loss: {losses:?}"
    );

    // What wgpu trained predicts the same on flex: records are backend-free.
    let trained = model.valid();
    let trained_on_gpu = moved(&trained, &gpu.device);
    let back_on_flex = moved(&trained, &flex);
    assert_close(
        &logits(&back_on_flex, &flex),
        &logits(&trained_on_gpu, &gpu.device),
        "weights trained on wgpu",
    );
}

#[test]
fn wgpu_without_any_adapter_fails_with_the_fallback_flag() {
    let work = tempfile::tempdir().unwrap();
    // Driver lists naming no driver: neither the Vulkan loader nor EGL (wgpu's GL backend)
    // finds a device.
    let no_driver = work.path().join("none.json");
    let out = trainer(work.path())
        .env("VK_ICD_FILENAMES", &no_driver)
        .env("VK_DRIVER_FILES", &no_driver)
        .env("__EGL_VENDOR_LIBRARY_FILENAMES", &no_driver)
        .args(["--backend", "wgpu", "--budget", "5s", "--offline"])
        .args(["--data-dir"])
        .arg(PathBuf::from("/nonexistent"))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("no graphics adapter"), "{all}");
    assert!(all.contains("--backend flex"), "{all}");
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn a_run_on_wgpu_records_its_adapter_and_its_model_evaluates_on_flex() {
    if wgpu().is_none() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("synthetic");
    synthetic_dataset(&data, 300, 40);
    let data_args = |cmd: &mut std::process::Command| {
        cmd.arg("--data-dir")
            .arg(&data)
            .arg("--allow-unverified-data");
    };
    let mut train = trainer(work.path());
    data_args(&mut train);
    // Software adapters compile their shaders for the first minute or more: the budget is
    // sized for that, the assertions are about what the run records, not how well it learns.
    let out = train
        .args(["--backend", "wgpu", "--budget", "90s", "--batch-size", "16"])
        .args(["--run-name", "on-gpu", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let card = json(&work.path().join("models/on-gpu/model.json"));
    assert_eq!(card["backend"], "wgpu", "{card}");
    assert!(
        card["machine"]["cpu"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "the GPU's host is recorded too: {card}"
    );
    let adapter = &card["adapter"];
    assert!(
        adapter["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{card}"
    );
    assert!(adapter["device_type"].is_string(), "{card}");
    assert!(
        text(&out).contains(adapter["name"].as_str().unwrap()),
        "{}",
        text(&out)
    );
    let on_gpu = json(&work.path().join("reports/on-gpu/metrics.json"));

    let mut evaluate = trainer(work.path());
    evaluate.args(["evaluate", "--model", "on-gpu", "--backend", "flex"]);
    data_args(&mut evaluate);
    let out = evaluate.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let on_flex = json(&work.path().join("reports/on-gpu/metrics.json"));
    let (a, b) = (
        on_gpu["accuracy"].as_f64().unwrap(),
        on_flex["accuracy"].as_f64().unwrap(),
    );
    // 40 test images: one image is 2.5 points; float differences may flip a near tie.
    assert!((a - b).abs() <= 0.05, "wgpu {a} vs flex {b}");
}
