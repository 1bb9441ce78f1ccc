//! Client configuration shared by the commands: `-F`, then `-X`, then `-b`.

use bytes::Bytes;
use prozess::consumer::{BytesDeserializer, ConsumerConfig, KafkaConsumer};
use prozess::producer::{BytesSerializer, KafkaProducer, ProducerConfig};
use prozess::{AdminClient, AdminConfig};

use crate::{CliError, CliResult, Global};

/// A consumer of raw bytes.
pub type Consumer = KafkaConsumer<Bytes, Bytes>;

/// The client properties and output mode of this run.
pub struct Ctx {
    /// Properties in the order they apply.
    pub props: Vec<(String, String)>,
    /// `--json`.
    pub json: bool,
}

fn is_unknown_key(msg: &str) -> bool {
    msg.contains("unknown") && (msg.contains("key") || msg.contains("property"))
}

impl Ctx {
    /// Collects the properties of `-F`, `-X` and `-b`.
    pub fn new(g: &Global) -> CliResult<Ctx> {
        let mut props = Vec::new();
        if let Some(path) = &g.file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::runtime(format!("reading {}", path.display()), e))?;
            props = crate::props::parse_properties(&text)
                .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
        }
        props.extend(g.props.iter().cloned());
        if let Some(b) = &g.bootstrap {
            props.push(("bootstrap.servers".into(), b.clone()));
        }
        Ok(Ctx {
            props,
            json: g.json,
        })
    }

    fn require_bootstrap(&self) -> CliResult {
        if self.props.iter().any(|(k, _)| k == "bootstrap.servers") {
            Ok(())
        } else {
            Err(CliError::usage(
                "no bootstrap servers: give -b HOST:PORT, PROZESS_BOOTSTRAP or bootstrap.servers",
            ))
        }
    }

    /// An admin client. Properties of the other clients are ignored.
    pub fn admin(&self) -> CliResult<AdminClient> {
        self.require_bootstrap()?;
        let mut config = AdminConfig::default();
        config.bootstrap_servers.clear();
        for (k, v) in &self.props {
            if let Err(e) = config.set(k, v) {
                let msg = e.to_string();
                if !is_unknown_key(&msg) {
                    return Err(CliError::usage(format!("property {k}: {msg}")));
                }
            }
        }
        config
            .network_config()
            .map_err(|e| CliError::usage(format!("admin client configuration: {e}")))?;
        AdminClient::new(config).map_err(|e| CliError::runtime("creating the admin client", e))
    }

    /// A consumer with `extra` properties applied last.
    pub fn consumer(&self, extra: &[(&str, String)]) -> CliResult<Consumer> {
        self.require_bootstrap()?;
        let mut config = ConsumerConfig::default();
        let extra = extra.iter().map(|(k, v)| (k.to_string(), v.clone()));
        for (k, v) in self.props.iter().cloned().chain(extra) {
            if let Err(e) = config.set(&k, &v) {
                let msg = e.to_string();
                if !is_unknown_key(&msg) {
                    return Err(CliError::usage(format!("property {k}: {msg}")));
                }
            }
        }
        config
            .validate()
            .map_err(|e| CliError::usage(format!("consumer configuration: {e}")))?;
        KafkaConsumer::new(config, BytesDeserializer, BytesDeserializer)
            .map_err(|e| CliError::runtime("creating the consumer", e))
    }

    /// A producer with `extra` properties applied last.
    pub fn producer(&self, extra: &[(&str, String)]) -> CliResult<KafkaProducer<Bytes, Bytes>> {
        self.require_bootstrap()?;
        let mut builder = ProducerConfig::builder();
        let extra = extra.iter().map(|(k, v)| (k.to_string(), v.clone()));
        for (k, v) in self.props.iter().cloned().chain(extra) {
            match builder.clone().set(&k, &v) {
                Ok(b) => builder = b,
                Err(e) => {
                    let msg = e.to_string();
                    if !is_unknown_key(&msg) {
                        return Err(CliError::usage(format!("property {k}: {msg}")));
                    }
                }
            }
        }
        let config = builder
            .build()
            .map_err(|e| CliError::usage(format!("producer configuration: {e}")))?;
        KafkaProducer::new(config, BytesSerializer, BytesSerializer)
            .map_err(|e| CliError::runtime("creating the producer", e))
    }
}
