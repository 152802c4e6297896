//! Times training steps of candidate architectures on flex (a development probe).
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use model::{CnnConfig, StageConfig};
use std::time::Instant;

fn main() {
    let batch: usize = std::env::var("BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(128);
    let steps: usize = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    // ARCHS="32x1,48x2,96x2;32x1,64x2,128x2" picks the candidates (stage channels x convs).
    let archs = std::env::var("ARCHS")
        .unwrap_or_else(|_| "24x1,48x2,96x2;32x1,64x2,128x2;32x1,48x2,96x2".to_string());
    let configs: Vec<(&str, Vec<(usize, usize)>)> = archs
        .split(';')
        .map(|arch| {
            let stages = arch
                .split(',')
                .map(|stage| {
                    let (c, n) = stage.split_once('x').expect("stage as CxN");
                    (c.parse().expect("channels"), n.parse().expect("convs"))
                })
                .collect();
            (arch, stages)
        })
        .collect();
    let dev = Device::flex().autodiff();
    for (name, stages) in configs {
        let cfg = CnnConfig {
            stages: stages
                .iter()
                .map(|&(channels, convs)| StageConfig { channels, convs })
                .collect(),
            ..CnnConfig::default()
        };
        let mut model = cfg.init(&dev).unwrap();
        let mut opt = SgdConfig::new().init();
        let loss_fn = CrossEntropyLossConfig::new().init(&dev);
        let x = Tensor::<4>::random(
            [batch, 1, 28, 28],
            burn::tensor::Distribution::Default,
            &dev,
        );
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(
                (0..batch as i64).map(|i| i % 10).collect::<Vec<_>>(),
                [batch],
            ),
            &dev,
        );
        let mut t = Instant::now();
        for s in 0..steps + 3 {
            if s == 3 {
                t = Instant::now();
            }
            let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
            let _ = loss.clone().into_scalar::<f32>();
            let g = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(0.01, model, g);
        }
        let train = (steps * batch) as f64 / t.elapsed().as_secs_f64();
        let m = model.valid();
        let xi = Tensor::<4>::random(
            [500, 1, 28, 28],
            burn::tensor::Distribution::Default,
            &Device::flex(),
        );
        let _ = m.forward(xi.clone()).into_data();
        let t = Instant::now();
        for _ in 0..4 {
            let _ = m.forward(xi.clone()).into_data();
        }
        let infer = 2000.0 / t.elapsed().as_secs_f64();
        println!(
            "{name:28} {:>8} params {:>6.1} MMAC  train {train:7.0} img/s  infer {infer:7.0} img/s",
            m.num_params(),
            cfg.forward_macs() as f64 / 1e6
        );
    }
}
