//! `--static-dir`: the directory's regular files and nothing else
//! (interface.md 8). tower-http's `ServeDir` follows symbolic links
//! wherever they point and serves dotfiles (`.env`, `.git/…`); a request is
//! checked here first: no path segment may start with a dot, and what the
//! path resolves to (links followed) must be a regular file inside the
//! directory. Paths that name nothing get `index.html` (a single-page
//! app's routes), as before.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// The router's fallback serving `dir`.
pub fn serve_dir(router: Router, dir: &Path) -> Router {
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let files = ServeDir::new(root.clone()).fallback(ServeFile::new(root.join("index.html")));
    router.fallback(move |request: Request| {
        let (root, files) = (root.clone(), files.clone());
        async move {
            if !allowed(&root, request.uri().path()).await {
                return StatusCode::NOT_FOUND.into_response();
            }
            match files.oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            }
        }
    })
}

/// Whether `path` (a request path) may be served from `root` (canonical).
async fn allowed(root: &Path, path: &str) -> bool {
    let Ok(path) = percent_encoding::percent_decode_str(path).decode_utf8() else {
        return false;
    };
    let mut target = root.to_path_buf();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains('\\') {
            return false;
        }
        target.push(segment);
    }
    match tokio::fs::canonicalize(&target).await {
        Ok(resolved) => {
            resolved.starts_with(root)
                && tokio::fs::metadata(&resolved).await.is_ok_and(|m| {
                    m.is_file() || (m.is_dir() && resolved.join("index.html").is_file())
                })
        }
        // Nothing there: `index.html` is served instead.
        Err(_) => !broken_link_inside(&target).await,
    }
}

/// Whether `target` is (or passes through) a symbolic link that resolves
/// nowhere: such a path must not fall back to `index.html` either, as a
/// later file at the link's target would then be served.
async fn broken_link_inside(target: &Path) -> bool {
    let mut current = PathBuf::new();
    for component in target.components() {
        current.push(component);
        if tokio::fs::symlink_metadata(&current)
            .await
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return true;
        }
    }
    false
}
