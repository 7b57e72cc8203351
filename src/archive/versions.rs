//! Object versions of an S3 archive: `ListObjectVersions` (`GET /?versions&prefix=…`), signed with
//! `object_store`'s own credentials and `SigV4` signer as the retention check is, and reads of one
//! version. `object_store` lists current versions only, and that is what an attacker with delete or
//! put rights on a locked bucket changes: a delete marker hides the locked version, a put leaves a new
//! version on top (Object Lock protects versions, not keys). sluice writes every object once
//! (a conditional create), so any second version or delete marker is tampering.

use super::{Archive, ArchiveError, S3Bucket};
use object_store::aws::AwsAuthorizer;
use object_store::client::{HttpConnector as _, HttpRequestBody, ReqwestConnector};
use object_store::{ClientOptions, GetOptions, ObjectStore as _};
use serde::Deserialize;
use std::fmt::Write as _;

/// Largest `ListObjectVersions` page read (S3 sends at most 1,000 versions, about 400 KB).
const MAX_PAGE: usize = 4 << 20;

/// One version of one object, or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The object's name under the archive's prefix (`segments/…`).
    pub name: String,
    pub id: String,
    pub latest: bool,
    pub delete_marker: bool,
    /// As S3 gives it (ISO 8601, UTC): sorts as time.
    pub last_modified: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListVersionsResult {
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_version_id_marker: Option<String>,
    #[serde(default)]
    version: Vec<Entry>,
    #[serde(default)]
    delete_marker: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    key: String,
    version_id: String,
    #[serde(default)]
    is_latest: bool,
    #[serde(default)]
    last_modified: String,
}

/// A page: its versions and delete markers (`true`), and where the next one starts (key and version).
type Page = (Vec<(Entry, bool)>, Option<(String, String)>);

/// Reads one `ListVersionsResult` page: the versions and delete markers, and where the next page
/// starts.
///
/// # Errors
///
/// Not such a document.
fn parse_page(xml: &str) -> Result<Page, String> {
    let page: ListVersionsResult =
        quick_xml::de::from_str(xml).map_err(|e| format!("ListObjectVersions answer: {e}"))?;
    let next = match (
        page.is_truncated,
        page.next_key_marker,
        page.next_version_id_marker,
    ) {
        (true, Some(k), v) => Some((k, v.unwrap_or_default())),
        (true, None, _) => return Err("ListObjectVersions: truncated without a next marker".into()),
        _ => None,
    };
    let mut entries: Vec<(Entry, bool)> = page.version.into_iter().map(|e| (e, false)).collect();
    entries.extend(page.delete_marker.into_iter().map(|e| (e, true)));
    Ok((entries, next))
}

fn encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The bucket's URL with `query`.
fn bucket_url(s3: &S3Bucket, query: &str) -> Result<String, String> {
    Ok(match &s3.endpoint {
        Some(e) if s3.virtual_hosted => {
            let mut u = url::Url::parse(e).map_err(|e| format!("the endpoint: {e}"))?;
            let host = format!("{}.{}", s3.bucket, u.host_str().unwrap_or_default());
            u.set_host(Some(&host))
                .map_err(|e| format!("the endpoint: {e}"))?;
            format!("{}?{query}", u.as_str())
        }
        Some(e) => format!("{}/{}?{query}", e.trim_end_matches('/'), s3.bucket),
        None => format!(
            "https://{}.s3.{}.amazonaws.com/?{query}",
            s3.bucket, s3.region
        ),
    })
}

/// A signed `GET` of the bucket with `query`: status and body (at most `max` bytes kept).
pub(super) async fn signed_get(
    s3: &S3Bucket,
    query: &str,
    what: &str,
    max: usize,
) -> Result<(u16, String), String> {
    let url = bucket_url(s3, query)?;
    let credential = s3
        .store
        .credentials()
        .get_credential()
        .await
        .map_err(|e| format!("no credentials for the bucket: {e}"))?;
    let mut request = http::Request::builder()
        .method("GET")
        .uri(&url)
        .body(HttpRequestBody::empty())
        .map_err(|e| format!("{what}: {e}"))?;
    AwsAuthorizer::new(&credential, "s3", &s3.region)
        .try_authorize(&mut request, None)
        .map_err(|e| format!("cannot sign {what}: {e}"))?;
    let client = ReqwestConnector::default()
        .connect(&ClientOptions::new().with_allow_http(s3.allow_http))
        .map_err(|e| e.to_string())?;
    let response = client
        .execute(request)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .bytes()
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    Ok((
        status,
        String::from_utf8_lossy(&body[..body.len().min(max)]).into_owned(),
    ))
}

impl Archive {
    /// Every version and delete marker under the archive's prefix, oldest first per object; `None`
    /// for a store without versions sluice can list (a directory, GCS, Azure).
    ///
    /// # Errors
    ///
    /// The listing fails (the credentials need `s3:ListBucketVersions`).
    pub async fn versions(&self) -> Result<Option<Vec<Version>>, ArchiveError> {
        let Some(s3) = &self.s3 else {
            return Ok(None);
        };
        let fail = |why: String| ArchiveError::Versions {
            url: self.url.clone(),
            why,
        };
        let prefix = if self.prefix.as_ref().is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix.as_ref())
        };
        let mut out = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut query = format!("prefix={}&versions", encode(&prefix));
            if let Some((key, version)) = &marker {
                let _ = write!(query, "&key-marker={}", encode(key));
                if !version.is_empty() {
                    let _ = write!(query, "&version-id-marker={}", encode(version));
                }
            }
            let (status, body) = signed_get(s3, &query, "ListObjectVersions", MAX_PAGE)
                .await
                .map_err(&fail)?;
            if !(200..300).contains(&status) {
                return Err(fail(format!(
                    "ListObjectVersions answered {status}; the credentials need s3:ListBucketVersions \
                     to check the archive's versions"
                )));
            }
            let (entries, next) = parse_page(&body).map_err(&fail)?;
            for (e, delete_marker) in entries {
                let Some(name) = e.key.strip_prefix(&prefix) else {
                    continue;
                };
                out.push(Version {
                    name: name.to_owned(),
                    id: e.version_id,
                    latest: e.is_latest,
                    delete_marker,
                    last_modified: e.last_modified,
                });
            }
            match next {
                Some(n) if Some(&n) != marker.as_ref() => marker = Some(n),
                _ => break,
            }
        }
        out.sort_by(|a, b| {
            (&a.name, &a.last_modified, !a.latest).cmp(&(&b.name, &b.last_modified, !b.latest))
        });
        Ok(Some(out))
    }

    /// The bytes of one version of object `name`.
    ///
    /// # Errors
    ///
    /// The store fails, or the object is larger than [`super::MAX_OBJECT`].
    pub async fn get_version(&self, name: &str, version: &str) -> Result<Vec<u8>, ArchiveError> {
        let opts = GetOptions {
            version: Some(version.to_owned()),
            ..GetOptions::default()
        };
        let got = self
            .store
            .get_opts(&self.path(name), opts)
            .await
            .map_err(self.store_err())?;
        if got.meta.size > super::MAX_OBJECT {
            return Err(ArchiveError::TooLarge {
                url: self.url.clone(),
                name: name.to_owned(),
            });
        }
        Ok(got.bytes().await.map_err(self.store_err())?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_interleaved_versions_and_delete_markers() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>p/</Prefix><IsTruncated>true</IsTruncated>
  <NextKeyMarker>p/segments/2</NextKeyMarker><NextVersionIdMarker>v9</NextVersionIdMarker>
  <Version><Key>p/segments/1</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest>
    <LastModified>2026-01-02T00:00:02.000Z</LastModified></Version>
  <DeleteMarker><Key>p/segments/2</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest>
    <LastModified>2026-01-02T00:00:03.000Z</LastModified></DeleteMarker>
  <Version><Key>p/segments/2</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest>
    <LastModified>2026-01-02T00:00:01.000Z</LastModified></Version>
</ListVersionsResult>"#;
        let (entries, next) = parse_page(xml).unwrap();
        assert_eq!(next, Some(("p/segments/2".into(), "v9".into())));
        let got: Vec<(&str, &str, bool)> = entries
            .iter()
            .map(|(e, d)| (e.key.as_str(), e.version_id.as_str(), *d))
            .collect();
        assert_eq!(
            got,
            [
                ("p/segments/1", "v2", false),
                ("p/segments/2", "v1", false),
                ("p/segments/2", "v3", true)
            ]
        );
        assert!(parse_page("<nonsense").is_err());
    }
}
