//! `trainer bench`: training and inference throughput of the default model and of the two
//! reference nets (A and B, the architectures the PyTorch reference runs too) on each
//! backend. Random images, a fixed number of steps after a warm-up, Adam, cross-entropy: the
//! same work `benches/pytorch_reference.py` times, so the two can be set side by side.

use crate::backend::{Backend, BackendError, Compute};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use model::reference_nets::{PlainCnn, ReferenceArch};
use model::{Classifier, CnnConfig, ModelError};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchModel {
    /// The product's default CNN.
    Default,
    /// Reference net A (conv 32-32-pool-64-64-pool, FC 128, FC 10).
    #[value(name = "A", alias = "a")]
    A,
    /// Reference net B (conv 16-pool-32-pool, FC 10).
    #[value(name = "B", alias = "b")]
    B,
}

impl BenchModel {
    pub fn name(self) -> &'static str {
        match self {
            BenchModel::Default => "default",
            BenchModel::A => "A",
            BenchModel::B => "B",
        }
    }
}

/// Whose kernels the models run for their 3x3 convolutions, batch norms (with the ReLU after
/// them) and 2x2 max pools. The flag and the JSON key keep the name `conv` from when the
/// convolution was the only project kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConvKernel {
    /// The project's kernels (crates/kernels: im2col + GEMM, fused batch norm + ReLU, max
    /// pooling without an index tensor); flex only.
    Project,
    /// The project's kernels with the convolution by Winograd's F(2x2, 3x3) where the input
    /// has 16 channels or more (an alternative the trainer does not use); flex only.
    Winograd,
    /// burn's own operations.
    Burn,
}

impl ConvKernel {
    pub fn name(self) -> &'static str {
        match self {
            ConvKernel::Project => "project",
            ConvKernel::Winograd => "winograd",
            ConvKernel::Burn => "burn",
        }
    }
}

/// One line of the benchmark; the JSON keys are part of the interface.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    pub model: String,
    pub backend: String,
    /// Whose kernels: "project", "winograd" or "burn" (see [`ConvKernel`]).
    pub conv: String,
    /// The GPU adapter on wgpu, as wgpu names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// The computer, as `Machine::describe` words it (see `Machine` for why).
    pub machine: String,
    pub batch: usize,
    pub parameters: usize,
    pub train_img_s: f64,
    pub infer_img_s: f64,
    /// Timed steps (training and inference each), after the warm-up.
    pub steps: usize,
}

/// What to measure; also the `bench` subcommand's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchPlan {
    /// Models to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [BenchModel::Default, BenchModel::A, BenchModel::B])]
    pub models: Vec<BenchModel>,
    /// Backends to measure, comma-separated (wgpu needs the `gpu` feature).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Backend::Flex, Backend::Ndarray])]
    pub backends: Vec<Backend>,
    /// Kernels to compare, comma-separated: the project's (convolution, batch norm + ReLU, max
    /// pooling; flex only), the same with the Winograd convolution (flex only), or burn's.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [ConvKernel::Project, ConvKernel::Burn])]
    pub convs: Vec<ConvKernel>,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Untimed steps before the clock starts.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed steps (default: 20 on flex, 3 on ndarray, which trains ~30x slower).
    #[arg(long)]
    pub steps: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Runs every (model, backend) pair of the plan, reporting each row as it is measured.
pub fn run_bench(
    plan: &BenchPlan,
    on_row: &mut dyn FnMut(&BenchRow),
) -> Result<Vec<BenchRow>, BenchError> {
    let mut rows = Vec::new();
    for &backend in &plan.backends {
        let compute = Compute::open(backend.choice())?;
        let steps = plan.steps.unwrap_or(match backend {
            Backend::Flex | Backend::Wgpu => 20,
            Backend::Ndarray => 3,
        });
        let convs = plan
            .convs
            .iter()
            .filter(|&&c| backend == Backend::Flex || c == ConvKernel::Burn);
        for &conv in convs {
            for &which in &plan.models {
                // The switch is process-wide: set for this measurement, back to the default
                // (the project kernel) right after, error or not.
                kernels::use_project_kernel(conv != ConvKernel::Burn);
                kernels::use_winograd(conv == ConvKernel::Winograd);
                let row = measure_one(plan, &compute, conv, which, steps);
                kernels::use_project_kernel(true);
                kernels::use_winograd(false);
                let row = row?;
                on_row(&row);
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

fn measure_one(
    plan: &BenchPlan,
    compute: &Compute,
    conv: ConvKernel,
    which: BenchModel,
    steps: usize,
) -> Result<BenchRow, ModelError> {
    let inference_device = compute.device.clone();
    let device = inference_device.clone().autodiff();
    device.seed(0);
    let work = Workload {
        device: &device,
        inference_device: &inference_device,
        batch: plan.batch,
        warmup: plan.warmup,
        steps,
    };
    let (train, infer, parameters) = match which {
        BenchModel::Default => work.measure(CnnConfig::default().init(&device)?),
        BenchModel::A => work.measure(PlainCnn::new(ReferenceArch::A, &device)),
        BenchModel::B => work.measure(PlainCnn::new(ReferenceArch::B, &device)),
    };
    Ok(BenchRow {
        model: which.name().to_string(),
        backend: compute.backend.name().to_string(),
        conv: conv.name().to_string(),
        adapter: compute.adapter.as_ref().map(|a| a.name.clone()),
        machine: compute.machine.describe(),
        batch: plan.batch,
        parameters,
        train_img_s: train,
        infer_img_s: infer,
        steps,
    })
}

/// The same work for every model: devices, batch, warm-up and timed steps.
struct Workload<'a> {
    device: &'a Device,
    inference_device: &'a Device,
    batch: usize,
    warmup: usize,
    steps: usize,
}

impl Workload<'_> {
    /// (train images/s, inference images/s, parameters). Each step is forced to finish (its
    /// loss or logits read back) before the next starts, so the clock sees all of its work.
    fn measure<M: Classifier>(&self, mut model: M) -> (f64, f64, usize) {
        let parameters = model.num_params();
        let train;
        (train, model) = self.train_rate(model);
        let infer = self.inference_rate(&model);
        (train, infer, parameters)
    }

    /// Training images/s, and the model the steps trained.
    fn train_rate<M: Classifier>(&self, mut model: M) -> (f64, M) {
        let Workload {
            device,
            batch,
            warmup,
            steps,
            ..
        } = *self;
        let images = Tensor::<4>::random(
            [batch, 1, 28, 28],
            burn::tensor::Distribution::Default,
            device,
        );
        let labels = Tensor::<1, Int>::from_data(
            TensorData::new(
                (0..batch as i64).map(|i| i % 10).collect::<Vec<_>>(),
                [batch],
            ),
            device,
        );
        let loss_fn = CrossEntropyLossConfig::new().init(device);
        let mut optimizer = AdamConfig::new().init();
        let mut start = Instant::now();
        for step in 0..warmup + steps {
            if step == warmup {
                start = Instant::now();
            }
            let loss = loss_fn.forward(model.logits(images.clone()), labels.clone());
            let _ = loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(1e-3, model, grads);
        }
        (
            (steps * batch) as f64 / start.elapsed().as_secs_f64(),
            model,
        )
    }

    fn inference_rate<M: Classifier>(&self, model: &M) -> f64 {
        let Workload {
            inference_device,
            batch,
            warmup,
            steps,
            ..
        } = *self;
        let inference = model.valid();
        let images = Tensor::<4>::random(
            [batch, 1, 28, 28],
            burn::tensor::Distribution::Default,
            inference_device,
        );
        let mut start = Instant::now();
        for step in 0..warmup + steps {
            if step == warmup {
                start = Instant::now();
            }
            let _ = inference.logits(images.clone()).into_data();
        }
        (steps * batch) as f64 / start.elapsed().as_secs_f64()
    }
}

/// Training images/s of `config` on `compute` (a few steps after a short warm-up): what a
/// search plan needs to know how many epochs a budget buys.
pub fn training_images_per_second(
    compute_device: &Device,
    config: &CnnConfig,
    batch: usize,
) -> Result<f64, ModelError> {
    let device = compute_device.clone().autodiff();
    let work = Workload {
        device: &device,
        inference_device: compute_device,
        batch,
        warmup: 2,
        steps: 3,
    };
    Ok(work.train_rate(config.init(&device)?).0)
}

/// The rows as a Markdown table.
pub fn table(rows: &[BenchRow]) -> String {
    let mut t = report::Table::new(&[
        "model",
        "backend",
        "conv",
        "batch",
        "parameters",
        "train img/s",
        "inference img/s",
        "timed steps",
    ]);
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                r.model.clone(),
                match &r.adapter {
                    Some(adapter) => format!("{} ({adapter})", r.backend),
                    None => r.backend.clone(),
                },
                r.conv.clone(),
                r.batch.to_string(),
                r.parameters.to_string(),
                format!("{:.0}", r.train_img_s),
                format!("{:.0}", r.infer_img_s),
                r.steps.to_string(),
            ]
        })
        .collect();
    t.markdown()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_every_model_and_backend_of_the_plan() {
        let plan = BenchPlan {
            models: vec![BenchModel::B, BenchModel::Default],
            backends: vec![Backend::Flex],
            convs: vec![ConvKernel::Project],
            batch: 4,
            warmup: 1,
            steps: Some(1),
        };
        let mut seen = Vec::new();
        let rows = run_bench(&plan, &mut |r| seen.push(r.model.clone())).unwrap();
        assert_eq!(seen, vec!["B", "default"]);
        assert_eq!(rows[0].parameters, 20_490);
        assert!(
            rows.iter()
                .all(|r| r.train_img_s > 0.0 && r.infer_img_s > 0.0)
        );
        let json = serde_json::to_value(&rows).unwrap();
        for key in ["model", "backend", "batch", "train_img_s", "infer_img_s"] {
            assert!(json[0].get(key).is_some(), "{key}");
        }
        assert_eq!(
            json[0]["machine"],
            crate::backend::detect_machine().describe(),
            "where it was measured"
        );
        assert!(table(&rows).contains("| B "));
    }
}
