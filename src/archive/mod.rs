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
//! Nothing is ever overwritten: a put is a conditional create (`If-None-Match: *` on S3), and an object
//! that exists already counts as archived only when its bytes are the same (compared by the SHA-256
//! stored with it as `sha256` metadata, or, when the store keeps none, by hashing the object as it
//! streams). A file is streamed to the store: files up to [`PART`] in one put, larger ones (sealed
//! segments, 256 MiB by default) in parts of [`PART`], so memory stays a few parts whatever their size.
//! `object_store` cannot make the completion of a multipart upload conditional, so a large file is
//! first looked for and only then uploaded; with S3 Object Lock (versioning) a racing overwrite could
//! not remove what was there anyway.

pub mod objects;
pub mod retention;
pub mod uploader;
pub mod verify;
pub mod versions;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, Checksum};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, ObjectStore, ObjectStoreExt as _,
    ObjectStoreScheme, PutMode, PutMultipartOptions, PutOptions, RetryConfig,
};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use url::Url;

/// Largest object `get` reads into memory: a sealed segment (256 MiB by default) with room to spare.
pub const MAX_OBJECT: u64 = 1 << 30;

/// Files up to this size are put whole; larger ones in parts of this size (S3 wants at least 5 MiB).
pub const PART: usize = 8 << 20;

/// The metadata member holding an object's SHA-256 (`x-amz-meta-sha256` on S3).
const DIGEST_KEY: &str = "sha256";

/// A local file's SHA-256 (hex) and length.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Local {
    sha256: String,
    len: u64,
}

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
    #[error("{}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    /// Whether the store keeps user metadata (a directory does not).
    metadata: bool,
}

/// What [`Archive::put_file_once`] did.
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
                metadata: false,
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
                        client_options()
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
                    metadata: true,
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
            ObjectStoreScheme::GoogleCloudStorage => {
                let mut builder = GoogleCloudStorageBuilder::new()
                    .with_client_options(client_options())
                    .with_url(url);
                for (k, v) in settings {
                    if let Ok(key) = k.parse::<GoogleConfigKey>() {
                        builder = builder.with_config(key, v);
                    }
                }
                Ok(Archive {
                    store: Arc::new(builder.build().map_err(store_err)?),
                    prefix,
                    url: url.to_owned(),
                    s3: None,
                    metadata: true,
                })
            }
            ObjectStoreScheme::MicrosoftAzure => {
                let mut builder = MicrosoftAzureBuilder::new()
                    .with_client_options(client_options())
                    .with_url(url);
                for (k, v) in settings {
                    if let Ok(key) = k.parse::<AzureConfigKey>() {
                        builder = builder.with_config(key, v);
                    }
                }
                Ok(Archive {
                    store: Arc::new(builder.build().map_err(store_err)?),
                    prefix,
                    url: url.to_owned(),
                    s3: None,
                    metadata: true,
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

    /// Copies the local file `file` to `name` (e.g. `segments/00000000000000000001.jsonl`) unless the
    /// archive has it, streaming it (see the module doc). An existing object with the same bytes is
    /// [`Put::AlreadyThere`].
    ///
    /// # Errors
    ///
    /// The file cannot be read, the store fails, or `name` exists with other bytes
    /// ([`ArchiveError::Conflict`]).
    pub async fn put_file_once(&self, name: &str, file: &Path) -> Result<Put, ArchiveError> {
        let local = digest_file(file)
            .await
            .map_err(|e| Self::file_err(file, e))?;
        let path = self.path(name);
        let attributes = if self.metadata {
            Attributes::from_iter([(
                Attribute::Metadata(DIGEST_KEY.into()),
                object_store::AttributeValue::from(local.sha256.clone()),
            )])
        } else {
            Attributes::new()
        };
        if local.len <= PART as u64 {
            let bytes = tokio::fs::read(file)
                .await
                .map_err(|e| Self::file_err(file, e))?;
            let opts = PutOptions {
                mode: PutMode::Create,
                attributes,
                ..PutOptions::default()
            };
            return match self.store.put_opts(&path, bytes.into(), opts).await {
                Ok(_) => Ok(Put::Created),
                Err(object_store::Error::AlreadyExists { .. }) => self.compare(name, &local).await,
                Err(e) => Err(self.store_err()(e)),
            };
        }
        // The completion of a multipart upload cannot be conditional here: look first.
        match self.store.head(&path).await {
            Ok(_) => return self.compare(name, &local).await,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.store_err()(e)),
        }
        let opts = PutMultipartOptions {
            attributes,
            ..PutMultipartOptions::default()
        };
        let mut upload = self
            .store
            .put_multipart_opts(&path, opts)
            .await
            .map_err(self.store_err())?;
        let sent = async {
            let mut f = tokio::fs::File::open(file)
                .await
                .map_err(|e| Self::file_err(file, e))?;
            loop {
                let part = read_part(&mut f)
                    .await
                    .map_err(|e| Self::file_err(file, e))?;
                if part.is_empty() {
                    break;
                }
                upload
                    .put_part(part.into())
                    .await
                    .map_err(self.store_err())?;
            }
            upload.complete().await.map_err(self.store_err())
        }
        .await;
        match sent {
            Ok(_) => Ok(Put::Created),
            Err(e) => {
                // Best effort: the store drops the parts of an upload that never completes.
                let _ = upload.abort().await;
                Err(e)
            }
        }
    }

    /// Whether the existing object `name` holds the bytes `local` describes.
    async fn compare(&self, name: &str, local: &Local) -> Result<Put, ArchiveError> {
        let path = self.path(name);
        let conflict = || ArchiveError::Conflict {
            url: self.url.clone(),
            name: name.to_owned(),
        };
        let head = self
            .store
            .get_opts(
                &path,
                GetOptions {
                    head: true,
                    ..GetOptions::default()
                },
            )
            .await
            .map_err(self.store_err())?;
        if head.meta.size != local.len {
            return Err(conflict());
        }
        let stored = head
            .attributes
            .get(&Attribute::Metadata(DIGEST_KEY.into()))
            .map(|v| v.as_ref().to_owned());
        // No digest kept with it: hash the object as it streams.
        let digest = if let Some(d) = stored {
            d
        } else {
            let mut stream = self
                .store
                .get(&path)
                .await
                .map_err(self.store_err())?
                .into_stream();
            let mut hasher = Sha256::new();
            while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                hasher.update(chunk.map_err(self.store_err())?);
            }
            hex::encode(hasher.finalize())
        };
        if digest == local.sha256 {
            Ok(Put::AlreadyThere)
        } else {
            Err(conflict())
        }
    }

    fn file_err(file: &Path, e: std::io::Error) -> ArchiveError {
        ArchiveError::File {
            path: file.to_path_buf(),
            source: e,
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

/// The SHA-256 and length of a file, read in chunks on a blocking thread.
async fn digest_file(file: &Path) -> std::io::Result<Local> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut f = std::fs::File::open(&file)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        Ok(Local {
            sha256: hex::encode(hasher.finalize()),
            len,
        })
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The next part of a file: up to [`PART`] bytes (empty at the end).
async fn read_part(f: &mut tokio::fs::File) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let mut part = Vec::with_capacity(PART);
    (&mut *f).take(PART as u64).read_to_end(&mut part).await?;
    Ok(part)
}

/// The client options of every store: the one trust store (src/net.rs: the system's CAs, which the
/// platform verifier reads, and the in-cluster CA).
fn client_options() -> ClientOptions {
    crate::net::object_store_roots()
        .into_iter()
        .fold(ClientOptions::new(), ClientOptions::with_root_certificate)
}
