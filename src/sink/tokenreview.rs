//! The Kubernetes `TokenReview` API as the sink's [`Reviewer`] of guard tokens: `POST
//! /apis/authentication.k8s.io/v1/tokenreviews` with the token and the audience, through kube-rs' client
//! (the kubeconfig of `--kubeconfig`, else the pod's in-cluster `ServiceAccount`, which needs `create` on
//! `tokenreviews`: the install kit's `ClusterRole` `sluice-sink-tokenreview`). Takes a token, gives what
//! the API server said; never logs the token.
//!
//! The client is made on first use, inside the sink's runtime. At most [`MAX_IN_FLIGHT`] reviews run at
//! once and each has [`TIMEOUT`], so a flood of forged guard reports cannot pile requests onto the API
//! server.

use super::auth::{BoxFuture, Review, Reviewer};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::PostParams;
use kube::{Api, Client};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{OnceCell, Semaphore};

/// Reviews in flight at once.
pub const MAX_IN_FLIGHT: usize = 8;
/// Longest a review may take, waiting for a slot included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The extra a projected `ServiceAccount` token carries: the pod it was issued to.
const POD_NAME: &str = "authentication.kubernetes.io/pod-name";

/// `TokenReview` through kube-rs.
pub struct KubeReviewer {
    kubeconfig: Option<PathBuf>,
    client: OnceCell<Client>,
    slots: Semaphore,
}

impl KubeReviewer {
    /// A reviewer with the configuration of `kubeconfig`, else the in-cluster one (checked by the
    /// commands layer before the sink starts: `super::watch::check_config`).
    pub fn new(kubeconfig: Option<PathBuf>) -> Self {
        KubeReviewer {
            kubeconfig,
            client: OnceCell::new(),
            slots: Semaphore::new(MAX_IN_FLIGHT),
        }
    }

    async fn ask(&self, token: &str, audience: &str) -> Result<Review, String> {
        let _slot = self.slots.acquire().await.map_err(|e| e.to_string())?;
        let client = self
            .client
            .get_or_try_init(|| super::watch::client_for(self.kubeconfig.as_deref()))
            .await
            .map_err(|e| e.to_string())?;
        let api: Api<TokenReview> = Api::all(client.clone());
        let request = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: Some(vec![audience.to_owned()]),
            },
            ..TokenReview::default()
        };
        let answer = api
            .create(&PostParams::default(), &request)
            .await
            .map_err(|e| e.to_string())?;
        Ok(from_status(answer))
    }
}

impl Reviewer for KubeReviewer {
    fn review<'a>(
        &'a self,
        token: &'a str,
        audience: &'a str,
    ) -> BoxFuture<'a, Result<Review, String>> {
        Box::pin(async move {
            tokio::time::timeout(TIMEOUT, self.ask(token, audience))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {} s", TIMEOUT.as_secs())))
        })
    }
}

/// The review's `status`, as [`Review`].
fn from_status(answer: TokenReview) -> Review {
    let status = answer.status.unwrap_or_default();
    let user = status.user.unwrap_or_default();
    Review {
        authenticated: status.authenticated == Some(true),
        username: user.username.unwrap_or_default(),
        audiences: status.audiences.unwrap_or_default(),
        pod: user
            .extra
            .and_then(|mut extra| extra.remove(POD_NAME))
            .and_then(|values| values.into_iter().next()),
        error: status.error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_as_the_api_documents_it() {
        let answer: TokenReview = serde_json::from_value(serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": "t", "audiences": ["sluice"]},
            "status": {
                "authenticated": true,
                "user": {
                    "username": "system:serviceaccount:shop:default",
                    "uid": "4f1c1a4e-0000-4000-8000-000000000001",
                    "groups": ["system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"],
                    "extra": {
                        "authentication.kubernetes.io/pod-name": ["sluice-guard-abc12"],
                        "authentication.kubernetes.io/pod-uid": ["9a0e-…"]
                    }
                },
                "audiences": ["sluice"]
            }
        }))
        .expect("a TokenReview");
        let review = from_status(answer);
        assert!(review.authenticated);
        assert_eq!(review.username, "system:serviceaccount:shop:default");
        assert_eq!(review.audiences, ["sluice"]);
        assert_eq!(review.pod.as_deref(), Some("sluice-guard-abc12"));
        // Refused: the API server omits `authenticated` and names the error.
        let refused: TokenReview = serde_json::from_value(serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": "t"},
            "status": {"user": {}, "error": "[invalid bearer token, token lookup failed]"}
        }))
        .expect("a TokenReview");
        let review = from_status(refused);
        assert!(!review.authenticated);
        assert!(review.error.is_some());
    }
}
