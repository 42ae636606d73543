//! The source stage: where units of work come from. Each unit is read by the trail stage.

pub mod local;
pub mod notification;
pub mod s3;
