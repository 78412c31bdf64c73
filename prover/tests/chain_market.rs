//! The on-chain market as its users run it, every party a process: a hardhat
//! node on loopback, the verifier service as the data plane and a delivery
//! attestor, the owner deploying JobEscrow and a verifier (`chain deploy`,
//! `chain register`), a client posting three jobs with their data (`chain
//! post --data-url`), one of them locked with a stake and one requiring a
//! delivery receipt, the provider agent (`chain work`) stopped after its first
//! job and restarted (it neither repeats nor misses one), and the client
//! fetching C checked against the settled commitment (`chain fetch`, its
//! settlement scanned for from genesis, or from the posting block in 2-block
//! log windows; none found from a block after it).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use veriflop_chain::devnode::{DevNode, DEV_CHAIN_ID, DEV_KEYS};
use veriflop_circuits::execute::matmul_naive;
use veriflop_circuits::matrix::write_matrix;
use veriflop_circuits::{Dtype, InputMatrix};

fn prover() -> &'static str {
    env!("CARGO_BIN_EXE_veriflop-prover")
}

fn verifier() -> PathBuf {
    let p = Path::new(prover()).with_file_name("veriflop-verifier");
    assert!(p.is_file(), "{} is not built: run the tests with --workspace (scripts/test does)", p.display());
    p
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn address(key: &str) -> String {
    veriflop_verifier::auth::Signer::from_hex(key).unwrap().address().to_string()
}

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `veriflop-prover chain …` against the node, as the holder of `key`.
fn chain(node: &DevNode, key: &str, escrow: Option<&str>) -> Command {
    chain_with(node, key, escrow, &["--json"])
}

/// [`chain`] with other global options (none: its notes on stderr).
fn chain_with(node: &DevNode, key: &str, escrow: Option<&str>, global: &[&str]) -> Command {
    let mut c = Command::new(prover());
    c.args(global)
        .args(["chain", "--rpc-url", &node.url, "--chain-id", &DEV_CHAIN_ID.to_string()])
        .env("VERIFLOP_PRIVATE_KEY", key)
        .env_remove("VERIFLOP_KEYSTORE");
    if let Some(e) = escrow {
        c.env("VERIFLOP_ESCROW", e);
    }
    c
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// The data plane (a veriflop-verifier with the keys in `keys`, its ledger and
/// blobs in `dir`), which also attests deliveries: the process, its URL and
/// the attestor's secret key.
fn data_plane(dir: &Path, keys: &Path) -> (Service, String, String) {
    let attestor_key = format!("0x{}", hex::encode(rand::random::<[u8; 32]>()));
    std::fs::write(dir.join("attestor.key"), &attestor_key).unwrap();
    let mut child = Command::new(verifier())
        .args(["--listen", "127.0.0.1:0", "--rate-limit-per-minute", "0"])
        .arg("--ledger")
        .arg(format!("sqlite://{}", dir.join("ledger.db").display()))
        .arg("--blobs")
        .arg(dir.join("blobs"))
        .arg("--keys")
        .arg(keys)
        .arg("--attestor-key-file")
        .arg(dir.join("attestor.key"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let data_url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_string();
    (Service(child), data_url, attestor_key)
}

/// A data plane that answers every download of an A with `a` and of a B with
/// `b`, whatever the commitment asked for (and stores nothing): its URL.
fn lying_data_plane(a: Vec<u8>, b: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&req).lines().next().unwrap_or_default().to_string();
            let body = if line.contains("/a/") { &a } else { &b };
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(body));
        }
    });
    url
}

fn attestor_address(key: &str) -> String {
    veriflop_verifier::auth::Signer::from_hex(key).unwrap().address().to_string()
}

#[test]
fn posted_locked_delivered_and_settled_by_a_restarted_agent() {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s);
    let keys = p("keys");
    run(Command::new(prover()).args(["--quiet", "setup", "--shape", "4x4x4", "--dtype", "int8", "--keys"]).arg(&keys));
    let node = DevNode::start().unwrap();
    let (owner, client, provider) = (DEV_KEYS[0], DEV_KEYS[1], DEV_KEYS[2]);
    let (_service, data_url, attestor_key) = data_plane(dir.path(), &keys);

    // The owner deploys the escrow and registers the shape's verifier.
    let d = json(&run(chain(&node, owner, None).arg("deploy")));
    let escrow = d["escrow"].as_str().unwrap().to_string();
    let r = json(&run(chain(&node, owner, Some(&escrow)).args(["register", "--shape", "4x4x4", "--keys"]).arg(&keys)));
    assert!(r["register"]["gas_used"].as_u64().unwrap() > 0);

    // The client posts three jobs with their data: plain, locked with a stake, delivery required.
    let venue = format!("chain:{DEV_CHAIN_ID}:{escrow}");
    let mut jobs = Vec::new();
    for i in 0..3u64 {
        let a = InputMatrix::random(4, 4, Dtype::Int8, 100 + i).unwrap();
        let b = InputMatrix::random(4, 4, Dtype::Int8, 200 + i).unwrap();
        let (pa, pb, pj) = (p(&format!("a{i}.vfm")), p(&format!("b{i}.vfm")), p(&format!("job{i}.json")));
        write_matrix(&pa, &a).unwrap();
        write_matrix(&pb, &b).unwrap();
        let nonce = format!("0x{}", hex::encode(rand::random::<[u8; 32]>()));
        let j = json(&run(Command::new(prover())
            .args(["--json", "job", "--venue", &venue, "--client", &address(client), "--nonce", &nonce])
            .arg("--a")
            .arg(&pa)
            .arg("--b")
            .arg(&pb)
            .arg("--keys")
            .arg(&keys)
            .arg("--out")
            .arg(&pj)));
        let mut post = chain(&node, client, Some(&escrow));
        post.args(["post", "--nonce", &nonce, "--price", "0.25ether", "--data-url", &data_url]);
        post.arg("--job").arg(&pj).arg("--a").arg(&pa).arg("--b").arg(&pb);
        match i {
            1 => {
                post.args(["--lock-window", "600", "--lock-stake", "0.01ether"]);
            }
            2 => {
                post.args(["--attestor", &attestor_address(&attestor_key)]);
            }
            _ => {}
        }
        let posted = json(&run(&mut post));
        assert_eq!(posted["job_id"], j["job"]["job_id"]);
        let block = posted["tx"]["block"].as_u64().unwrap();
        jobs.push((j["job"]["job_id"].as_str().unwrap().to_string(), pj, matmul_naive(&a, &b), block));
    }

    // The provider's agent settles one job and stops; restarted, it settles the other two.
    let work = |extra: &[&str]| {
        let mut c = chain(&node, provider, Some(&escrow));
        c.args(["work", "--from-block", "0", "--depth", "1", "--max-stake", "0.1ether", "--data-url", &data_url])
            .arg("--cursor")
            .arg(p("cursor.json"))
            .arg("--work-dir")
            .arg(p("work"))
            .arg("--keys")
            .arg(&keys)
            .args(extra);
        c
    };
    let first = stdout(&run(&mut work(&["--max-jobs", "1"])));
    let second = stdout(&run(&mut work(&["--exit-when-idle"])));
    let settled = |s: &str| s.lines().filter(|l| l.contains("→ paid")).map(str::to_string).collect::<Vec<_>>();
    let (first, second) = (settled(&first), settled(&second));
    println!("first run:\n{}\nsecond run:\n{}", first.join("\n"), second.join("\n"));
    assert_eq!((first.len(), second.len()), (1, 2), "{first:?} {second:?}");
    assert!(first[0].contains(&jobs[0].0), "{first:?}");
    assert!(second[0].contains(&jobs[1].0) && second[0].contains("lock "), "{second:?}");
    assert!(second[1].contains(&jobs[2].0) && second[1].contains("attestDelivery"), "{second:?}");
    // A third run finds nothing new.
    assert!(settled(&stdout(&run(&mut work(&["--exit-when-idle"])))).is_empty());

    // Every job is paid; each client fetches C checked against the settled cm_C
    // (the settlement scanned for from genesis, or from the posting block in
    // 2-block eth_getLogs windows).
    let fetch = |id: &str, pj: &Path, out: &Path, scan: &[&str]| {
        let mut c = chain(&node, client, Some(&escrow));
        c.args(["fetch", "--job-id", id, "--data-url", &data_url]).args(scan);
        c.arg("--job-file").arg(pj).arg("--keys").arg(&keys).arg("--out").arg(out);
        c
    };
    for (i, (id, pj, want, block)) in jobs.iter().enumerate() {
        let s = json(&run(chain(&node, client, Some(&escrow)).args(["status", "--job-id", id])));
        assert_eq!(s["job"]["status"], "Paid");
        let out = p(&format!("c-{}.vfm", &id[2..10]));
        let from = block.to_string();
        let scan: &[&str] = if i == 0 { &[] } else { &["--from-block", &from, "--log-window", "2"] };
        run(&mut fetch(id, pj, &out, scan));
        let c = veriflop_circuits::stream::read_file(&out).unwrap();
        assert_eq!(c.data, want.data.iter().map(|&x| x as i128).collect::<Vec<_>>());
    }
    // A --from-block after the settlement finds none, and says where it looked.
    let (id, pj, _, _) = &jobs[0];
    let o = fetch(id, pj, &p("c-none.vfm"), &["--from-block", "1000000"]).output().unwrap();
    let err = json(&o);
    assert_eq!(err["error"]["code"], "not_settled", "{err}");
    assert!(!o.status.success() && err["error"]["message"].as_str().unwrap().contains("from block 1000000"), "{err}");
    assert!(!p("c-none.vfm").exists());
    // Sending needs the chain named, and the node must serve it.
    let o = Command::new(prover())
        .args(["chain", "--rpc-url", &node.url, "refund", "--job-id", &jobs[0].0, "--escrow", &escrow])
        .env("VERIFLOP_PRIVATE_KEY", client)
        .env_remove("VERIFLOP_CHAIN_ID")
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--chain-id"), "{o:?}");
    let o = Command::new(prover())
        .args([
            "chain",
            "--rpc-url",
            &node.url,
            "--chain-id",
            "1",
            "refund",
            "--job-id",
            &jobs[0].0,
            "--escrow",
            &escrow,
        ])
        .env("VERIFLOP_PRIVATE_KEY", client)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("serves chain 31337, not chain 1"),
        "{o:?}"
    );
    // A revert is named: the client refunds a paid job.
    let o = chain(&node, client, Some(&escrow)).args(["refund", "--job-id", &jobs[0].0]).output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("JobNotOpen"), "{}", stdout(&o));
}

/// An inference job on the chain: the owner registers the model's verifier
/// (`chain register --model --batch`), the client posts its input batch with
/// the model file to the data plane, delivery required (`job --model --input`,
/// `chain post --model --input --attestor`); the agent without the model's
/// proving key leaves it, and so does one whose data plane serves another
/// input or another model; the agent with it fetches both, runs the model,
/// proves, delivers the output, gathers the receipt and settles with
/// `submitInference`; the client fetches the output, checked against the
/// settled commitment, equal to `model run`'s.
#[test]
fn an_inference_job_is_posted_proven_delivered_and_settled_on_chain() {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s);
    let (keys, model) = (p("keys"), p("model.json"));
    std::fs::write(&model, veriflop_infer::Model::random_mlp(&[12, 8, 5], 3).to_json()).unwrap();
    run(Command::new(prover())
        .args(["--quiet", "model", "setup", "--batch", "3", "--model"])
        .arg(&model)
        .arg("--keys")
        .arg(&keys));
    let node = DevNode::start().unwrap();
    let (owner, client, provider) = (DEV_KEYS[0], DEV_KEYS[1], DEV_KEYS[2]);
    let (_service, data_url, attestor_key) = data_plane(dir.path(), &keys);

    let d = json(&run(chain(&node, owner, None).arg("deploy")));
    let escrow = d["escrow"].as_str().unwrap().to_string();
    let register = || {
        let mut c = chain(&node, owner, Some(&escrow));
        c.args(["register", "--batch", "3", "--model"]).arg(&model).arg("--keys").arg(&keys);
        c
    };
    let r = json(&run(&mut register()));
    assert!(r["register"]["gas_used"].as_u64().unwrap() > 0, "{r}");
    // Registrations are write-once.
    let again = register().output().unwrap();
    assert!(!again.status.success() && stdout(&again).contains("write-once"), "{}", stdout(&again));

    let x = p("x.vfm");
    write_matrix(&x, &InputMatrix::random(3, 12, Dtype::Int8, 5).unwrap()).unwrap();
    let (pj, nonce) = (p("job.json"), format!("0x{}", hex::encode(rand::random::<[u8; 32]>())));
    let venue = format!("chain:{DEV_CHAIN_ID}:{escrow}");
    let j = json(&run(Command::new(prover())
        .args(["--json", "job", "--venue", &venue, "--client", &address(client), "--nonce", &nonce])
        .arg("--model")
        .arg(&model)
        .arg("--input")
        .arg(&x)
        .arg("--keys")
        .arg(&keys)
        .arg("--out")
        .arg(&pj)));
    assert_eq!(j["job"]["circuit"], "inference", "{j}");
    let id = j["job"]["job_id"].as_str().unwrap().to_string();
    // Its data is given as its model and input, not as A and B.
    let mut wrong = chain(&node, client, Some(&escrow));
    wrong.args(["post", "--nonce", &nonce, "--price", "0.25ether", "--data-url", &data_url]);
    let o = wrong.arg("--job").arg(&pj).arg("--a").arg(&x).arg("--b").arg(&model).output().unwrap();
    assert!(!o.status.success() && stdout(&o).contains("--input and --model"), "{o:?}");
    let mut post = chain(&node, client, Some(&escrow));
    post.args(["post", "--nonce", &nonce, "--price", "0.25ether", "--data-url", &data_url]);
    post.arg("--job").arg(&pj).arg("--model").arg(&model).arg("--input").arg(&x);
    post.args(["--attestor", &attestor_address(&attestor_key)]);
    assert_eq!(json(&run(&mut post))["job_id"], id.as_str());

    // An agent without the model's proving key leaves the job; so does one
    // whose data plane serves another input or another model (each checked
    // against the job before proving); one with the key and the true data
    // settles it.
    let work = |keys: &Path, data: &str, cursor: &str| {
        let mut c = chain_with(&node, provider, Some(&escrow), &[]);
        c.args(["work", "--from-block", "0", "--depth", "1", "--exit-when-idle", "--data-url", data])
            .arg("--cursor")
            .arg(p(cursor))
            .arg("--work-dir")
            .arg(p("work"))
            .arg("--keys")
            .arg(keys);
        c
    };
    let left = |out: &Output, why: &str| {
        assert!(!stdout(out).contains("→ paid"), "{}", stdout(out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{why}: {out:?}");
        let s = json(&run(chain(&node, client, Some(&escrow)).args(["status", "--job-id", &id])));
        assert_eq!(s["job"]["status"], "Open");
    };
    std::fs::create_dir_all(p("no-keys")).unwrap();
    left(&run(&mut work(&p("no-keys"), &data_url, "cursor-a.json")), "no proving key for model");
    let other_x = p("other-x.vfm");
    write_matrix(&other_x, &InputMatrix::random(3, 12, Dtype::Int8, 6).unwrap()).unwrap();
    let other_model = veriflop_infer::Model::random_mlp(&[12, 8, 5], 4).to_json();
    let (true_x, true_model) = (std::fs::read(&x).unwrap(), std::fs::read(&model).unwrap());
    let liar = lying_data_plane(std::fs::read(&other_x).unwrap(), true_model);
    left(&run(&mut work(&keys, &liar, "cursor-c.json")), "the input batch does not match cm_A");
    let liar = lying_data_plane(true_x, other_model);
    left(&run(&mut work(&keys, &liar, "cursor-d.json")), "not the job's model");
    let out = stdout(&run(&mut work(&keys, &data_url, "cursor-b.json")));
    let paid: Vec<&str> = out.lines().filter(|l| l.contains("→ paid")).collect();
    println!("{out}");
    assert!(paid.len() == 1 && paid[0].contains(&id) && paid[0].contains("attestDelivery"), "{out}");
    let s = json(&run(chain(&node, client, Some(&escrow)).args(["status", "--job-id", &id])));
    assert_eq!(s["job"]["status"], "Paid");

    // The client fetches the output, checked against the settled cm_C: the model's own output.
    let y = p("y.vfm");
    let mut fetch = chain(&node, client, Some(&escrow));
    fetch.args(["fetch", "--job-id", &id, "--data-url", &data_url]).arg("--job-file").arg(&pj);
    fetch.arg("--keys").arg(&keys).arg("--out").arg(&y);
    run(&mut fetch);
    run(Command::new(prover())
        .args(["--quiet", "model", "run", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&x)
        .arg("--out")
        .arg(p("want.vfm")));
    let (got, want) = (
        veriflop_circuits::stream::read_file(&y).unwrap(),
        veriflop_circuits::stream::read_file(&p("want.vfm")).unwrap(),
    );
    assert_eq!((got.rows, got.cols), (3, 5));
    assert_eq!(got.data, want.data);
}
