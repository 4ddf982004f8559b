//! Static files from `--static-dir` (a game's web page), served for paths no other route
//! claims. Paths are resolved inside the directory only; `/` serves `index.html`.

use std::path::{Component, Path, PathBuf};

use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The file for a request path, if it is a plain relative path inside `root`.
fn resolve(root: &Path, uri_path: &str) -> Option<PathBuf> {
    let rel = uri_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let rel = Path::new(rel);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let path = root.join(rel);
    let path = if path.is_dir() {
        path.join("index.html")
    } else {
        path
    };
    let canonical = path.canonicalize().ok()?;
    canonical
        .starts_with(root.canonicalize().ok()?)
        .then_some(canonical)
}

/// The fallback handler: a static file, or 404.
pub async fn serve(State(app): State<AppState>, uri: Uri) -> Response {
    let not_found = || axum::http::StatusCode::NOT_FOUND;
    let Some(root) = &app.config().static_dir else {
        return not_found().into_response();
    };
    let Some(path) = resolve(root, uri.path()) else {
        return not_found().into_response();
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mut r = bytes.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&path)),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(_) => not_found().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root =
            std::env::temp_dir().join(format!("asobi-static-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(root.join("js")).unwrap();
        std::fs::write(root.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(root.join("js/app.js"), "1").unwrap();
        assert!(resolve(&root, "/").unwrap().ends_with("index.html"));
        assert!(resolve(&root, "/js/app.js").is_some());
        for bad in [
            "/../etc/passwd",
            "/js/../../etc/passwd",
            "//etc/passwd",
            "/missing.js",
        ] {
            assert!(resolve(&root, bad).is_none(), "{bad}");
        }
    }
}
