//! The HTTP surface: REST under `/api/v1` (`rest.md`), health endpoints, and the `/ws`
//! upgrade, behind one middleware pipeline.

mod auth;
mod economy;
mod extract;
mod health;
mod iap;
mod leaderboards;
mod matches;
mod matchmaker;
mod middleware;
mod notifications;
mod ops;
mod parties;
mod players;
mod saves;
mod social;
mod static_files;
mod storage;
pub mod tls;
mod tournaments;
mod worlds;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};

use crate::gateway;
use crate::state::AppState;

pub use extract::Authed;

/// Builds the router for a server.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/guest", post(auth::guest))
        .route("/auth/guest/upgrade", post(auth::guest_upgrade))
        .route("/auth/oauth", post(auth::oauth))
        .route("/auth/link", post(auth::link))
        .route("/auth/unlink", delete(auth::unlink))
        .route("/players/me/erase", post(players::erase))
        .route("/players/{id}", get(players::get).put(players::update))
        .route("/matchmaker", post(matchmaker::add))
        .route(
            "/matchmaker/{ticket_id}",
            get(matchmaker::get).delete(matchmaker::remove),
        )
        .route("/worlds", get(worlds::list).post(worlds::create))
        .route("/worlds/{id}", get(worlds::one))
        .route("/matches", get(matches::history))
        .route("/matches/live", get(matches::live))
        .route("/matches/{id}", get(matches::one))
        .route("/saves", get(saves::list))
        .route("/saves/{slot}", get(saves::get).put(saves::put))
        .route("/storage/{collection}", get(storage::list))
        .route(
            "/storage/{collection}/{key}",
            get(storage::get).put(storage::put).delete(storage::delete),
        )
        .route(
            "/leaderboards/{id}",
            get(leaderboards::top).post(leaderboards::submit),
        )
        .route(
            "/leaderboards/{id}/around/{player_id}",
            get(leaderboards::around),
        )
        .route("/leaderboards/{id}/periods", get(leaderboards::periods))
        .route("/wallets", get(economy::wallets))
        .route("/wallets/{currency}/history", get(economy::history))
        .route("/store", get(economy::store))
        .route("/store/purchase", post(economy::purchase))
        .route("/inventory", get(economy::inventory))
        .route("/inventory/consume", post(economy::consume))
        .route("/iap/apple", post(iap::apple))
        .route("/iap/google", post(iap::google))
        .route("/tournaments", get(tournaments::list))
        .route("/tournaments/{id}", get(tournaments::one))
        .route("/tournaments/{id}/join", post(tournaments::join))
        .route("/friends", get(social::friends).post(social::request))
        .route(
            "/friends/{friend_id}",
            put(social::respond).delete(social::unfriend),
        )
        .route("/groups", post(social::create_group))
        .route("/groups/{id}", get(social::group).put(social::update_group))
        .route("/groups/{id}/join", post(social::join_group))
        .route("/groups/{id}/leave", post(social::leave_group))
        .route("/groups/{id}/members", get(social::members))
        .route(
            "/groups/{id}/members/{player_id}/role",
            put(social::set_role),
        )
        .route("/groups/{id}/members/{player_id}", delete(social::kick))
        .route("/chat/{channel_id}/history", get(social::chat_history))
        .route("/parties", post(parties::create))
        .route("/parties/me", get(parties::mine))
        .route("/parties/leave", post(parties::leave))
        .route("/parties/ready", post(parties::ready))
        .route("/parties/{id}", delete(parties::disband))
        .route("/parties/{id}/invite", post(parties::invite))
        .route("/parties/{id}/accept", post(parties::accept))
        .route("/parties/{id}/decline", post(parties::decline))
        .route("/parties/{id}/kick", post(parties::kick))
        .route("/dm", post(social::dm))
        .route("/dm/{player_id}/history", get(social::dm_history))
        .route("/notifications", get(notifications::list))
        .route("/notifications/{id}", delete(notifications::delete))
        .route("/notifications/{id}/read", put(notifications::read))
        .route("/ops/economy/items", get(ops::economy::items))
        .route(
            "/ops/economy/items/{id}",
            get(ops::economy::item).put(ops::economy::put_item),
        )
        .route("/ops/economy/listings", get(ops::economy::listings))
        .route(
            "/ops/economy/listings/{id}",
            get(ops::economy::listing).put(ops::economy::put_listing),
        )
        .route("/ops/players/{id}", get(ops::players::one))
        .route("/ops/players/{id}/export", get(ops::players::export))
        .route("/ops/players/{id}/erase", post(ops::players::erase))
        .route(
            "/ops/players/{id}/ban",
            post(ops::players::ban).delete(ops::players::unban),
        )
        .route("/health", get(health::health))
        .fallback(extract::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::rate_limit_and_auth,
        ));
    Router::new()
        .nest("/api/v1", api)
        .route("/ws", get(gateway::ws::upgrade))
        .route("/live", get(health::live))
        .route("/ready", get(health::ready))
        .route("/health", get(health::health))
        .fallback(static_files::serve)
        .layer(DefaultBodyLimit::max(state.config().max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::body_cap,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::context,
        ))
        .with_state(state)
}
