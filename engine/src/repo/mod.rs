//! The image repository (format v1, specified in docs/FORMAT.md): immutable, content-addressed
//! chunks in pack files, index files saying where each chunk is, and one manifest per image.
//!
//! It owns the on-disk format and its write ordering (packs, then index, then manifest, each
//! file made complete before it is visible). It must not decide what to copy from a disk (the
//! plan does) nor talk to the user; every byte it reads back is checked against its hash.

pub mod http;
pub mod image_disk;
pub mod index;
pub mod listing;
pub mod local;
pub mod location;
pub mod manifest;
pub mod net;
pub mod nfs;
pub mod pack;
pub mod recover;
pub mod smb;
pub mod store;

use crate::error::{Error, Result};
use index::Location;
pub use location::{Credentials, Password};
use manifest::Manifest;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use store::Store;

pub const CONFIG_FILE: &str = "wraith-repo.json";
/// Packs are closed at this size: large enough for few files, small enough for bounded memory
/// and far from FAT32's 4 GiB limit.
pub const PACK_TARGET: usize = 32 << 20;
/// An index file is written after this many packs, so an interrupted save still leaves its
/// finished packs indexed and reusable by the next run.
const PACKS_PER_INDEX: usize = 8;

/// BLAKE3-256 of a chunk's uncompressed bytes: its name everywhere in the repository.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 32]);

impl ChunkId {
    pub fn of(data: &[u8]) -> ChunkId {
        ChunkId(*blake3::hash(data).as_bytes())
    }
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
    pub fn from_hex(s: &str) -> Option<ChunkId> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(ChunkId(out))
    }
}

impl std::fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkId({})", self.short())
    }
}

impl Serialize for ChunkId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}
impl<'de> Deserialize<'de> for ChunkId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ChunkId::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("chunk id must be 64 hex digits"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoConfig {
    pub format: String,
    pub version: u32,
    pub chunk_size: u64,
    pub hash: String,
    pub compression: String,
    pub zstd_level: i32,
    /// How saves cut used data into chunks. Repositories made before content-defined
    /// chunking say nothing and keep fixed windows, so their next images still share chunks
    /// with their earlier ones.
    #[serde(default)]
    pub chunking: Chunking,
}

/// How a save cuts a disk's used data into chunks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chunking {
    /// `chunk_size` windows aligned on disk offsets: chunks are shared between images of the
    /// same disk only (format version 1).
    #[default]
    Fixed,
    /// Content-defined boundaries ([`crate::pipeline::cdc`]): chunks are shared between
    /// machines holding the same files at other offsets (format version 2).
    Cdc,
}

impl Default for RepoConfig {
    fn default() -> Self {
        RepoConfig {
            format: "wraith-repository".into(),
            version: 1,
            chunk_size: 1 << 20,
            hash: "blake3".into(),
            compression: "zstd".into(),
            // Measured on the bench disk (1 MiB chunks): level 4 stores 0.2 % less than 3 and
            // costs 0.5 % fewer instructions (larger hash tables: fewer wasted probes); 5 costs
            // twice as much for 0.6 % less, 2 stores 1.3 % more. See [`Compression`].
            zstd_level: Compression::default().zstd_level(),
            chunking: Chunking::Cdc,
        }
    }
}

/// How hard a save compresses the chunks it stores: the technician's choice between speed and
/// size, per repository (its default, set when it is created) and per save. Chunks already in
/// the repository are kept as stored; restores read every level alike.
///
/// Measured with 1 MiB chunks compressed one by one, as saves do (`zstd -b -B1M -T2` on this
/// 2-core machine, 400 MB of a Debian system's libraries and binaries; figures in
/// bench/README.md): level 1 compresses at 1.8x the speed of level 4 for 9.5 % more bytes;
/// level 6 stores 4.4 % less than 4 at 0.45x the speed; past 6 each step costs far more time
/// than it saves (9: 5.2 % less at 0.28x, 12: 5.6 % at 0.16x).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// zstd 1: when the save's time matters most (a slow CPU, a fast disk).
    Fast,
    /// zstd 4: the default. On two cores it is what limits a save; on four and more the disk
    /// or the network is, so it costs little, and every restore over a network reads 9 % less
    /// than `fast`.
    #[default]
    Balanced,
    /// zstd 6: images kept long or sent over slow links.
    Small,
}

impl Compression {
    pub const ALL: [Compression; 3] =
        [Compression::Fast, Compression::Balanced, Compression::Small];

    pub fn zstd_level(self) -> i32 {
        match self {
            Compression::Fast => 1,
            Compression::Balanced => 4,
            Compression::Small => 6,
        }
    }

    /// The choice a repository's level is (None: a level set by hand).
    pub fn of_level(level: i32) -> Option<Compression> {
        Self::ALL.into_iter().find(|c| c.zstd_level() == level)
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Fast => "fast",
            Compression::Balanced => "balanced",
            Compression::Small => "small",
        }
    }

    /// The next choice, round: what a key press in a front end moves to.
    pub fn next(self) -> Compression {
        match self {
            Compression::Fast => Compression::Balanced,
            Compression::Balanced => Compression::Small,
            Compression::Small => Compression::Fast,
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (zstd {})", self.name(), self.zstd_level())
    }
}

impl std::str::FromStr for Compression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Compression> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                Error::Invalid(format!("compression {s:?}: choose fast, balanced or small"))
            })
    }
}

/// Describes a repository's or a save's zstd level for a person.
pub fn describe_level(level: i32) -> String {
    match Compression::of_level(level) {
        Some(c) => c.to_string(),
        None => format!("zstd {level}"),
    }
}

/// An image in a repository: its name and its id (creation time plus a hash prefix).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ImageRef {
    pub name: String,
    pub id: String,
}

impl ImageRef {
    pub fn path(&self) -> String {
        format!("images/{}/{}.manifest", self.name, self.id)
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.id)
    }
}

/// Another source of a restore's chunks besides the store (a multicast stream, mcast/): asked
/// first for each chunk; what it does not have is read from the store as usual. It gives the
/// chunk's *stored* bytes (as in the pack, with the index's flags), unverified: the pipeline
/// decodes and checks them against the id like any read, and calls
/// [`ChunkFeed::rejected`] for bytes that fail, then reads the store.
pub trait ChunkFeed: Send + Sync {
    /// The stored bytes of `id` when the feed has them (waiting for them only while they may
    /// still come, and not once `cancel` is set), else `None`.
    fn take(&self, id: &ChunkId, cancel: &crate::events::Cancel) -> Option<Vec<u8>>;
    /// Bytes given for `id` failed their check: counted, and the store is read instead.
    fn rejected(&self, id: &ChunkId);
    /// Whether `id` may still come from the feed (else it is worth prefetching from the store).
    fn may_deliver(&self, id: &ChunkId) -> bool;
    /// Notices told while the restore runs (see [`crate::events::Notices`]).
    fn notices(&self) -> Option<&crate::events::Notices> {
        None
    }
    /// A line for the end of the restore: what came from where.
    fn summary(&self) -> Option<String> {
        None
    }
}

pub struct Repository {
    /// Asked before the store for a restore's chunks ([`Repository::set_feed`]).
    feed: Option<std::sync::Arc<dyn ChunkFeed>>,
    /// Shared with a save's background upload (see [`Writer`]).
    store: std::sync::Arc<dyn Store>,
    pub config: RepoConfig,
    index: HashMap<ChunkId, Location>,
    /// Index files that could not be read; their chunks count as missing.
    pub damaged_indexes: Vec<Error>,
}

impl Repository {
    /// Opens an existing repository in a directory.
    pub fn open(path: &Path) -> Result<Repository> {
        Self::open_store(Box::new(local::LocalDir::new(path)))
    }

    /// Opens a repository, creating it if the directory is missing or empty.
    pub fn open_or_create(path: &Path) -> Result<Repository> {
        Self::open_or_create_with(path, &RepoConfig::default())
    }

    /// As [`Repository::open_or_create`], a new repository getting `config`.
    fn open_or_create_with(path: &Path, config: &RepoConfig) -> Result<Repository> {
        let empty = match std::fs::read_dir(path) {
            Ok(mut rd) => rd.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(Error::io(path, e)),
        };
        if empty {
            std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
            let store = local::LocalDir::new(path);
            let cfg =
                serde_json::to_vec_pretty(config).map_err(|e| Error::Invalid(e.to_string()))?;
            store.put_new(CONFIG_FILE, &cfg)?;
        }
        // Opened to save into: packs left unindexed by an interrupted save are reused.
        let mut repo = Self::open(path)?;
        repo.adopt_unindexed_packs()?;
        Ok(repo)
    }

    /// Opens a repository in any location ([`location::Location`]: a directory, or an smb://,
    /// nfs://, http(s):// URL). With `create`, a missing or empty location becomes a new
    /// repository, and the location must be writable (checked now, before any work).
    pub fn open_url(url: &str, creds: &Credentials, create: bool) -> Result<Repository> {
        Self::open_url_with(url, creds, create.then(RepoConfig::default).as_ref())
    }

    /// As [`Repository::open_url`]; with `create`, a new repository gets that configuration
    /// (an existing one keeps its own).
    pub fn open_url_with(
        url: &str,
        creds: &Credentials,
        create: Option<&RepoConfig>,
    ) -> Result<Repository> {
        let loc = location::Location::parse(url)?;
        let shown = loc.display();
        let creds = creds.for_location(&loc);
        let store: Box<dyn Store> = match &loc {
            location::Location::Dir(p) => {
                return match create {
                    Some(config) => Self::open_or_create_with(p, config),
                    None => Self::open(p),
                }
            }
            location::Location::Http {
                tls,
                host,
                port,
                path,
                ..
            } => Box::new(http::HttpStore::new(
                *tls, host, *port, path, &shown, &creds,
            )?),
            location::Location::Smb {
                host,
                port,
                share,
                path,
                domain,
                ..
            } => Box::new(smb::open(
                &smb::Share {
                    host,
                    port: *port,
                    share,
                    domain: domain.as_deref(),
                },
                path,
                &creds,
                &shown,
            )?),
            location::Location::Nfs {
                host,
                port,
                path,
                mountport,
            } => Box::new(nfs::open(
                &nfs::Export {
                    host,
                    port: *port,
                    path,
                    mountport: *mountport,
                },
                &shown,
            )?),
        };
        if let Some(config) = create {
            Self::create_in(store.as_ref(), config)?;
            // As for a directory: packs a save cut off by a network loss stored but never
            // indexed (the index write itself may be what failed) are reused, not sent again.
            let mut repo = Self::open_store(store)?;
            repo.adopt_unindexed_packs()?;
            return Ok(repo);
        }
        Self::open_store(store)
    }

    /// Makes `store` a repository if it holds nothing yet; checks it can be written.
    fn create_in(store: &dyn Store, config: &RepoConfig) -> Result<()> {
        if !store.exists(CONFIG_FILE)? {
            let entries = store.list("")?;
            if !entries.is_empty() {
                return Err(Error::refused(
                    crate::error::Interlock::NotARepository,
                    format!(
                    "{}: not a Wraith repository and not empty ({} entries, e.g. {:?}); choose \
                     an empty or new directory",
                    store.location(),
                    entries.len(),
                    entries[0]
                ),
                ));
            }
            store.check_writable()?;
            let cfg =
                serde_json::to_vec_pretty(config).map_err(|e| Error::Invalid(e.to_string()))?;
            store.put_new(CONFIG_FILE, &cfg)?;
        } else {
            store.check_writable()?;
        }
        Ok(())
    }

    pub fn open_store(store: Box<dyn Store>) -> Result<Repository> {
        let cfg_bytes = match store.read(CONFIG_FILE) {
            Ok(b) => b,
            Err(Error::NotFound { .. }) => {
                return Err(Error::NotFound {
                    what: format!(
                        "{}: no Wraith repository here ({CONFIG_FILE} missing)",
                        store.location()
                    ),
                })
            }
            Err(e) => return Err(e),
        };
        let config: RepoConfig = serde_json::from_slice(&cfg_bytes).map_err(|e| {
            Error::corrupt(
                format!("{}/{CONFIG_FILE}", store.location()),
                0,
                e.to_string(),
            )
        })?;
        if config.format != "wraith-repository" || config.version != 1 {
            return Err(Error::Unsupported(format!(
                "{}: repository format {} v{} (this Wraith reads wraith-repository v1)",
                store.location(),
                config.format,
                config.version
            )));
        }
        if !(4096..=(16 << 20)).contains(&config.chunk_size) {
            return Err(Error::corrupt(
                format!("{}/{CONFIG_FILE}", store.location()),
                0,
                "chunk_size out of range",
            ));
        }
        let mut repo = Repository {
            feed: None,
            store: std::sync::Arc::from(store),
            config,
            index: HashMap::new(),
            damaged_indexes: Vec::new(),
        };
        repo.load_index()?;
        Ok(repo)
    }

    fn load_index(&mut self) -> Result<()> {
        let names: Vec<String> = self
            .store
            .list("index")?
            .into_iter()
            .filter(|n| n.ends_with(".idx"))
            .collect();
        // Several reads at once where each waits a network round trip.
        let lanes = self.store.parallel_reads().clamp(1, names.len().max(1));
        let store = self.store.as_ref();
        let read = |lane: usize| -> Vec<Result<Vec<(ChunkId, Location)>>> {
            names
                .iter()
                .skip(lane)
                .step_by(lanes)
                .map(|name| {
                    store
                        .read(&format!("index/{name}"))
                        .and_then(|b| index::decode(name, &b))
                })
                .collect()
        };
        let results: Vec<Result<Vec<(ChunkId, Location)>>> = if lanes == 1 {
            read(0)
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..lanes).map(|l| s.spawn(move || read(l))).collect();
                handles
                    .into_iter()
                    .flat_map(|h| {
                        h.join().unwrap_or_else(|_| {
                            vec![Err(Error::Invalid("index reader panicked".into()))]
                        })
                    })
                    .collect()
            })
        };
        for r in results {
            match r {
                Ok(entries) => self.index.extend(entries),
                Err(e) => self.damaged_indexes.push(e),
            }
        }
        Ok(())
    }

    pub fn location(&self) -> String {
        self.store.location()
    }
    /// Makes a restore from this repository ask `feed` for each chunk before the store.
    pub fn set_feed(&mut self, feed: std::sync::Arc<dyn ChunkFeed>) {
        self.feed = Some(feed);
    }
    pub fn feed(&self) -> Option<&dyn ChunkFeed> {
        self.feed.as_deref()
    }
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
    pub fn contains(&self, id: &ChunkId) -> bool {
        self.index.contains_key(id)
    }
    pub fn locate(&self, id: &ChunkId) -> Option<Location> {
        self.index.get(id).copied()
    }
    pub fn chunk_count(&self) -> usize {
        self.index.len()
    }

    pub fn pack_path(pack: &ChunkId) -> String {
        let h = pack.hex();
        format!("packs/{}/{h}.pack", &h[..2])
    }

    /// The stored (compressed) bytes of a chunk, unverified; see [`pack::decode`].
    pub fn read_stored(&self, id: &ChunkId) -> Result<(Vec<u8>, Location)> {
        let loc = self.locate(id).ok_or_else(|| Error::NotFound {
            what: format!("chunk {} in {}", id.short(), self.location()),
        })?;
        let data = self.store.read_at(
            &Self::pack_path(&loc.pack),
            loc.offset,
            loc.stored_len as usize,
        )?;
        Ok((data, loc))
    }

    /// [`Repository::read_stored`] into `buf`, whose allocation is reused.
    pub fn read_stored_into(&self, id: &ChunkId, buf: &mut Vec<u8>) -> Result<Location> {
        let loc = self.locate(id).ok_or_else(|| Error::NotFound {
            what: format!("chunk {} in {}", id.short(), self.location()),
        })?;
        self.store.read_at_into(
            &Self::pack_path(&loc.pack),
            loc.offset,
            loc.stored_len as usize,
            buf,
        )?;
        Ok(loc)
    }

    /// Tells the location a chunk will be read soon (see [`Store::prefetch`]).
    pub fn prefetch_chunk(&self, id: &ChunkId) {
        // A chunk the feed may still bring is not read from the store ahead of time: that
        // would fetch over the network what the stream carries.
        if self.feed.as_ref().is_some_and(|f| f.may_deliver(id)) {
            return;
        }
        if let Some(loc) = self.locate(id) {
            self.store.prefetch(
                &Self::pack_path(&loc.pack),
                loc.offset,
                loc.stored_len as u64,
            );
        }
    }

    /// A chunk's bytes, verified against its id.
    pub fn read_chunk(&self, id: &ChunkId) -> Result<Vec<u8>> {
        let (stored, loc) = self.read_stored(id)?;
        pack::decode(
            id,
            &stored,
            loc.raw_len,
            loc.flags,
            &format!("pack {}", loc.pack.hex()),
        )
    }

    /// Every image, oldest first within each name.
    pub fn images(&self) -> Result<Vec<ImageRef>> {
        let mut out = Vec::new();
        for name in self.store.list("images")? {
            for file in self.store.list(&format!("images/{name}"))? {
                if let Some(id) = file.strip_suffix(".manifest") {
                    out.push(ImageRef {
                        name: name.clone(),
                        id: id.to_string(),
                    });
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Finds `name` (its newest image) or `name@id` (an id or a unique prefix of one).
    pub fn resolve(&self, name: &str, id: Option<&str>) -> Result<ImageRef> {
        let all: Vec<ImageRef> = self
            .images()?
            .into_iter()
            .filter(|r| r.name == name)
            .collect();
        if all.is_empty() {
            return Err(Error::NotFound {
                what: format!("image {name:?} in {}", self.location()),
            });
        }
        match id {
            None | Some("latest") => all
                .last()
                .cloned()
                .ok_or_else(|| Error::NotFound { what: name.into() }),
            Some(id) => {
                let m: Vec<&ImageRef> = all.iter().filter(|r| r.id.starts_with(id)).collect();
                match m.as_slice() {
                    [one] => Ok((*one).clone()),
                    [] => Err(Error::NotFound {
                        what: format!("image {name}@{id} in {}", self.location()),
                    }),
                    _ => Err(Error::Invalid(format!(
                        "{name}@{id} matches {} images; give more of the id",
                        m.len()
                    ))),
                }
            }
        }
    }

    pub fn load_manifest(&self, image: &ImageRef) -> Result<Manifest> {
        let path = image.path();
        let bytes = self.store.read(&path)?;
        Manifest::decode(&format!("{}/{path}", self.location()), &bytes)
    }

    /// Starts adding chunks. Several writers (even in several processes) may run at once:
    /// every file they create has a unique, content-derived name.
    pub fn writer(&self) -> Writer<'_> {
        Writer {
            repo: self,
            pack: pack::PackBuilder::new(),
            index_pending: Vec::new(),
            packs_pending: 0,
            added: HashSet::new(),
            new_bytes: 0,
            upload: None,
        }
    }

    /// Lists pack files (relative paths).
    pub fn packs(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for d in self.store.list("packs")? {
            for f in self.store.list(&format!("packs/{d}"))? {
                if f.ends_with(".pack") {
                    out.push(format!("packs/{d}/{f}"));
                }
            }
        }
        Ok(out)
    }
}

/// Appends new chunks to packs and records them in index files. Dropping a writer without
/// [`Writer::finish`] loses only the chunks of its unfinished pack; nothing visible is damaged.
pub struct Writer<'r> {
    repo: &'r Repository,
    pack: pack::PackBuilder,
    index_pending: Vec<(ChunkId, Location)>,
    packs_pending: usize,
    added: HashSet<ChunkId>,
    new_bytes: u64,
    /// A remote store's pack (and its index) being uploaded while the next one fills; its
    /// buffer comes back for the next pack.
    upload: Option<std::thread::JoinHandle<Result<Vec<u8>>>>,
}

impl Writer<'_> {
    /// Whether the chunk is already stored or queued by this writer.
    pub fn has(&self, id: &ChunkId) -> bool {
        self.repo.contains(id) || self.added.contains(id)
    }

    /// Adds a compressed chunk unless it is already there. Returns whether it was new.
    pub fn add(&mut self, id: ChunkId, stored: &[u8], raw_len: u32, flags: u32) -> Result<bool> {
        if self.has(&id) {
            return Ok(false);
        }
        self.added.insert(id);
        self.pack.add(id, stored, raw_len, flags);
        self.new_bytes += stored.len() as u64;
        if self.pack.len() >= PACK_TARGET {
            self.flush_pack()?;
        }
        Ok(true)
    }

    /// Compressed bytes added so far.
    pub fn new_bytes(&self) -> u64 {
        self.new_bytes
    }

    fn flush_pack(&mut self) -> Result<()> {
        if self.pack.is_empty() {
            return Ok(());
        }
        // The previous upload first: at most one pack is in flight (memory stays bounded), and
        // its failure stops the save here.
        let reuse = self.wait_upload()?.unwrap_or_default();
        let full = std::mem::replace(&mut self.pack, pack::PackBuilder::reusing(reuse));
        let (bytes, entries) = full.finish();
        let pack_id = ChunkId::of(&bytes);
        let located: Vec<(ChunkId, Location)> = entries
            .into_iter()
            .map(|e| {
                (
                    e.id,
                    Location {
                        pack: pack_id,
                        offset: e.offset,
                        stored_len: e.stored_len,
                        raw_len: e.raw_len,
                        flags: e.flags,
                    },
                )
            })
            .collect();
        if self.repo.store.remote() {
            // Over a network a request takes as long as the wire needs, and the workers would
            // wait for it: the pack goes up on a thread of its own while the next one fills.
            // And a save may lose its server at any moment, and then cannot write an index
            // for the packs it stored: each pack is indexed as soon as it is stored there,
            // so a re-run reuses everything that reached the share.
            let store = std::sync::Arc::clone(&self.repo.store);
            self.upload = Some(
                std::thread::Builder::new()
                    .name("pack-upload".into())
                    .spawn(move || {
                        store.put_new(&Repository::pack_path(&pack_id), &bytes)?;
                        let index = index::encode(&located);
                        let name = ChunkId::of(&index).hex();
                        store.put_new(&format!("index/{name}.idx"), &index)?;
                        Ok(bytes)
                    })
                    .map_err(|e| Error::io("starting the pack upload", e))?,
            );
            return Ok(());
        }
        let stored = self
            .repo
            .store
            .put_new(&Repository::pack_path(&pack_id), &bytes);
        self.pack = pack::PackBuilder::reusing(bytes);
        stored?;
        self.index_pending.extend(located);
        self.packs_pending += 1;
        if self.packs_pending >= PACKS_PER_INDEX {
            self.flush_index()?;
        }
        Ok(())
    }

    /// Waits for the pack upload in flight, if any; gives its buffer back.
    fn wait_upload(&mut self) -> Result<Option<Vec<u8>>> {
        match self.upload.take() {
            None => Ok(None),
            Some(t) => match t.join() {
                Ok(r) => r.map(Some),
                Err(_) => Err(Error::Invalid(
                    "the pack upload stopped unexpectedly".into(),
                )),
            },
        }
    }

    fn flush_index(&mut self) -> Result<()> {
        if self.index_pending.is_empty() {
            return Ok(());
        }
        let bytes = index::encode(&self.index_pending);
        let name = ChunkId::of(&bytes).hex();
        self.repo
            .store
            .put_new(&format!("index/{name}.idx"), &bytes)?;
        self.index_pending.clear();
        self.packs_pending = 0;
        Ok(())
    }

    /// Makes every added chunk durable and indexed. The packs already stored are indexed
    /// even when the last pack cannot be (a full drive), so a re-run reuses them.
    pub fn finish(&mut self) -> Result<()> {
        let packed = self.flush_pack();
        let uploaded = self.wait_upload();
        let indexed = self.flush_index();
        packed.and(uploaded.map(|_| ())).and(indexed)
    }

    /// Finishes the chunks, then writes the manifest: the image becomes visible only now.
    pub fn commit(mut self, manifest: &Manifest) -> Result<ImageRef> {
        self.finish()?;
        let bytes = manifest.encode()?;
        let hash = ChunkId::of(&bytes).hex();
        // Ids must sort in save order even for saves within one millisecond (scripts, tests),
        // so the time in the id is kept after the newest existing image of this name.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let newest = self
            .repo
            .images()?
            .into_iter()
            .filter(|i| i.name == manifest.name)
            .filter_map(|i| id_millis(&i.id))
            .max();
        let ms = now_ms
            .max(manifest.created * 1000)
            .max(newest.map_or(0, |n| n + 1));
        let image = ImageRef {
            name: manifest.name.clone(),
            id: format!("{}-{}", timestamp_id_ms(ms), &hash[..8]),
        };
        if !self.repo.store.put_new(&image.path(), &bytes)? {
            return Err(Error::Invalid(format!("image {image} already exists")));
        }
        Ok(image)
    }
}

/// A readable, valid image name from what a disk is: "Samsung_SSD_860-S3Z9NB0K", or the
/// device's file name when the model is unknown.
pub fn default_image_name(model: Option<&str>, serial: Option<&str>, path: &Path) -> String {
    let raw = match (model, serial) {
        (Some(m), Some(s)) => format!("{m}-{s}"),
        (Some(m), None) => m.to_string(),
        _ => path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "disk".into()),
    };
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(64);
    name.trim_start_matches('.').to_string()
}

/// Image names become directory names on FAT32 and SMB shares: keep them portable.
pub fn check_image_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "image name {name:?}: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'"
        )))
    }
}

/// `20261122T021500.123Z`: sortable, and legal in FAT32 file names (no ':').
pub fn timestamp_id_ms(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms / 1000);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{:03}Z", ms % 1000)
}

/// The time in an image id, in milliseconds since the epoch (the inverse of `timestamp_id_ms`).
fn id_millis(id: &str) -> Option<u64> {
    let num = |r: std::ops::Range<usize>| id.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s, ms) = (num(9..11)?, num(11..13)?, num(13..15)?, num(16..19)?);
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from((days * 86400 + h * 3600 + mi * 60 + s) * 1000 + ms).ok()
}

/// `2026-11-22 02:15:00 UTC` for people.
pub fn timestamp_text(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// Gregorian date from Unix seconds (days-from-civil inverted; valid for all u64 years we meet).
fn civil(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (
        y as u64,
        m as u64,
        d as u64,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_gregorian_utc() {
        assert_eq!(timestamp_id_ms(0), "19700101T000000.000Z");
        for ms in [0, 951_782_400_123, 1_795_313_700_999, 4_102_444_800_000] {
            assert_eq!(
                id_millis(&format!("{}-abcdef12", timestamp_id_ms(ms))),
                Some(ms)
            );
        }
        assert_eq!(timestamp_text(1_795_313_700), "2026-11-22 02:15:00 UTC");
        assert_eq!(timestamp_id_ms(951_782_400_123), "20000229T000000.123Z");
    }

    #[test]
    fn image_names_must_be_portable() {
        assert!(check_image_name("win11-golden_v2.1").is_ok());
        for bad in ["", "a/b", "..", "c:d", "x y", &"n".repeat(65)] {
            assert!(check_image_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chunk_ids_round_trip_through_hex() {
        let id = ChunkId::of(b"hello");
        assert_eq!(ChunkId::from_hex(&id.hex()), Some(id));
        assert_eq!(ChunkId::from_hex("zz"), None);
    }
}
