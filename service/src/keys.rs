//! Verifying keys for the shapes this service accepts, loaded from a key
//! directory in the prover's KeyStore layout:
//! - Groth16: `<circuit>-<MxKxN>-<dtype>.vk`, one per circuit and shape. Keys
//!   found at start-up are loaded; a key added later is picked up the first time
//!   a job asks for its shape (reading a file of a few hundred bytes).
//! - halo2: the universal SRS `halo2.srs` (checked at start-up) and an
//!   allow-list of shapes ([`Halo2Policy`]). Only allowed shapes ever get a key:
//!   at start-up ([`KeyRegistry::warm_up`]) each is loaded from the key cache
//!   next to the SRS (`halo2-<shape>-<srs>.h2vk`, see
//!   [`veriflop_halo2::keycache`]) or derived from the SRS (seconds to tens of
//!   seconds) and written there; the SRS is then released. A request for a
//!   shape that is not allowed is refused without any key work, so no request
//!   can buy a derivation, and the in-memory halo2 keys are bounded by the list.
//!   Derivations are single-flight per shape and at most
//!   `derive_concurrency` run at once.
//! - inference: a model's verifying key `inference-<digest>-b<batch>.ivk`
//!   ([`veriflop_infer::keys`]), found by the job's model word (cm_b) and
//!   shape. Keys found at start-up are loaded; on a miss the directory is read
//!   again for new `.ivk` files, at most once every [`MODEL_RESCAN`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use veriflop_circuits::{CircuitKind, Dtype, ProofSystem, Shape};
use veriflop_halo2::{KeyCache, KeySource, Srs, SrsFingerprint};

use veriflop_infer::keys::ModelVk;
use veriflop_verifier::keys::{ShapeKey, SRS_FILE};
use veriflop_verifier::verify::Verifier;

/// File name of a verifying key in a key directory (same as the prover's KeyStore).
pub fn vk_file_name(kind: CircuitKind, shape: &Shape) -> String {
    format!("{}.vk", veriflop_verifier::keys::key_file_stem(kind, shape))
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyLoadError {
    #[error("no verifying key for {kind} {shape} (expected {path})")]
    Missing { kind: CircuitKind, shape: Shape, path: PathBuf },
    #[error("no commitment key for committed {shape} (expected {path}, written by `veriflop-prover setup` beside the .vk): uploads of committed jobs are checked with it")]
    MissingCommitKey { shape: Shape, path: PathBuf },
    #[error("{system} cannot prove {kind} jobs (it proves poseidon ones)")]
    Unsupported { system: ProofSystem, kind: CircuitKind },
    #[error("no halo2 SRS (expected {path})")]
    NoSrs { path: PathBuf },
    #[error("shape {shape} needs a halo2 SRS of 2^{need} points; this verifier's has 2^{have}")]
    SrsTooSmall { shape: Shape, need: u32, have: u32 },
    #[error("halo2 shape {shape} is not served here; this verifier's halo2 shapes: {allowed} (operator setting --halo2-shapes)")]
    NotAllowed { shape: Shape, allowed: String },
    #[error("no key for model {model} with shape {shape} (an `inference-*.ivk` file written by `veriflop-prover model setup`)")]
    MissingModel { model: String, shape: Shape },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("{0}")]
    Config(String),
}

/// Which halo2 shapes the service verifies, and how key derivation is bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Halo2Policy {
    /// The allow-list: only these shapes get a key (derived or loaded at start-up).
    pub shapes: Vec<Shape>,
    /// Derivations running at once (at least 1).
    pub derive_concurrency: usize,
}

impl Default for Halo2Policy {
    fn default() -> Self {
        Halo2Policy { shapes: Vec::new(), derive_concurrency: 1 }
    }
}

/// Parses an allow-list `MxKxN[:dtype],…` (dtype int8 when omitted; an empty
/// string is the empty list).
pub fn parse_halo2_shapes(s: &str) -> Result<Vec<Shape>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (dims, dtype) = match item.split_once(':') {
            Some((d, t)) => (d, t.trim().parse::<Dtype>().map_err(|e| format!("{item:?}: {e}"))?),
            None => (item, Dtype::Int8),
        };
        let (m, k, n) = veriflop_circuits::shape::parse_dims(dims).map_err(|e| format!("{item:?}: {e}"))?;
        let shape = Shape::new(m, k, n, dtype).map_err(|e| format!("{item:?}: {e}"))?;
        if !out.contains(&shape) {
            out.push(shape);
        }
    }
    Ok(out)
}

type KeyId = (ProofSystem, CircuitKind, Shape);

/// One derivation (or cache load) of a shape's key that other callers wait for.
#[derive(Default)]
struct Flight {
    result: Mutex<Option<Result<Arc<Verifier>, KeyLoadError>>>,
    done: Condvar,
}

impl Flight {
    fn finish(&self, r: Result<Arc<Verifier>, KeyLoadError>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<Arc<Verifier>, KeyLoadError> {
        let mut g = self.result.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = g.as_ref() {
                return r.clone();
            }
            g = self.done.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A counting semaphore for blocking threads.
struct Slots {
    free: Mutex<usize>,
    cv: Condvar,
}

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut n = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *n == 0 {
            n = self.cv.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.cv.notify_one();
    }
}

struct Halo2Keys {
    policy: Halo2Policy,
    /// The SRS while keys may still be derived from it (released by `warm_up`).
    srs: RwLock<Option<Srs>>,
    /// (k, fingerprint) of the directory's SRS, kept after it is released.
    srs_id: Option<(u32, SrsFingerprint)>,
    cache: KeyCache,
    flights: Mutex<HashMap<Shape, Arc<Flight>>>,
    slots: Slots,
    derivations: AtomicU64,
    loaded: AtomicU64,
    running: AtomicU64,
    peak: AtomicU64,
}

/// How often a miss may read the key directory again for new model keys.
pub const MODEL_RESCAN: std::time::Duration = std::time::Duration::from_secs(5);

/// A model's verifier, and its input and output bases as the commitment key
/// uploads are checked with (input as `a`, output as `c`, no `b`).
#[derive(Clone)]
pub struct ModelKey {
    pub verifier: Arc<Verifier>,
    pub ck: Arc<veriflop_circuits::cp::CommitKey>,
}

#[derive(Default)]
struct Models {
    by_job: HashMap<(ark_bn254::Fr, Shape), ModelKey>,
    files: std::collections::HashSet<PathBuf>,
    last_scan: Option<std::time::Instant>,
}

pub struct KeyRegistry {
    dir: PathBuf,
    models: Mutex<Models>,
    keys: RwLock<HashMap<KeyId, Arc<Verifier>>>,
    /// Commitment keys of committed shapes, loaded on first upload.
    commit_keys: Mutex<HashMap<Shape, Arc<veriflop_circuits::cp::CommitKey>>>,
    halo2: Halo2Keys,
}

/// Reads a model's verifying key, named as `veriflop-prover model setup` names it.
fn read_model_key(path: &Path) -> Result<ModelKey, KeyLoadError> {
    let invalid = |msg: String| KeyLoadError::Invalid { path: path.to_path_buf(), msg };
    let bytes = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let vk = ModelVk::from_bytes(&bytes).map_err(|e| invalid(e.to_string()))?;
    let expected = format!("{}.ivk", veriflop_infer::keys::file_stem(&vk.model_digest, vk.batch));
    if path.file_name().and_then(|n| n.to_str()) != Some(expected.as_str()) {
        return Err(invalid(format!("holds another model's key; it should be named {expected}")));
    }
    let ck = vk.commit_key().map_err(|e| invalid(e.to_string()))?;
    let verifier = Verifier::inference(vk).map_err(|e| invalid(e.to_string()))?;
    Ok(ModelKey { verifier: Arc::new(verifier), ck: Arc::new(ck) })
}

fn read_key(path: &Path) -> Result<ShapeKey, KeyLoadError> {
    let invalid = |msg: String| KeyLoadError::Invalid { path: path.to_path_buf(), msg };
    let meta = std::fs::metadata(path).map_err(|e| invalid(e.to_string()))?;
    if meta.len() > veriflop_verifier::keys::MAX_VK_BYTES as u64 {
        return Err(invalid(format!("{} bytes is too large for a verifying key", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    ShapeKey::from_bytes(&bytes).map_err(|e| invalid(e.to_string()))
}

/// Opens the key directory for a service: every Groth16 key, the halo2 SRS,
/// then every allowed halo2 shape's key (loaded or derived), on the blocking
/// pool. Fails if an allowed shape cannot get a key (no SRS, SRS too small).
pub async fn open(dir: PathBuf, policy: Halo2Policy) -> Result<KeyRegistry, KeyLoadError> {
    tokio::task::spawn_blocking(move || {
        let reg = KeyRegistry::load_with(dir, policy)?;
        reg.warm_up()?;
        Ok(reg)
    })
    .await
    .map_err(|e| KeyLoadError::Config(format!("loading keys: {e}")))?
}

impl KeyRegistry {
    /// Loads every `*.vk` in `dir` and its halo2 SRS if present, with no halo2
    /// shape allowed (a missing directory is an error; an empty one is not).
    pub fn load(dir: impl Into<PathBuf>) -> Result<Self, KeyLoadError> {
        Self::load_with(dir, Halo2Policy::default())
    }

    /// [`KeyRegistry::load`] serving the halo2 shapes of `policy`. Their keys
    /// are obtained on first use unless [`KeyRegistry::warm_up`] runs first.
    pub fn load_with(dir: impl Into<PathBuf>, policy: Halo2Policy) -> Result<Self, KeyLoadError> {
        if policy.derive_concurrency == 0 {
            return Err(KeyLoadError::Config("halo2 derive concurrency must be at least 1".into()));
        }
        let dir = dir.into();
        let srs_path = dir.join(SRS_FILE);
        let srs = if srs_path.is_file() {
            let srs = Srs::read_file(&srs_path)
                .map_err(|e| KeyLoadError::Invalid { path: srs_path.clone(), msg: e.to_string() })?;
            tracing::info!(
                "loaded halo2 SRS of 2^{} points, fingerprint {} ({})",
                srs.k(),
                srs.fingerprint().short(),
                srs_path.display()
            );
            Some(srs)
        } else {
            None
        };
        let halo2 = Halo2Keys {
            srs_id: srs.as_ref().map(|s| (s.k(), s.fingerprint())),
            srs: RwLock::new(srs),
            slots: Slots { free: Mutex::new(policy.derive_concurrency), cv: Condvar::new() },
            policy,
            cache: KeyCache::new(&dir),
            flights: Mutex::new(HashMap::new()),
            derivations: AtomicU64::new(0),
            loaded: AtomicU64::new(0),
            running: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        };
        let reg = KeyRegistry {
            dir: dir.clone(),
            models: Mutex::new(Models::default()),
            keys: RwLock::new(HashMap::new()),
            commit_keys: Mutex::new(HashMap::new()),
            halo2,
        };
        // Refuse a policy the SRS cannot serve now, not at the first job.
        for shape in &reg.halo2.policy.shapes {
            reg.halo2_precheck(shape)?;
        }
        let entries =
            std::fs::read_dir(&dir).map_err(|e| KeyLoadError::Invalid { path: dir.clone(), msg: e.to_string() })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("vk") {
                continue;
            }
            let key = read_key(&path)?;
            let h = key.header;
            let expected = vk_file_name(h.kind, &h.shape);
            if path.file_name().and_then(|n| n.to_str()) != Some(expected.as_str()) {
                return Err(KeyLoadError::Invalid {
                    path,
                    msg: format!("holds the key for {} {}; it should be named {expected}", h.kind, h.shape),
                });
            }
            tracing::info!("loaded verifying key {} {} ({})", h.kind, h.shape, key.fingerprint());
            reg.insert(key);
        }
        reg.scan_models()?;
        Ok(reg)
    }

    /// Loads every model key file not loaded yet.
    fn scan_models(&self) -> Result<(), KeyLoadError> {
        let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        models.last_scan = Some(std::time::Instant::now());
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| KeyLoadError::Invalid { path: self.dir.clone(), msg: e.to_string() })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("ivk") || models.files.contains(&path) {
                continue;
            }
            let key = read_model_key(&path)?;
            let (verifier, ck) = (&key.verifier, &key.ck);
            let vk = verifier.model_key().expect("an inference verifier");
            tracing::info!(
                "loaded model key {} batch {} ({} → {}), {}",
                hex::encode(&vk.model_digest[..8]),
                vk.batch,
                vk.d_in,
                vk.d_out,
                verifier.fingerprint()
            );
            let id = (veriflop_verifier::verify::model_word(&vk.model_digest), ck.shape);
            models.by_job.insert(id, key);
            models.files.insert(path);
        }
        Ok(())
    }

    /// The key of an inference job's model (its cm_b) and shape; a miss reads
    /// the directory again for new model keys, at most once per [`MODEL_RESCAN`].
    pub fn model(&self, model: ark_bn254::Fr, shape: &Shape) -> Result<ModelKey, KeyLoadError> {
        let recent = {
            let models = self.models.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = models.by_job.get(&(model, *shape)) {
                return Ok(k.clone());
            }
            models.last_scan.is_some_and(|t| t.elapsed() < MODEL_RESCAN)
        };
        if !recent {
            self.scan_models()?;
            if let Some(k) = self.models.lock().unwrap_or_else(|p| p.into_inner()).by_job.get(&(model, *shape)) {
                return Ok(k.clone());
            }
        }
        Err(KeyLoadError::MissingModel { model: veriflop_circuits::field::fr_to_hex(&model), shape: *shape })
    }

    /// Obtains the key of every allowed halo2 shape (from the key cache, or
    /// derived: at most `derive_concurrency` at once), then releases the SRS:
    /// no key is ever derived after this.
    pub fn warm_up(&self) -> Result<(), KeyLoadError> {
        let shapes = &self.halo2.policy.shapes;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = self.halo2.policy.derive_concurrency.min(shapes.len());
        let results: Vec<Result<(), KeyLoadError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| -> Result<(), KeyLoadError> {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(shape) = shapes.get(i) else { return Ok(()) };
                            self.get(ProofSystem::Halo2KzgBn254, CircuitKind::Poseidon, shape)?;
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(KeyLoadError::Config("a key derivation panicked".into()))))
                .collect()
        });
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        if self.halo2.srs.write().unwrap_or_else(|p| p.into_inner()).take().is_some() && !shapes.is_empty() {
            tracing::info!("halo2 keys ready for {} shape(s); SRS released", shapes.len());
        }
        Ok(())
    }

    pub fn insert(&self, key: ShapeKey) -> Arc<Verifier> {
        self.insert_verifier(Verifier::new(key))
    }

    fn insert_verifier(&self, v: Verifier) -> Arc<Verifier> {
        let v = Arc::new(v);
        let id = (v.system(), v.circuit(), v.shape());
        self.keys.write().unwrap_or_else(|p| p.into_inner()).insert(id, v.clone());
        v
    }

    /// The verifier if it is loaded already (never touches the disk).
    pub fn cached(&self, system: ProofSystem, kind: CircuitKind, shape: &Shape) -> Option<Arc<Verifier>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).get(&(system, kind, *shape)).cloned()
    }

    /// The committed circuit's commitment key of `shape` (`<stem>.ck` beside its
    /// verifying key), with which the service recomputes uploads' commitments.
    /// Blocks on first use (file read and point validation).
    pub fn commit_key(&self, shape: &Shape) -> Result<Arc<veriflop_circuits::cp::CommitKey>, KeyLoadError> {
        if let Some(ck) = self.commit_keys.lock().expect("commit keys").get(shape) {
            return Ok(ck.clone());
        }
        let path =
            self.dir.join(format!("{}.ck", veriflop_verifier::keys::key_file_stem(CircuitKind::Committed, shape)));
        if !path.is_file() {
            return Err(KeyLoadError::MissingCommitKey { shape: *shape, path });
        }
        let invalid = |msg: String| KeyLoadError::Invalid { path: path.clone(), msg };
        let len = std::fs::metadata(&path).map_err(|e| invalid(e.to_string()))?.len();
        if len != veriflop_verifier::keys::ck_file_bytes(shape) as u64 {
            return Err(invalid(format!(
                "{len} bytes, a commitment key for {shape} has {}",
                veriflop_verifier::keys::ck_file_bytes(shape)
            )));
        }
        let bytes = std::fs::read(&path).map_err(|e| invalid(e.to_string()))?;
        let ck = veriflop_verifier::keys::ck_from_bytes(&bytes).map_err(|e| invalid(e.to_string()))?;
        if ck.shape != *shape {
            return Err(invalid(format!("the file holds the key of {}", ck.shape)));
        }
        let ck = Arc::new(ck);
        self.commit_keys.lock().expect("commit keys").insert(*shape, ck.clone());
        Ok(ck)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The refusals that need no disk and no key work: an unsupported circuit,
    /// a halo2 shape without an SRS, not allowed, or too large. `Ok` means
    /// [`KeyRegistry::get`] may do key work (file reads; a halo2 derivation
    /// only for an allowed shape, once).
    pub fn precheck(&self, system: ProofSystem, kind: CircuitKind, shape: &Shape) -> Result<(), KeyLoadError> {
        if self.cached(system, kind, shape).is_some() {
            return Ok(());
        }
        if !system.supports(kind) {
            return Err(KeyLoadError::Unsupported { system, kind });
        }
        if system == ProofSystem::Halo2KzgBn254 {
            return self.halo2_precheck(shape);
        }
        Ok(())
    }

    fn halo2_precheck(&self, shape: &Shape) -> Result<(), KeyLoadError> {
        let Some((have, _)) = self.halo2.srs_id else {
            return Err(KeyLoadError::NoSrs { path: self.dir.join(SRS_FILE) });
        };
        if !self.halo2.policy.shapes.contains(shape) {
            return Err(KeyLoadError::NotAllowed { shape: *shape, allowed: self.halo2_allowed() });
        }
        let need = veriflop_halo2::circuit_k(shape);
        if need > have {
            return Err(KeyLoadError::SrsTooSmall { shape: *shape, need, have });
        }
        Ok(())
    }

    /// The allow-list as operators write it (`MxKxN:dtype, …`, or "none").
    pub fn halo2_allowed(&self) -> String {
        let s = &self.halo2.policy.shapes;
        if s.is_empty() {
            return "none".into();
        }
        s.iter().map(|s| format!("{}x{}x{}:{}", s.m, s.k, s.n, s.dtype)).collect::<Vec<_>>().join(", ")
    }

    /// The verifier for a proof system, circuit and shape: loads a Groth16 key
    /// file that appeared since start-up; a halo2 key of an allowed shape not
    /// obtained yet is loaded from the key cache or derived, once (concurrent
    /// callers wait for the same result).
    pub fn get(&self, system: ProofSystem, kind: CircuitKind, shape: &Shape) -> Result<Arc<Verifier>, KeyLoadError> {
        if let Some(v) = self.cached(system, kind, shape) {
            return Ok(v);
        }
        self.precheck(system, kind, shape)?;
        if system == ProofSystem::Halo2KzgBn254 {
            return self.halo2_single_flight(shape);
        }
        let path = self.dir.join(vk_file_name(kind, shape));
        if !path.is_file() {
            return Err(KeyLoadError::Missing { kind, shape: *shape, path });
        }
        let key = read_key(&path)?;
        if key.header.kind != kind || key.header.shape != *shape {
            return Err(KeyLoadError::Invalid {
                path,
                msg: format!("holds the key for {} {}", key.header.kind, key.header.shape),
            });
        }
        Ok(self.insert(key))
    }

    fn halo2_single_flight(&self, shape: &Shape) -> Result<Arc<Verifier>, KeyLoadError> {
        let (flight, leader) = {
            let mut flights = self.halo2.flights.lock().unwrap_or_else(|p| p.into_inner());
            // A flight that finished since the caller looked is in the map of keys.
            if let Some(v) = self.cached(ProofSystem::Halo2KzgBn254, CircuitKind::Poseidon, shape) {
                return Ok(v);
            }
            match flights.get(shape) {
                Some(f) => (f.clone(), false),
                None => {
                    let f = Arc::new(Flight::default());
                    flights.insert(*shape, f.clone());
                    (f, true)
                }
            }
        };
        if !leader {
            return flight.wait();
        }
        // Whatever happens (even a panic), waiters get an answer and the flight ends.
        struct Land<'a> {
            reg: &'a KeyRegistry,
            shape: Shape,
            flight: Arc<Flight>,
            result: Option<Result<Arc<Verifier>, KeyLoadError>>,
        }
        impl Drop for Land<'_> {
            fn drop(&mut self) {
                let r = self.result.take().unwrap_or_else(|| Err(KeyLoadError::Config("key derivation failed".into())));
                let mut flights = self.reg.halo2.flights.lock().unwrap_or_else(|p| p.into_inner());
                flights.remove(&self.shape);
                self.flight.finish(r);
            }
        }
        let mut land = Land { reg: self, shape: *shape, flight, result: None };
        let r = self.halo2_obtain(shape).map(|v| self.insert_verifier(v));
        land.result = Some(r.clone());
        r
    }

    /// Loads the shape's key from the key cache or derives it from the SRS
    /// (holding one of the derivation slots).
    fn halo2_obtain(&self, shape: &Shape) -> Result<Verifier, KeyLoadError> {
        let h = &self.halo2;
        let srs_path = self.dir.join(SRS_FILE);
        let (_, fp) = h.srs_id.ok_or_else(|| KeyLoadError::NoSrs { path: srs_path.clone() })?;
        let _slot = h.slots.acquire();
        let fetched = h.cache.verifier_key(shape, &fp, || {
            let running = h.running.fetch_add(1, Ordering::SeqCst) + 1;
            h.peak.fetch_max(running, Ordering::SeqCst);
            h.derivations.fetch_add(1, Ordering::SeqCst);
            let srs = h.srs.read().unwrap_or_else(|p| p.into_inner());
            let r = match srs.as_ref() {
                Some(srs) => veriflop_halo2::keygen_vk(shape, srs).map_err(|e| KeyLoadError::Invalid {
                    path: srs_path.clone(),
                    msg: format!("halo2 key for {shape}: {e}"),
                }),
                None => Err(KeyLoadError::Config(format!("halo2 key for {shape}: the SRS was released"))),
            };
            h.running.fetch_sub(1, Ordering::SeqCst);
            r
        })?;
        if let Some(e) = &fetched.refused {
            tracing::warn!("refused cached halo2 key ({e}); derived it again");
        }
        if let Some(e) = &fetched.save_error {
            tracing::warn!("could not cache the halo2 key: {e}");
        }
        let vk = fetched.key;
        match fetched.source {
            KeySource::Loaded => {
                h.loaded.fetch_add(1, Ordering::SeqCst);
                tracing::info!(
                    "loaded halo2 verifying key {shape} ({}) from {} in {:.1} ms",
                    vk.fingerprint(),
                    fetched.path.display(),
                    fetched.took.as_secs_f64() * 1e3
                );
            }
            KeySource::Derived => tracing::info!(
                "derived halo2 verifying key {shape} ({}) in {:.2} s",
                vk.fingerprint(),
                fetched.took.as_secs_f64()
            ),
        }
        Ok(Verifier::halo2(vk))
    }

    /// The halo2 SRS's size (log2 of its points), when the directory has one.
    pub fn srs_k(&self) -> Option<u32> {
        self.halo2.srs_id.map(|(k, _)| k)
    }

    /// halo2 keys derived from the SRS by this registry.
    pub fn halo2_derivations(&self) -> u64 {
        self.halo2.derivations.load(Ordering::SeqCst)
    }

    /// halo2 keys loaded from the key cache by this registry.
    pub fn halo2_loaded(&self) -> u64 {
        self.halo2.loaded.load(Ordering::SeqCst)
    }

    /// Most halo2 derivations that ran at once.
    pub fn halo2_peak_derivations(&self) -> u64 {
        self.halo2.peak.load(Ordering::SeqCst)
    }

    /// halo2 keys held in memory (at most one per allowed shape).
    pub fn halo2_cached(&self) -> usize {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.keys().filter(|(y, _, _)| *y == ProofSystem::Halo2KzgBn254).count()
    }

    /// Prometheus lines for the key registry.
    pub fn render_metrics(&self) -> String {
        let h = &self.halo2;
        format!(
            "# HELP veriflop_halo2_key_derivations_total halo2 verifying keys derived from the SRS.\n\
             # TYPE veriflop_halo2_key_derivations_total counter\n\
             veriflop_halo2_key_derivations_total {}\n\
             # HELP veriflop_halo2_keys_loaded_total halo2 verifying keys loaded from the key cache.\n\
             # TYPE veriflop_halo2_keys_loaded_total counter\n\
             veriflop_halo2_keys_loaded_total {}\n\
             # HELP veriflop_halo2_keys_cached halo2 verifying keys in memory (bounded by the allow-list).\n\
             # TYPE veriflop_halo2_keys_cached gauge\n\
             veriflop_halo2_keys_cached {}\n\
             # HELP veriflop_halo2_shapes_allowed halo2 shapes on the allow-list.\n\
             # TYPE veriflop_halo2_shapes_allowed gauge\n\
             veriflop_halo2_shapes_allowed {}\n",
            h.derivations.load(Ordering::SeqCst),
            h.loaded.load(Ordering::SeqCst),
            self.halo2_cached(),
            h.policy.shapes.len()
        )
    }

    /// `(system, circuit, shape, fingerprint)` of every loaded key (model keys too).
    pub fn list(&self) -> Vec<(ProofSystem, CircuitKind, Shape, String)> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = keys
            .values()
            .chain(models.by_job.values().map(|m| &m.verifier))
            .map(|v| (v.system(), v.circuit(), v.shape(), v.fingerprint()))
            .collect();
        v.sort_by_key(|(y, k, s, _)| (y.code(), k.code(), s.id()));
        v
    }
}
