//! The node's store receipt verifiers, built from `[iap]`: Apple's (offline, against the
//! configured root) and Google's (the Play Developer API with a service account), and what a
//! verified purchase of each product grants. A store without settings answers
//! `iap.verification_failed` with reason `not_configured`.

use std::collections::BTreeMap;
use std::sync::Arc;

use asobi_services::economy::Grants;
use asobi_services::iap::VerifyError;
use asobi_services::iap::apple::{AppleTransaction, AppleVerifier};
use asobi_services::iap::google::{GoogleConfig, GooglePurchase, GoogleVerifier};

use crate::config::IapConfig;

/// The verifiers. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Stores {
    apple: Option<AppleVerifier>,
    apple_environments: Arc<Vec<String>>,
    google: Option<GoogleVerifier>,
    products: Arc<BTreeMap<String, Grants>>,
}

impl Stores {
    /// Builds what `config` configures; a file that cannot be read or used is an error.
    pub fn from_config(config: &IapConfig) -> Result<Stores, String> {
        let read = |what: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("iap.{what} {}: {e}", path.display()))
        };
        let apple = match &config.apple_root {
            Some(path) => Some(
                AppleVerifier::from_pem(&read("apple_root", path)?, config.apple_bundle_id.clone())
                    .map_err(|e| format!("iap.apple_root: {e}"))?,
            ),
            None => None,
        };
        let google = match (&config.google_service_account, &config.google_package_name) {
            (Some(path), Some(package)) => {
                let json = String::from_utf8(read("google_service_account", path)?)
                    .map_err(|_| "iap.google_service_account is not UTF-8".to_owned())?;
                let mut g = GoogleConfig::new(json, package.clone());
                g.api_base = config.google_api_base.clone();
                Some(GoogleVerifier::new(g).map_err(|e| format!("iap.google: {e}"))?)
            }
            (None, None) => None,
            _ => {
                return Err(
                    "iap.google_service_account and iap.google_package_name go together".into(),
                );
            }
        };
        Ok(Stores {
            apple,
            apple_environments: Arc::new(config.apple_environments.clone()),
            google,
            products: Arc::new(config.products.clone()),
        })
    }

    /// Verifies a StoreKit 2 signed transaction at `now_ms`, from an accepted environment.
    pub fn verify_apple(&self, jws: &str, now_ms: i64) -> Result<AppleTransaction, VerifyError> {
        let t = self
            .apple
            .as_ref()
            .ok_or(VerifyError::NotConfigured { store: "apple" })?
            .verify(jws, now_ms)?;
        // An absent environment is a production transaction (older payloads omit it).
        let env = t.environment.as_deref().unwrap_or("Production");
        if !self.apple_environments.iter().any(|e| e == env) {
            return Err(VerifyError::WrongEnvironment {
                found: t.environment,
            });
        }
        Ok(t)
    }

    /// Acknowledges a Google purchase whose grant committed; a failure is logged (Google
    /// refunds purchases left unacknowledged for three days; the client may acknowledge too).
    pub async fn acknowledge_google(&self, product_id: &str, token: &str) {
        if let Some(g) = &self.google
            && let Err(e) = g.acknowledge(product_id, token).await
        {
            tracing::warn!(product_id, error = %e, "Google purchase not acknowledged");
        }
    }

    /// Asks Google about a purchase token.
    pub async fn verify_google(
        &self,
        product_id: &str,
        token: &str,
    ) -> Result<GooglePurchase, VerifyError> {
        self.google
            .as_ref()
            .ok_or(VerifyError::NotConfigured { store: "google" })?
            .verify(product_id, token)
            .await
    }

    /// What buying `quantity` of `product_id` grants; a product configured to grant nothing
    /// is refused, unclaimed (it can be claimed once it is configured).
    pub fn grants(&self, product_id: &str, quantity: i64) -> Result<Grants, VerifyError> {
        let g = self
            .products
            .get(product_id)
            .ok_or_else(|| VerifyError::UnknownProduct {
                product_id: product_id.to_owned(),
            })?;
        let times = quantity.max(1);
        Ok(Grants {
            currencies: g
                .currencies
                .iter()
                .map(|(c, a)| (c.clone(), a.saturating_mul(times)))
                .collect(),
            items: g
                .items
                .iter()
                .map(|(i, q)| (i.clone(), q.saturating_mul(times)))
                .collect(),
        })
    }
}
