//! Posture findings in Security Hub: the ASFF documents (`asff`) and the import that keeps
//! the hub in step with each audit (`import`).

pub mod asff;
pub mod import;
