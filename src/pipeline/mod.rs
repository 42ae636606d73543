//! The pipeline, assembled once from the configuration: the rules (the built-in pack or the
//! configuration's `[rules]`, with every exclusion and suppression entry checked against
//! them and suppression keys computed while matching), the exclusions compiled, the
//! correlation limits, the state (in memory, or the shared table) and the sinks. `run`,
//! `check-config` and `replay` all build theirs here, from a configuration parsed once.

use std::sync::Arc;

use crate::audit::permissions::usage::RESOURCES_FIELD;
use crate::config::{Config, ConfigError};
use crate::correlate::Limits;
use crate::detect::exclusions::Exclusions;
use crate::metrics::http::Health;
use crate::metrics::Metrics;
use crate::rules::loader::RuleSources;
use crate::rules::{RuleError, RuleSet, UnknownRule};
use crate::sink::{SinkSet, SinkSetupError};
use crate::state::{self, MemoryState, SharedState, State, Table};
use crate::suppress::SuppressError;

/// What keeps a configuration from making a pipeline; each names the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{}", rule_errors(.0))]
    Rules(Vec<RuleError>),
    #[error("rules.only (--rule): {0} (see `trailwatch rules list`)")]
    Only(#[from] UnknownRule),
    #[error(transparent)]
    Suppress(#[from] SuppressError),
    #[error(transparent)]
    Sinks(#[from] SinkSetupError),
}

fn rule_errors(errors: &[RuleError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The configuration with what it compiles to.
pub struct Pipeline {
    pub config: Config,
    pub rules: Arc<RuleSet>,
    /// What loading the rules noted (documents skipped, and why).
    pub notes: Vec<String>,
    pub exclusions: Arc<Exclusions>,
    pub limits: Limits,
    /// `[usage] record`: readers record each principal's uses; the rules then also extract
    /// the field that names the resources used.
    pub record_usage: bool,
}

/// Which parts of the configuration a command uses, and so must be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// `run` and `check-config`: everything, at least one queue and one sink.
    Daemon,
    /// `replay`: rules, exclusions, suppression and correlation limits.
    Replay,
    /// `replay --to-sinks`: those, and the sinks and the state they share with the daemons.
    ReplayToSinks,
}

impl Pipeline {
    pub fn build(config: Config, used: Use) -> Result<Pipeline, PipelineError> {
        match used {
            Use::Daemon => config.validate()?,
            Use::Replay => config.validate_detection()?,
            Use::ReplayToSinks => {
                config.validate_detection()?;
                config.state.shared_table()?;
                config.validate_sinks()?;
            }
        }
        let (mut rules, notes) = load_rules(&config)?;
        let exclusions = Arc::new(Exclusions::new(&config.exclusions).map_err(ConfigError::from)?);
        let limits = config.correlation.limits()?;
        let record_usage = config.usage.record;
        if record_usage {
            rules.extract(RESOURCES_FIELD);
        }
        Ok(Pipeline {
            config,
            rules: Arc::new(rules),
            notes,
            exclusions,
            limits,
            record_usage,
        })
    }

    /// A pipeline of rules compiled elsewhere, every other setting at its default (for
    /// programs that build their own rule set).
    pub fn with_rules(rules: RuleSet) -> Pipeline {
        let config = Config::default();
        Pipeline {
            limits: config.correlation.limits().unwrap_or_default(),
            config,
            rules: Arc::new(rules),
            notes: Vec::new(),
            exclusions: Arc::default(),
            record_usage: false,
        }
    }

    /// The rules again (SIGHUP), checked as at start.
    pub fn reload_rules(&self) -> Result<RuleSet, PipelineError> {
        let (mut rules, _) = load_rules(&self.config)?;
        if self.record_usage {
            rules.extract(RESOURCES_FIELD);
        }
        Ok(rules)
    }

    /// How the state stage is set up.
    pub fn state_settings(&self) -> state::Settings {
        state::Settings {
            suppress: self.config.suppress.clone(),
            limits: self.limits,
            dedupe_capacity: self.config.dedupe.capacity,
            dedupe_ttl: std::time::Duration::from_secs(self.config.dedupe.ttl_secs),
        }
    }

    /// The state decisions and deliveries go through: the shared table when `[state]` names
    /// one and `sdk` is given, else this process's memory (`check-config --probe` sends
    /// nothing, and asks for no shared state).
    pub fn state(
        &self,
        sdk: Option<&aws_config::SdkConfig>,
        metrics: &Metrics,
        health: Option<Arc<Health>>,
    ) -> Result<Arc<dyn State>, PipelineError> {
        let settings = self.state_settings();
        match (self.config.state.shared_table()?, sdk) {
            (Some(name), Some(sdk)) => {
                let table = Table::new(
                    aws_sdk_dynamodb::Client::new(sdk),
                    name,
                    metrics.clone(),
                    health,
                )
                .with_lease(self.config.state.claim_lease());
                let state = SharedState::new(&self.rules, &settings, Arc::new(table))?;
                Ok(Arc::new(state))
            }
            _ => Ok(Arc::new(MemoryState::new(&self.rules, &settings)?)),
        }
    }

    /// The configuration's sinks over `state`; `sdk` is needed for SNS sinks.
    pub fn sinks(
        &self,
        sdk: Option<&aws_config::SdkConfig>,
        metrics: Metrics,
        state: Arc<dyn State>,
    ) -> Result<SinkSet, PipelineError> {
        let sns = sdk.map(aws_sdk_sns::Client::new);
        Ok(SinkSet::from_config(&self.config, sns, metrics, state)?)
    }
}

/// The rules `[rules]` asks for, with the configuration's references to them checked and
/// their suppression keys set up.
fn load_rules(config: &Config) -> Result<(RuleSet, Vec<String>), PipelineError> {
    let sources = RuleSources {
        replace: config.rules.paths.clone(),
        add: config.rules.add.clone(),
        aws_ip_ranges: config.rules.aws_ip_ranges.clone(),
    };
    let (set, notes) = crate::rules::loader::load(&sources).map_err(PipelineError::Rules)?;
    let mut set = set.retain_named(&config.rules.only)?;
    // An exclusion or suppression naming a rule that is not running would silently do nothing.
    config.check_rule_references(&set)?;
    crate::suppress::prepare(&mut set, &config.suppress)?;
    Ok((set, notes))
}
