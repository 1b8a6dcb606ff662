//! Transport-level adapters that sit between the network and socketioxide.

pub mod legacy;
