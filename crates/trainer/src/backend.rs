//! Which burn backend runs the model. Everything else in the trainer takes a `Device` and
//! works the same on any of them.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's pure-Rust CPU backend; the fastest CPU backend measured here.
    Flex,
    /// burn's ndarray CPU backend (deprecated by burn 0.22; much slower at training here).
    Ndarray,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
        }
    }

    /// The inference device of this backend; training uses its `.autodiff()` twin.
    pub fn device(self) -> Device {
        match self {
            Backend::Flex => Device::flex(),
            // The product names ndarray as a choice; burn marks it deprecated for flex.
            #[allow(deprecated)]
            Backend::Ndarray => Device::ndarray(),
        }
    }

    /// What the user should know before training on this backend.
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Backend::Flex => None,
            Backend::Ndarray => Some(
                "the ndarray backend trains the default model at about 20 images/s on 2 cores, \
                 about 30x slower than flex (576 images/s; `trainer bench`, README 'Backends'): \
                 a budget buys almost no training. Use --backend flex unless you need ndarray",
            ),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
