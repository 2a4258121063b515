//! Taking back what an interrupted save stored. A save writes an index file only every few
//! packs, so one killed in between (power cut, SIGKILL, a pulled cable) leaves complete packs
//! that no index names. Packs describe themselves (their trailer lists every chunk, their name
//! is the hash of their bytes), so the next save indexes them instead of reading, compressing
//! and storing their chunks again.

use super::index::{self, Location};
use super::{pack, ChunkId, Repository};
use crate::error::Result;
use std::collections::HashSet;

impl Repository {
    /// Indexes every intact pack that no index file names, in one new index file, so its
    /// chunks count as stored. Returns how many packs were taken back. A pack whose bytes do
    /// not match its name, or whose trailer does not check out, is left alone: nothing that
    /// verified refers to it.
    pub fn adopt_unindexed_packs(&mut self) -> Result<usize> {
        let known: HashSet<ChunkId> = self.index.values().map(|l| l.pack).collect();
        let mut entries = Vec::new();
        let mut adopted = 0;
        for path in self.packs()? {
            let id = path
                .rsplit('/')
                .next()
                .and_then(|f| f.strip_suffix(".pack"))
                .and_then(ChunkId::from_hex);
            let Some(id) = id.filter(|id| !known.contains(id)) else {
                continue;
            };
            let Ok(bytes) = self.store.read(&path) else {
                continue;
            };
            if ChunkId::of(&bytes) != id {
                continue;
            }
            let Ok(found) = pack::read_entries(&id.hex(), &bytes) else {
                continue;
            };
            entries.extend(found.into_iter().map(|e| {
                (
                    e.id,
                    Location {
                        pack: id,
                        offset: e.offset,
                        stored_len: e.stored_len,
                        raw_len: e.raw_len,
                        flags: e.flags,
                    },
                )
            }));
            adopted += 1;
        }
        if entries.is_empty() {
            return Ok(0);
        }
        let bytes = index::encode(&entries);
        let name = format!("index/{}.idx", ChunkId::of(&bytes).hex());
        self.store.put_new(&name, &bytes)?;
        self.index.extend(entries);
        Ok(adopted)
    }
}
