//! The local development chain: hardhat's node (pinned in `tools/package.json`,
//! installed by `npm ci --prefix tools`), on a free loopback port, with
//! hardhat's well-known development accounts (public keys: never fund them
//! anywhere real). Killed when dropped.
//!
//! hardhat is found without looking at the current directory: `VERIFLOP_HARDHAT`
//! (a directory holding `node_modules/hardhat`), else the `tools/` directory of
//! this source tree, else of a veriflop checkout holding the running program.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::ChainError;

/// Environment variable naming a directory that holds `node_modules/hardhat`.
pub const HARDHAT_ENV: &str = "VERIFLOP_HARDHAT";

/// The chain id of the development node (`tools/hardhat.config.js`).
pub const DEV_CHAIN_ID: u64 = 31337;

/// The first development accounts' private keys (hardhat's default mnemonic,
/// published in its documentation): the operator, a client, two providers.
pub const DEV_KEYS: [&str; 4] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

/// Where hardhat is installed, or how to install it.
pub fn locate() -> Result<PathBuf, ChainError> {
    let has = |d: &Path| d.join("node_modules/hardhat/internal/cli/cli.js").is_file();
    if let Ok(dir) = std::env::var(HARDHAT_ENV) {
        let d = PathBuf::from(dir);
        return if has(&d) {
            Ok(d)
        } else {
            Err(ChainError::Config(format!("{HARDHAT_ENV}={} holds no node_modules/hardhat", d.display())))
        };
    }
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("tools");
    if has(&tree) {
        return Ok(tree);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(d) = exe.ancestors().skip(1).map(|d| d.join("tools")).find(|d| has(d)) {
            return Ok(d);
        }
    }
    Err(ChainError::Config(format!(
        "no hardhat for the local chain: run `npm ci --prefix {}` (or set {HARDHAT_ENV})",
        tree.canonicalize().unwrap_or(tree).display()
    )))
}

fn free_port() -> Result<u16, ChainError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| ChainError::Io(format!("no free port: {e}")))?;
    Ok(l.local_addr().map_err(|e| ChainError::Io(e.to_string()))?.port())
}

/// A running development node.
pub struct DevNode {
    child: Child,
    pub url: String,
}

impl DevNode {
    /// Starts hardhat's node on a free loopback port and waits until it answers.
    pub fn start() -> Result<DevNode, ChainError> {
        let tools = locate()?;
        let port = free_port()?;
        let mut child = Command::new("node")
            .arg(tools.join("node_modules/hardhat/internal/cli/cli.js"))
            .args(["--config", "hardhat.config.js", "node", "--hostname", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(&tools)
            .env("HARDHAT_DISABLE_TELEMETRY_PROMPT", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ChainError::Io(format!("starting hardhat's node (is Node.js installed?): {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Drain the node's log (a full pipe would stall it); report readiness.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Started HTTP") {
                    let _ = tx.send(());
                }
            }
        });
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || for _ in BufReader::new(stderr).lines().map_while(Result::ok) {});
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(ChainError::Io(format!("hardhat's node exited at start-up ({status})")));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(ChainError::Timeout("hardhat's node did not start within 60 s".into()));
            }
        }
        Ok(DevNode { child, url: format!("http://127.0.0.1:{port}") })
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
