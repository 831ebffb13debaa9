//! The thin HTTP layer: authentication (session or basic), the per-BMC
//! budget, timeouts, retries of idempotent reads, and error mapping.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use super::parse;
use crate::credentials::Credentials;
use crate::error::BmcError;

/// An HTTP answer with a 2xx status (or 202 from a task monitor).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub location: Option<String>,
    pub body: Value,
}

impl Reply {
    /// A resource kept from an earlier read (no headers).
    pub(crate) fn kept(body: Value) -> Self {
        Reply {
            status: 200,
            etag: None,
            location: None,
            body,
        }
    }

    /// The resource came with no tag: a PATCH has none to send.
    pub(crate) fn untagged(&self) -> bool {
        self.if_match_tag().is_none()
    }

    /// The tag to send in `If-Match`: the `ETag` header, else the body's
    /// `@odata.etag` (some BMCs only give the latter).
    pub(crate) fn if_match_tag(&self) -> Option<String> {
        self.etag
            .clone()
            .or_else(|| parse::str_at(&self.body, "@odata.etag").map(str::to_string))
    }
}

#[derive(Clone)]
struct Session {
    token: String,
    /// The session resource, deleted on close.
    location: Option<String>,
}

pub(crate) struct Transport {
    http: reqwest::Client,
    base: String,
    /// The BMC name in messages: base URL, never credentials.
    pub bmc: String,
    creds: Credentials,
    session: Mutex<Option<Session>>,
    sessions_path: Mutex<Option<String>>,
    budget: Arc<Semaphore>,
    retries: u32,
    request_timeout: Duration,
}

impl Transport {
    pub(crate) fn new(
        http: reqwest::Client,
        base: String,
        creds: Credentials,
        budget: Arc<Semaphore>,
        retries: u32,
        request_timeout: Duration,
    ) -> Self {
        Transport {
            http,
            bmc: base.clone(),
            base,
            creds,
            session: Mutex::new(None),
            sessions_path: Mutex::new(None),
            budget,
            retries,
            request_timeout,
        }
    }

    /// The URL of `path` (from the BMC: a link, an action target, a
    /// `Location`), which must stay on the BMC: an absolute or
    /// protocol-relative link to another host (or a path built to read as
    /// one, `@host/...`) would carry the credentials or session token there.
    fn url(&self, path: &str, op: &str) -> Result<reqwest::Url, BmcError> {
        let base = reqwest::Url::parse(&self.base)
            .map_err(|e| self.bad(op, format!("bad BMC base URL: {e}")))?;
        let url = base
            .join(path)
            .map_err(|e| self.bad(op, format!("bad link {path:?} from the BMC: {e}")))?;
        if url.origin() != base.origin() {
            return Err(self.bad(
                op,
                format!(
                    "the BMC links to {} on another host: nothing is sent there",
                    url.origin().ascii_serialization()
                ),
            ));
        }
        Ok(url)
    }

    fn net_error(&self, op: &str, e: &reqwest::Error) -> BmcError {
        // The URL in reqwest's message never holds credentials (they go in
        // headers); the cause chain says what actually failed.
        let mut detail = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            src = s.source();
        }
        if e.is_timeout() {
            BmcError::TimedOut {
                bmc: self.bmc.clone(),
                operation: op.to_string(),
                after: self.request_timeout,
                detail,
            }
        } else if e.is_decode() || e.is_body() {
            BmcError::BadResponse {
                bmc: self.bmc.clone(),
                operation: op.to_string(),
                detail,
            }
        } else {
            BmcError::Unreachable {
                bmc: self.bmc.clone(),
                operation: op.to_string(),
                detail,
            }
        }
    }

    pub(crate) fn bad(&self, op: &str, detail: impl Into<String>) -> BmcError {
        BmcError::BadResponse {
            bmc: self.bmc.clone(),
            operation: op.to_string(),
            detail: detail.into(),
        }
    }

    /// Logs in through the SessionService at `sessions_path`. Returns false
    /// when the BMC has no usable session service (then basic auth is used).
    pub(crate) async fn login(&self, sessions_path: &str, op: &str) -> Result<bool, BmcError> {
        let body = serde_json::json!({
            "UserName": self.creds.username,
            "Password": self.creds.password(),
        });
        let url = self.url(sessions_path, op)?;
        let resp = {
            let _permit = self.permit().await;
            self.http
                .post(url)
                .json(&body)
                .send()
                .await
                .map_err(|e| self.net_error(op, &e))?
        };
        let status = resp.status();
        if matches!(status.as_u16(), 404 | 405 | 501) {
            return Ok(false);
        }
        let token = resp
            .headers()
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(self.http_error(op, status, &text));
        }
        let Some(token) = token else {
            return Err(self.bad(op, "session created without an X-Auth-Token header"));
        };
        *self.sessions_path.lock().await = Some(sessions_path.to_string());
        *self.session.lock().await = Some(Session { token, location });
        Ok(true)
    }

    /// Deletes the session, if any (best effort: errors are ignored because
    /// the BMC expires sessions anyway).
    pub(crate) async fn logout(&self) {
        let s = self.session.lock().await.take();
        if let Some(Session {
            token,
            location: Some(loc),
        }) = s
        {
            let Ok(url) = self.url(&loc, "log out") else {
                return;
            };
            let _permit = self.permit().await;
            let _ = self
                .http
                .delete(url)
                .header("X-Auth-Token", token)
                .send()
                .await;
        }
    }

    /// A detached logout for `Drop`, when a runtime is there to run it.
    pub(crate) fn logout_in_background(self: &Arc<Self>) {
        // Basic auth (or already closed): nothing to delete, spawn nothing.
        if self.session.try_lock().is_ok_and(|s| s.is_none()) {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let me = Arc::clone(self);
            handle.spawn(async move { me.logout().await });
        }
    }

    pub(crate) async fn has_session(&self) -> bool {
        self.session.lock().await.is_some()
    }

    async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed; if it were, run unthrottled.
        self.budget.acquire().await.ok()
    }

    fn http_error(&self, op: &str, status: StatusCode, text: &str) -> BmcError {
        let message = parse::http_error_message(text, status.canonical_reason().unwrap_or("error"));
        if matches!(status.as_u16(), 401 | 403) {
            return BmcError::AuthFailed {
                bmc: self.bmc.clone(),
                operation: op.to_string(),
                detail: format!("HTTP {}: {message}", status.as_u16()),
            };
        }
        BmcError::Http {
            bmc: self.bmc.clone(),
            operation: op.to_string(),
            status: status.as_u16(),
            message,
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        op: &str,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, String), BmcError> {
        let url = self.url(path, op)?;
        let session = self.session.lock().await.clone();
        let mut req = self
            .http
            .request(method.clone(), url)
            .header("Accept", "application/json");
        req = match &session {
            Some(s) => req.header("X-Auth-Token", &s.token),
            None => req.basic_auth(&self.creds.username, Some(self.creds.password())),
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(tag) = if_match {
            req = req.header("If-Match", tag);
        }
        let _permit = self.permit().await;
        let resp = req.send().await.map_err(|e| self.net_error(op, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| self.net_error(op, &e))?;
        Ok((status, headers, text))
    }

    /// Sends a request; 2xx → `Reply`, anything else → `BmcError`. A 401
    /// with a session re-logs in once. GETs are retried on 5xx and
    /// connection failures with exponential backoff, `retries` times.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        op: &str,
    ) -> Result<Reply, BmcError> {
        self.request_retrying(method, path, body, if_match, op, self.retries)
            .await
    }

    /// [`Transport::request`] with its own retry budget for GETs.
    async fn request_retrying(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        op: &str,
        retries: u32,
    ) -> Result<Reply, BmcError> {
        let idempotent = method == Method::GET;
        let mut attempt = 0u32;
        let mut relogged = false;
        loop {
            let result = self.send_once(&method, path, body, if_match, op).await;
            let retryable = match &result {
                Err(BmcError::Unreachable { .. }) => true,
                Ok((s, _, _)) => s.is_server_error() && s.as_u16() != 501,
                Err(_) => false,
            };
            if idempotent && retryable && attempt < retries {
                tokio::time::sleep(Duration::from_millis(200u64 << attempt.min(6))).await;
                attempt += 1;
                continue;
            }
            let (status, headers, text) = result?;
            if status == StatusCode::UNAUTHORIZED && !relogged && self.has_session().await {
                relogged = true;
                let sessions = self.sessions_path.lock().await.clone();
                *self.session.lock().await = None;
                if let Some(sp) = sessions {
                    self.login(&sp, op).await?;
                    continue;
                }
            }
            if !status.is_success() {
                return Err(self.http_error(op, status, &text));
            }
            let header = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let body = parse::response_body(&text).map_err(|e| {
                self.bad(
                    op,
                    format!("HTTP {} with a body that is not JSON: {e}", status.as_u16()),
                )
            })?;
            return Ok(Reply {
                status: status.as_u16(),
                etag: header("etag"),
                location: header("location"),
                body,
            });
        }
    }

    pub(crate) async fn get(&self, path: &str, op: &str) -> Result<Reply, BmcError> {
        self.request(Method::GET, path, None, None, op).await
    }

    /// A GET retried at most `retries` times (never more than configured).
    pub(crate) async fn get_retrying(
        &self,
        path: &str,
        op: &str,
        retries: u32,
    ) -> Result<Reply, BmcError> {
        self.request_retrying(Method::GET, path, None, None, op, retries.min(self.retries))
            .await
    }
}
