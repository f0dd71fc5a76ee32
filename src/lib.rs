//! Zhimaguan (社区芝麻官): the community-governance back end. See DESIGN.md for the layout.

pub mod app;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod config;
pub mod context;
pub mod db;
pub mod dev;
pub mod elections;
pub mod error;
pub mod estates;
pub mod gate;
pub mod housing;
pub mod metrics;
pub mod migrate;
pub mod openapi;
pub mod paging;
pub mod platform;
pub mod spreadsheet;
pub mod storage;
pub mod tenancy;
pub mod tencent_cloud;
pub mod text_input;
pub mod voting;
pub mod xlsx;
