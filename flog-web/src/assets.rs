//! The page's script and style sheet, compiled into the binary: the viewer
//! works without any network.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const JS: &str = "text/javascript; charset=utf-8";

/// The script's modules: `viewer.js` imports the others.
const SCRIPTS: [(&str, &str); 5] = [
    ("viewer.js", include_str!("../assets/viewer.js")),
    ("times.js", include_str!("../assets/times.js")),
    ("events.js", include_str!("../assets/events.js")),
    ("list.js", include_str!("../assets/list.js")),
    ("rows.js", include_str!("../assets/rows.js")),
];
const STYLE: &str = include_str!("../assets/viewer.css");

/// `GET /assets/{name}`.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let found = match name.as_str() {
        "viewer.css" => Some((STYLE, "text/css; charset=utf-8")),
        name => SCRIPTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, body)| (*body, JS)),
    };
    let Some((body, kind)) = found else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}
