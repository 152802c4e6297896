//! Which burn backend runs the model. Everything else in the trainer takes a `Device` and
//! works the same on any of them.

use burn::prelude::*;
pub use report::Machine;
use serde::{Deserialize, Serialize};

/// A backend that actually ran (recorded in model.json and metrics.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's pure-Rust CPU backend; the fastest CPU backend measured here.
    Flex,
    /// burn's ndarray CPU backend (deprecated by burn 0.22; much slower at training here).
    Ndarray,
    /// burn's wgpu backend: Vulkan (Linux), Metal or DX12 on a GPU. Needs the `gpu` feature.
    Wgpu,
}

/// What the user asks for with `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendChoice {
    /// A hardware GPU through wgpu when the build has the `gpu` feature and one is found,
    /// otherwise flex. A software adapter (llvmpipe/lavapipe) never wins.
    #[default]
    Auto,
    Flex,
    Ndarray,
    Wgpu,
}

impl std::fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Flex => "flex",
            BackendChoice::Ndarray => "ndarray",
            BackendChoice::Wgpu => "wgpu",
        })
    }
}

/// The graphics adapter a wgpu run used, as wgpu describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuAdapter {
    pub name: String,
    /// wgpu's device type: DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu or Other.
    pub device_type: String,
    /// The graphics API under wgpu (Vulkan, Metal, Dx12, Gl).
    pub graphics_api: String,
    pub driver: String,
}

impl GpuAdapter {
    /// A CPU rasteriser such as llvmpipe/lavapipe: it runs the GPU code path, slowly.
    pub fn is_software(&self) -> bool {
        self.device_type == "Cpu"
    }

    pub fn describe(&self) -> String {
        let driver = if self.driver.is_empty() {
            String::new()
        } else {
            format!(", driver {}", self.driver)
        };
        format!(
            "{} ({}, {}{driver})",
            self.name, self.device_type, self.graphics_api
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "--backend wgpu needs a trainer built with the `gpu` cargo feature: run \
         `cargo run -p trainer --features gpu -- ...`, or use --backend flex (CPU)"
    )]
    GpuNotBuilt,
    #[error(
        "--backend wgpu: no graphics adapter could be opened ({0}). Install a Vulkan driver \
         (on Debian: `apt-get install libvulkan1 mesa-vulkan-drivers`, or your GPU vendor's \
         driver), or train on the CPU with --backend flex"
    )]
    NoAdapter(String),
}

/// The computer this process runs on (see [`Machine`] for why it is recorded): the CPU's
/// name, the threads available to this process and the vector instructions the kernels can
/// pick (`gemm`, through `pulp`, takes x86-64-v4 (AVX-512) or v3 (AVX2 + FMA) where found,
/// else scalar code: `AVX-512F` stands for v4 here).
pub fn detect_machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| cpu_model_name(&text))
        .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH));
    Machine {
        cpu,
        logical_cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        vector_extensions: vector_extensions(),
    }
}

/// The first `model name` of a Linux `/proc/cpuinfo` (x86; most ARM kernels do not give one),
/// with runs of spaces collapsed.
fn cpu_model_name(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == "model name")
        .map(|(_, value)| value.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|name| !name.is_empty())
}

#[cfg(target_arch = "x86_64")]
fn vector_extensions() -> Vec<String> {
    names_found([
        ("AVX-512F", std::arch::is_x86_feature_detected!("avx512f")),
        ("AVX2", std::arch::is_x86_feature_detected!("avx2")),
        ("FMA", std::arch::is_x86_feature_detected!("fma")),
    ])
}

#[cfg(target_arch = "aarch64")]
fn vector_extensions() -> Vec<String> {
    names_found([("NEON", std::arch::is_aarch64_feature_detected!("neon"))])
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn names_found<const N: usize>(candidates: [(&str, bool); N]) -> Vec<String> {
    candidates
        .into_iter()
        .filter(|(_, found)| *found)
        .map(|(name, _)| name.to_string())
        .collect()
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn vector_extensions() -> Vec<String> {
    Vec::new()
}

/// A backend opened for this process: its device and, on wgpu, the adapter behind it.
#[derive(Debug, Clone)]
pub struct Compute {
    pub backend: Backend,
    /// The inference device; training uses its `.autodiff()` twin.
    pub device: Device,
    pub adapter: Option<GpuAdapter>,
    /// The computer this process runs on (the GPU's host on wgpu).
    pub machine: Machine,
    /// Why this backend, for the log: what `auto` found, or that it was asked for.
    pub reason: String,
}

impl Compute {
    pub fn open(choice: BackendChoice) -> Result<Compute, BackendError> {
        match choice {
            BackendChoice::Flex => Ok(Compute::cpu(Backend::Flex, "asked for")),
            BackendChoice::Ndarray => Ok(Compute::cpu(Backend::Ndarray, "asked for")),
            BackendChoice::Wgpu => {
                let (device, adapter) = open_wgpu()?;
                Ok(Compute::gpu(device, adapter, "asked for"))
            }
            BackendChoice::Auto => Ok(match open_wgpu() {
                Ok((device, adapter)) if !adapter.is_software() => {
                    Compute::gpu(device, adapter, "auto: a hardware GPU adapter was found")
                }
                Ok((_, adapter)) => Compute::cpu(
                    Backend::Flex,
                    &format!(
                        "auto: the only GPU adapter is a software rasteriser ({}), slower than the CPU backend",
                        adapter.name
                    ),
                ),
                Err(BackendError::GpuNotBuilt) => Compute::cpu(
                    Backend::Flex,
                    "auto: built without the `gpu` feature, so no GPU was looked for",
                ),
                Err(BackendError::NoAdapter(_)) => {
                    Compute::cpu(Backend::Flex, "auto: no GPU adapter found")
                }
            }),
        }
    }

    fn gpu(device: Device, adapter: GpuAdapter, reason: &str) -> Compute {
        Compute {
            backend: Backend::Wgpu,
            device,
            adapter: Some(adapter),
            machine: detect_machine(),
            reason: reason.into(),
        }
    }

    fn cpu(backend: Backend, reason: &str) -> Compute {
        Compute {
            backend,
            device: backend.cpu_device(),
            adapter: None,
            machine: detect_machine(),
            reason: reason.into(),
        }
    }

    /// One line for the log: backend, the GPU adapter or the CPU, why.
    pub fn describe(&self) -> String {
        match &self.adapter {
            Some(adapter) => format!(
                "backend {} on {} [{}]",
                self.backend,
                adapter.describe(),
                self.reason
            ),
            None => format!(
                "backend {} (CPU: {}) [{}]",
                self.backend,
                self.machine.describe(),
                self.reason
            ),
        }
    }

    /// What the user should know before training on this backend.
    pub fn warning(&self) -> Option<String> {
        match (&self.backend, &self.adapter) {
            (Backend::Ndarray, _) => Some(
                "the ndarray backend trains the default model at 10-20 images/s on 2 cores, \
                 100-150x slower than flex (1,400-2,000 images/s; `trainer bench`, README \
                 'Speed benchmark'): a budget buys almost no training. Use --backend flex \
                 unless you need ndarray"
                    .into(),
            ),
            (Backend::Wgpu, Some(adapter)) if adapter.is_software() => Some(format!(
                "the wgpu adapter {} is a software rasteriser running on the CPU: it trains \
                 far slower than --backend flex (README 'GPU backend')",
                adapter.name
            )),
            _ => None,
        }
    }
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    /// The choice that reopens this backend, for tools (bench) that take a list of backends.
    pub fn choice(self) -> BackendChoice {
        match self {
            Backend::Flex => BackendChoice::Flex,
            Backend::Ndarray => BackendChoice::Ndarray,
            Backend::Wgpu => BackendChoice::Wgpu,
        }
    }

    fn cpu_device(self) -> Device {
        match self {
            // The product names ndarray as a choice; burn marks it deprecated for flex.
            #[allow(deprecated)]
            Backend::Ndarray => Device::ndarray(),
            Backend::Flex | Backend::Wgpu => Device::flex(),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Opens burn's wgpu runtime once per process: a second registration of the same adapter
/// selector is an error in burn, and every caller (training, evaluation, bench) shares it.
#[cfg(feature = "gpu")]
fn open_wgpu() -> Result<(Device, GpuAdapter), BackendError> {
    static OPENED: std::sync::OnceLock<Result<(Device, GpuAdapter), String>> =
        std::sync::OnceLock::new();
    OPENED
        .get_or_init(|| {
            let (device, setup) = Device::wgpu_options()
                .init_with_setup()
                .map_err(|e| e.to_string())?;
            let info = setup.adapter.get_info();
            let adapter = GpuAdapter {
                name: info.name.clone(),
                device_type: format!("{:?}", info.device_type),
                graphics_api: format!("{:?}", info.backend),
                driver: [info.driver.as_str(), info.driver_info.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            Ok((device, adapter))
        })
        .clone()
        .map_err(BackendError::NoAdapter)
}

#[cfg(not(feature = "gpu"))]
fn open_wgpu() -> Result<(Device, GpuAdapter), BackendError> {
    Err(BackendError::GpuNotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_choices_open_their_backend() {
        let flex = Compute::open(BackendChoice::Flex).unwrap();
        assert_eq!(flex.backend, Backend::Flex);
        assert!(flex.adapter.is_none());
        assert!(flex.warning().is_none());
        let ndarray = Compute::open(BackendChoice::Ndarray).unwrap();
        assert_eq!(ndarray.backend, Backend::Ndarray);
        assert!(ndarray.warning().unwrap().contains("images/s"));
    }

    #[test]
    fn auto_never_picks_a_software_adapter() {
        let auto = Compute::open(BackendChoice::Auto).unwrap();
        match &auto.adapter {
            Some(adapter) => {
                assert_eq!(auto.backend, Backend::Wgpu);
                assert!(!adapter.is_software(), "{}", auto.describe());
            }
            None => assert_eq!(auto.backend, Backend::Flex, "{}", auto.describe()),
        }
        assert!(auto.reason.starts_with("auto:"), "{}", auto.reason);
    }

    #[cfg(not(feature = "gpu"))]
    #[test]
    fn wgpu_without_the_feature_names_the_feature() {
        let err = Compute::open(BackendChoice::Wgpu).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("--features gpu"), "{message}");
        assert!(message.contains("--backend flex"), "{message}");
        let auto = Compute::open(BackendChoice::Auto).unwrap();
        assert!(
            auto.reason.contains("without the `gpu` feature"),
            "{}",
            auto.reason
        );
    }

    #[test]
    fn the_cpu_is_named_from_proc_cpuinfo() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC   7B13 64-Core Processor\nflags\t\t: fpu avx2\n\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            cpu_model_name(x86).as_deref(),
            Some("AMD EPYC 7B13 64-Core Processor")
        );
        let arm =
            "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n";
        assert_eq!(cpu_model_name(arm), None);
        assert_eq!(cpu_model_name("model name\t:   \n"), None);
    }

    #[test]
    fn the_cpu_backend_logs_the_machine() {
        let machine = detect_machine();
        assert!(!machine.cpu.is_empty() && machine.logical_cores >= 1);
        let flex = Compute::open(BackendChoice::Flex).unwrap();
        assert!(
            flex.describe()
                .starts_with(&format!("backend flex (CPU: {}) [", machine.describe())),
            "{}",
            flex.describe()
        );
    }

    #[test]
    fn software_adapters_are_told_apart() {
        let adapter = |device_type: &str| GpuAdapter {
            name: "x".into(),
            device_type: device_type.into(),
            graphics_api: "Vulkan".into(),
            driver: String::new(),
        };
        assert!(adapter("Cpu").is_software());
        for hardware in ["DiscreteGpu", "IntegratedGpu", "VirtualGpu"] {
            assert!(!adapter(hardware).is_software());
        }
    }
}
