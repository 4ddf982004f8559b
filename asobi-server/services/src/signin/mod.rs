//! Sign-in with identity providers (`POST /auth/oauth`, `POST /auth/link`): turning a
//! provider's token into a verified `(provider, uid)` pair. OpenID Connect issuers (Google,
//! Apple, Microsoft, Discord, or any issuer an operator names by its discovery URL) are
//! verified locally against their published keys ([`oidc`]); Steam session tickets through
//! the Steam Web API ([`steam`]); a game's own tokens through a [`SignInHook`] it registers.
//!
//! This module holds no accounts: what a verified identity signs in to is the accounts
//! service's business. Every endpoint is configuration, so tests run the production path
//! against local servers that speak each provider's documented protocol.

pub mod jwt;
pub mod oidc;
pub mod steam;
pub mod test_support;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Deserialize;

/// What a provider vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The provider's stable id of the user (`sub`, a SteamID, a game's own id).
    pub uid: String,
    /// A name to show, when the provider gives one.
    pub display_name: Option<String>,
}

/// The longest uid kept (`sub` is at most 255 ASCII characters by the OIDC spec).
pub const MAX_UID_BYTES: usize = 255;

/// Why a provider refused a token: `details.reason` of `auth.provider_rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not a token of the expected shape.
    Malformed,
    /// An algorithm we do not accept (`none`, `HS*`) or one the key does not do.
    UnsupportedAlgorithm,
    /// Signed with a key the provider does not publish, even after a refresh.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `iss` is not the provider's.
    WrongIssuer,
    /// `aud` names none of the operator's client ids.
    WrongAudience,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` or `iat` lies in the future (beyond the leeway).
    NotYetValid,
    /// The request's nonce is not the token's.
    NonceMismatch,
    /// No usable subject.
    MissingSubject,
    /// The provider could not be asked (keys or ticket endpoint unreachable).
    ProviderUnavailable,
    /// The provider, or the game's hook, said no.
    Denied,
}

impl Reason {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::UnsupportedAlgorithm => "unsupported_algorithm",
            Reason::UnknownKey => "unknown_key",
            Reason::BadSignature => "bad_signature",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::NonceMismatch => "nonce_mismatch",
            Reason::MissingSubject => "missing_subject",
            Reason::ProviderUnavailable => "provider_unavailable",
            Reason::Denied => "denied",
        }
    }
}

/// Why a sign-in token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// No such provider, or it is disabled.
    #[error("unsupported provider {0:?}")]
    UnsupportedProvider(String),
    /// The provider (or the hook) refused the token.
    #[error("{provider} rejected the token: {} ({detail})", reason.as_str())]
    Rejected {
        /// The provider's name.
        provider: String,
        /// Why.
        reason: Reason,
        /// More, for logs and `details.detail` (never a secret).
        detail: String,
    },
}

/// The future a [`SignInHook`] returns.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<Verified, String>> + Send + 'a>>;

/// A game's own sign-in: studios with their own account systems verify their tokens here.
/// An `Err` is a refusal (`auth.provider_rejected`, reason `denied`, the text as detail).
pub trait SignInHook: Send + Sync + 'static {
    /// Verifies `token`.
    fn verify<'a>(&'a self, token: &'a str) -> HookFuture<'a>;
}

/// What kind of provider a configured name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// An OpenID Connect issuer.
    Oidc,
    /// Steam session tickets.
    Steam,
    /// A game's [`SignInHook`].
    Custom,
}

/// One provider's settings (`[auth_providers.<name>]`). Which fields apply depends on the
/// kind; `google`, `apple`, `microsoft`, `discord` and `steam` need only their client ids
/// (or Steam's app id and key): issuers and endpoints default to the real ones.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// `oidc` unless the name is `steam`.
    pub kind: Option<ProviderKind>,
    /// A disabled provider answers `auth.unsupported_provider`.
    pub enabled: bool,
    /// OIDC: the issuer; its discovery document is `<issuer>/.well-known/openid-configuration`.
    pub issuer: Option<String>,
    /// OIDC: the discovery document, when it is not under the issuer.
    pub discovery_url: Option<String>,
    /// OIDC: accepted audiences (the operator's client ids); at least one.
    pub client_ids: Vec<String>,
    /// OIDC: other spellings of the issuer tokens may carry (Google's `accounts.google.com`).
    pub issuer_aliases: Vec<String>,
    /// OIDC: clock leeway for `exp`, `nbf` and `iat`, seconds.
    pub leeway_secs: u64,
    /// OIDC: keys are fetched again when a token names an unknown key id, at most this often.
    pub key_refresh_min_secs: u64,
    /// OIDC: keys are fetched again after this long, whatever tokens say.
    pub key_max_age_secs: u64,
    /// Steam: the app id tickets are for.
    pub app_id: Option<u32>,
    /// Steam: the publisher Web API key.
    pub web_api_key: Option<String>,
    /// Steam: the Web API base URL.
    pub api_url: Option<String>,
    /// Steam: the identity string the client passed to `GetAuthTicketForWebApi`, if any.
    pub identity: Option<String>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            kind: None,
            enabled: true,
            issuer: None,
            discovery_url: None,
            client_ids: Vec::new(),
            issuer_aliases: Vec::new(),
            leeway_secs: 60,
            key_refresh_min_secs: 60,
            key_max_age_secs: 3600,
            app_id: None,
            web_api_key: None,
            api_url: None,
            identity: None,
        }
    }
}

/// The real issuers of the named providers, and the aliases their tokens use.
fn well_known_issuer(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match name {
        "google" => ("https://accounts.google.com", &["accounts.google.com"]),
        "apple" => ("https://appleid.apple.com", &[]),
        // Multi-tenant: tokens carry `https://login.microsoftonline.com/<tid>/v2.0`, which
        // the discovery document's `{tenantid}` template matches.
        "microsoft" => ("https://login.microsoftonline.com/common/v2.0", &[]),
        "discord" => ("https://discord.com", &[]),
        _ => return None,
    })
}

/// A provider's settings do not make a provider.
#[derive(Debug, thiserror::Error)]
#[error("auth_providers.{name}: {why}")]
pub struct ProviderConfigError {
    /// The provider's name.
    pub name: String,
    /// What is wrong.
    pub why: String,
}

enum Provider {
    Oidc(oidc::OidcProvider),
    Steam(steam::SteamProvider),
    Custom(Arc<dyn SignInHook>),
}

/// The configured providers, by name. Cheap to clone.
#[derive(Clone, Default)]
pub struct Providers {
    map: Arc<HashMap<String, Provider>>,
}

impl Providers {
    /// Builds every enabled provider of `configs`; `hooks` are the game's own, each a
    /// provider of its name (a `custom` entry in `configs` may disable one, and must have one).
    pub fn new(
        configs: &BTreeMap<String, ProviderConfig>,
        hooks: HashMap<String, Arc<dyn SignInHook>>,
    ) -> Result<Providers, ProviderConfigError> {
        let mut map = HashMap::new();
        for (name, config) in configs {
            let err = |why: String| ProviderConfigError {
                name: name.clone(),
                why,
            };
            if !valid_name(name) {
                return Err(err("names are 1–16 characters of a-z, 0-9, '-'".into()));
            }
            let kind = config.kind.unwrap_or(if name == "steam" {
                ProviderKind::Steam
            } else {
                ProviderKind::Oidc
            });
            let provider =
                match kind {
                    ProviderKind::Oidc => {
                        let mut config = config.clone();
                        // The real issuer, unless the operator points discovery elsewhere.
                        if let (Some((issuer, aliases)), None) =
                            (well_known_issuer(name), &config.discovery_url)
                        {
                            config.issuer.get_or_insert_with(|| issuer.to_owned());
                            if config.issuer.as_deref() == Some(issuer) {
                                config
                                    .issuer_aliases
                                    .extend(aliases.iter().map(|a| (*a).to_owned()));
                            }
                        }
                        Provider::Oidc(oidc::OidcProvider::new(&config).map_err(err)?)
                    }
                    ProviderKind::Steam => {
                        Provider::Steam(steam::SteamProvider::new(config).map_err(err)?)
                    }
                    ProviderKind::Custom => match hooks.get(name) {
                        Some(h) => Provider::Custom(h.clone()),
                        None => return Err(err(
                            "kind = \"custom\" but the game registers no sign-in hook of this name"
                                .into(),
                        )),
                    },
                };
            if config.enabled {
                map.insert(name.clone(), provider);
            }
        }
        for (name, hook) in hooks {
            if !valid_name(&name) {
                return Err(ProviderConfigError {
                    name,
                    why: "sign-in hook names are 1–16 characters of a-z, 0-9, '-'".into(),
                });
            }
            if !configs.contains_key(&name) {
                map.insert(name, Provider::Custom(hook));
            }
        }
        Ok(Providers { map: Arc::new(map) })
    }

    /// Whether `name` is an enabled provider.
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Verifies `token` with provider `name`; `nonce`, when given, must be the token's.
    pub async fn verify(
        &self,
        name: &str,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<Verified, SignInError> {
        let provider = self
            .map
            .get(name)
            .ok_or_else(|| SignInError::UnsupportedProvider(name.to_owned()))?;
        let rejected = |(reason, detail): (Reason, String)| SignInError::Rejected {
            provider: name.to_owned(),
            reason,
            detail,
        };
        let verified = match provider {
            Provider::Oidc(p) => p.verify(token, nonce).await.map_err(rejected)?,
            Provider::Steam(p) => p.verify(token).await.map_err(rejected)?,
            Provider::Custom(h) => h
                .verify(token)
                .await
                .map_err(|why| rejected((Reason::Denied, why)))?,
        };
        if verified.uid.is_empty() || verified.uid.len() > MAX_UID_BYTES {
            return Err(rejected((
                Reason::MissingSubject,
                "the user id is empty or over 255 bytes".into(),
            )));
        }
        Ok(verified)
    }
}

/// Provider names: what usernames are built from (`<provider>_<uid>_<hex>`).
pub fn valid_name(name: &str) -> bool {
    (1..=16).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
