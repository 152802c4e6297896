//! The computer a run trained on. A budget buys epochs at that computer's speed (an hour
//! trained ~46 epochs of the default model on one 2-core machine, ~148 on another), so runs
//! are only comparable with it named.

use serde::{Deserialize, Serialize};

/// What `model.json` records under `machine`, as the trainer detected it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// The CPU's model name as the operating system reports it, or the architecture where it
    /// does not say.
    pub cpu: String,
    /// The threads available to this process (std's `available_parallelism`: CPU affinity
    /// and cgroup quotas included; `RAYON_NUM_THREADS`, which the CPU kernels obey, is not).
    pub logical_cores: usize,
    /// The vector instruction sets found at run time among those the CPU kernels choose
    /// between.
    pub vector_extensions: Vec<String>,
}

impl Machine {
    /// `AMD EPYC, 2 logical cores, AVX2 + FMA`.
    pub fn describe(&self) -> String {
        let cores = match self.logical_cores {
            1 => "1 logical core".to_string(),
            n => format!("{n} logical cores"),
        };
        if self.vector_extensions.is_empty() {
            format!("{}, {cores}", self.cpu)
        } else {
            format!(
                "{}, {cores}, {}",
                self.cpu,
                self.vector_extensions.join(" + ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_cpu_its_threads_and_vector_instructions() {
        let mut machine = Machine {
            cpu: "AMD EPYC".into(),
            logical_cores: 2,
            vector_extensions: vec!["AVX2".into(), "FMA".into()],
        };
        assert_eq!(machine.describe(), "AMD EPYC, 2 logical cores, AVX2 + FMA");
        machine.logical_cores = 1;
        machine.vector_extensions.clear();
        assert_eq!(machine.describe(), "AMD EPYC, 1 logical core");
    }
}
