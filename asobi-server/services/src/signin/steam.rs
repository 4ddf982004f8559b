//! Steam session tickets, verified by the Steam Web API's
//! `ISteamUserAuth/AuthenticateUserTicket/v1` with the publisher's key: the ticket (hex, from
//! `GetAuthTicketForWebApi`) goes up with the app id; a `params` object with `result = "OK"`
//! and a `steamid` comes back, or an `error` object.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::{ProviderConfig, Reason, Verified};
use crate::outbound;

/// The partner Web API, which publisher keys use.
pub const DEFAULT_API_URL: &str = "https://partner.steam-api.com";
/// The longest ticket accepted, in hex digits (tickets are a few hundred bytes).
pub const MAX_TICKET_HEX: usize = 4096;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Steam, for one app.
pub struct SteamProvider {
    endpoint: Url,
    key: String,
    app_id: u32,
    identity: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Answer {
    response: Response,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    params: Option<Params>,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct Params {
    result: String,
    steamid: String,
    #[serde(default)]
    publisherbanned: bool,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    errorcode: i64,
    #[serde(default)]
    errordesc: String,
}

impl SteamProvider {
    /// Checks the settings.
    pub fn new(config: &ProviderConfig) -> Result<SteamProvider, String> {
        let app_id = config.app_id.ok_or("steam needs `app_id`")?;
        let key = config
            .web_api_key
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or("steam needs `web_api_key`")?;
        let base = config.api_url.as_deref().unwrap_or(DEFAULT_API_URL);
        let endpoint = outbound::http_url(base)
            .and_then(|u| {
                u.join(&format!(
                    "{}ISteamUserAuth/AuthenticateUserTicket/v1/",
                    if u.path().ends_with('/') { "" } else { "/" }
                ))
                .ok()
            })
            .ok_or_else(|| format!("api_url {base:?} is not an http(s) URL"))?;
        Ok(SteamProvider {
            endpoint,
            key,
            app_id,
            identity: config.identity.clone(),
            http: outbound::client(REQUEST_TIMEOUT).map_err(|e| e.to_string())?,
        })
    }

    /// Verifies a hex session ticket.
    pub async fn verify(&self, ticket: &str) -> Result<Verified, (Reason, String)> {
        if ticket.is_empty()
            || ticket.len() > MAX_TICKET_HEX
            || !ticket.len().is_multiple_of(2)
            || !ticket.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err((
                Reason::Malformed,
                "a ticket is an even number of hex digits".into(),
            ));
        }
        let app_id = self.app_id.to_string();
        let mut query = vec![
            ("key", self.key.as_str()),
            ("appid", app_id.as_str()),
            ("ticket", ticket),
        ];
        if let Some(identity) = &self.identity {
            query.push(("identity", identity));
        }
        let unavailable = |why: String| (Reason::ProviderUnavailable, why);
        let response = self
            .http
            .get(self.endpoint.clone())
            .query(&query)
            .send()
            .await
            .map_err(|e| unavailable(format!("Steam Web API: {}", e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            // 401/403: the key is wrong or lacks the app; 5xx: Steam is down.
            return Err(unavailable(format!("Steam Web API answered HTTP {status}")));
        }
        let body = outbound::read_bounded(response, MAX_ANSWER_BYTES)
            .await
            .map_err(unavailable)?;
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("Steam Web API answer: {e}")))?;
        match answer.response {
            Response {
                params: Some(p), ..
            } if p.result == "OK" => {
                if p.publisherbanned {
                    return Err((Reason::Denied, "publisher-banned account".into()));
                }
                if p.steamid.is_empty() || !p.steamid.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(unavailable("Steam Web API sent no steamid".into()));
                }
                Ok(Verified {
                    uid: p.steamid,
                    display_name: None,
                })
            }
            Response { error: Some(e), .. } => Err((
                Reason::Denied,
                format!("Steam error {}: {}", e.errorcode, e.errordesc),
            )),
            _ => Err((Reason::Denied, "ticket not accepted".into())),
        }
    }
}
