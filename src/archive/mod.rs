//! The archive (docs/audit-log.md, "The archive"): sealed segments and checkpoints copied to object
//! storage (S3 and S3-compatible stores, GCS, Azure Blob, or a local directory, through the
//! `object_store` crate) under write-once names. Takes an archive URL and the store settings the
//! commands layer collected (`AWS_*`, `GOOGLE_*`, `AZURE_*`); gives write-once puts, listings, reads,
//! and the retention check. Never reads the process environment itself.
//!
//! ```text
//! <prefix>/segments/<first seq, 20 digits>.jsonl     <prefix>/checkpoints/<tree size, 20 digits>.note
//! <prefix>/tile/<level>/<index>[.p/<width>]         <prefix>/witnessed/<tree size, 20 digits>.note
//! ```
//!
//! ```text
//! objects    which local files belong in the archive, in the order they are put
//! retention  the bucket's Object Lock, read and judged
//! uploader   the sink's background copy
//! versions   S3 object versions and delete markers, reads of one version
//! verify     the archive verified: versions, then segments, tiles and checkpoints (evidence/proof)
//! ```
//!
//! Nothing is ever overwritten: every put is a conditional create (`If-None-Match: *` on S3), and an
//! object that exists already counts as archived only when its bytes are the same.

pub mod objects;
pub mod retention;
pub mod uploader;
pub mod verify;
pub mod versions;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, Checksum};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt as _, ObjectStoreScheme, PutMode, PutOptions,
    RetryConfig,
};
use std::sync::Arc;
use url::Url;

/// Largest object `get` reads into memory: a sealed segment (256 MiB by default) with room to spare.
pub const MAX_OBJECT: u64 = 1 << 30;

/// What can go wrong with the archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("--archive {url:?}: {why}")]
    Url { url: String, why: String },
    #[error("{url}: {source}")]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error(
        "{url}/{name} exists with other content; the archive never overwrites an object: find out \
         what else writes under this prefix (two sinks sharing one prefix?)"
    )]
    Conflict { url: String, name: String },
    #[error("{url}/{name} is larger than {MAX_OBJECT} bytes: not a segment")]
    TooLarge { url: String, name: String },
    #[error("{url}: {why}")]
    Retention { url: String, why: String },
    #[error("{url}: {why}")]
    Versions { url: String, why: String },
}

/// Where the S3 bucket's own API is, for the calls `object_store` does not make (Object Lock).
#[derive(Debug, Clone)]
struct S3Bucket {
    store: Arc<AmazonS3>,
    bucket: String,
    region: String,
    endpoint: Option<String>,
    virtual_hosted: bool,
    allow_http: bool,
}

/// An opened archive.
#[derive(Debug, Clone)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    /// The URL as given, for messages (it carries no credentials: those come from settings).
    url: String,
    s3: Option<S3Bucket>,
}

/// What [`Archive::put_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    /// The object was there already with the same bytes (an earlier upload whose answer was lost).
    AlreadyThere,
}

impl Archive {
    /// Opens the archive at `url` (`s3://bucket/prefix`, `gs://…`, `az://…`, `file:///dir`, or a plain
    /// directory path, created if missing) with store `settings` (lower-case keys such as
    /// `aws_endpoint`, `aws_region`; unknown keys are ignored, as `object_store` does).
    ///
    /// # Errors
    ///
    /// The URL is not one of these, or the store cannot be configured from the settings.
    pub fn open(url: &str, settings: &[(String, String)]) -> Result<Self, ArchiveError> {
        let bad = |why: String| ArchiveError::Url {
            url: url.to_owned(),
            why,
        };
        let store_err = |source| ArchiveError::Store {
            url: url.to_owned(),
            source,
        };
        if !url.contains("://") {
            std::fs::create_dir_all(url)
                .map_err(|e| bad(format!("cannot create the directory: {e}")))?;
            let store = LocalFileSystem::new_with_prefix(url).map_err(store_err)?;
            return Ok(Archive {
                store: Arc::new(store),
                prefix: StorePath::default(),
                url: url.to_owned(),
                s3: None,
            });
        }
        let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let (scheme, prefix) = ObjectStoreScheme::parse(&parsed).map_err(|e| bad(e.to_string()))?;
        match scheme {
            ObjectStoreScheme::AmazonS3 => {
                // Object Lock puts need `x-amz-sdk-checksum-algorithm` beside the checksum itself
                // (or Content-MD5), as the AWS SDKs send it. Retries are ours (the uploader backs
                // off), so the client gives up early instead of holding a pass for minutes.
                let mut headers = http::HeaderMap::new();
                headers.insert(
                    "x-amz-sdk-checksum-algorithm",
                    http::HeaderValue::from_static("SHA256"),
                );
                let mut builder = AmazonS3Builder::new()
                    .with_client_options(
                        ClientOptions::new()
                            .with_default_headers(headers)
                            .with_connect_timeout(std::time::Duration::from_secs(5))
                            .with_timeout(std::time::Duration::from_mins(1)),
                    )
                    .with_retry(RetryConfig {
                        max_retries: 2,
                        retry_timeout: std::time::Duration::from_secs(20),
                        ..RetryConfig::default()
                    });
                for (k, v) in settings {
                    if let Ok(key) = k.parse::<AmazonS3ConfigKey>() {
                        builder = builder.with_config(key, v);
                    }
                }
                // S3 refuses a put into an Object Lock bucket without a content checksum
                // (MissingUploadObjectWithObjectLockHeaders): send SHA-256 checksums.
                let builder = builder
                    .with_url(url)
                    .with_checksum_algorithm(Checksum::SHA256);
                let s3 = Arc::new(builder.clone().build().map_err(store_err)?);
                let get = |k: AmazonS3ConfigKey| builder.get_config_value(&k);
                let bucket = S3Bucket {
                    store: Arc::clone(&s3),
                    // The bucket is parsed from the URL only in `build`; the store names it.
                    bucket: s3
                        .to_string()
                        .strip_prefix("AmazonS3(")
                        .and_then(|b| b.strip_suffix(')'))
                        .map(str::to_owned)
                        .or_else(|| get(AmazonS3ConfigKey::Bucket))
                        .unwrap_or_default(),
                    region: get(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".into()),
                    endpoint: get(AmazonS3ConfigKey::Endpoint),
                    virtual_hosted: get(AmazonS3ConfigKey::VirtualHostedStyleRequest)
                        .is_some_and(|v| v == "true"),
                    allow_http: settings
                        .iter()
                        .any(|(k, v)| k == "aws_allow_http" && v == "true"),
                };
                Ok(Archive {
                    store: s3,
                    prefix,
                    url: url.to_owned(),
                    s3: Some(bucket),
                })
            }
            ObjectStoreScheme::Local => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad("not a local path".into()))?;
                let dir = dir.display().to_string();
                Archive::open(&dir, settings).map(|a| Archive {
                    url: url.to_owned(),
                    ..a
                })
            }
            ObjectStoreScheme::GoogleCloudStorage | ObjectStoreScheme::MicrosoftAzure => {
                let (store, prefix) = object_store::parse_url_opts(
                    &parsed,
                    settings.iter().map(|(k, v)| (k, v.clone())),
                )
                .map_err(store_err)?;
                Ok(Archive {
                    store: Arc::from(store),
                    prefix,
                    url: url.to_owned(),
                    s3: None,
                })
            }
            other => Err(bad(format!(
                "{other:?} is not an archive: use s3://, gs://, az://, file:// or a directory"
            ))),
        }
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, name: &str) -> StorePath {
        name.split('/')
            .fold(self.prefix.clone(), |p, part| p.clone().join(part))
    }

    fn store_err(&self) -> impl Fn(object_store::Error) -> ArchiveError + '_ {
        |source| ArchiveError::Store {
            url: self.url.clone(),
            source,
        }
    }

    /// Writes `bytes` as `name` (e.g. `segments/00000000000000000001.jsonl`) unless it exists: a
    /// conditional create. An existing object with the same bytes is [`Put::AlreadyThere`].
    ///
    /// # Errors
    ///
    /// The store fails, or `name` exists with other bytes ([`ArchiveError::Conflict`]).
    pub async fn put_once(&self, name: &str, bytes: Vec<u8>) -> Result<Put, ArchiveError> {
        let path = self.path(name);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.store.put_opts(&path, bytes.clone().into(), opts).await {
            Ok(_) => Ok(Put::Created),
            Err(object_store::Error::AlreadyExists { .. }) => {
                if self.get(name).await? == bytes {
                    Ok(Put::AlreadyThere)
                } else {
                    Err(ArchiveError::Conflict {
                        url: self.url.clone(),
                        name: name.to_owned(),
                    })
                }
            }
            Err(e) => Err(self.store_err()(e)),
        }
    }

    /// Every object name under `dir` (e.g. `tile`), at any depth, sorted.
    ///
    /// # Errors
    ///
    /// The store fails.
    pub async fn list_all(&self, dir: &str) -> Result<Vec<String>, ArchiveError> {
        use futures_util::TryStreamExt as _;
        let base = self.path(dir);
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&base))
            .try_collect()
            .await
            .map_err(self.store_err())?;
        let strip = if self.prefix.as_ref().is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix.as_ref())
        };
        let mut names: Vec<String> = metas
            .iter()
            .filter_map(|o| o.location.as_ref().strip_prefix(&strip).map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The bytes of object `name`.
    ///
    /// # Errors
    ///
    /// The store fails, or the object is larger than [`MAX_OBJECT`].
    pub async fn get(&self, name: &str) -> Result<Vec<u8>, ArchiveError> {
        let got = self
            .store
            .get(&self.path(name))
            .await
            .map_err(self.store_err())?;
        if got.meta.size > MAX_OBJECT {
            return Err(ArchiveError::TooLarge {
                url: self.url.clone(),
                name: name.to_owned(),
            });
        }
        Ok(got.bytes().await.map_err(self.store_err())?.to_vec())
    }
}
