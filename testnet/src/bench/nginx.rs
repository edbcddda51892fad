//! The one-source baseline's server: nginx serving a directory over loopback with
//! `sendfile on`, run as an ordinary foreground process with a generated configuration,
//! pid file, logs and temporary paths all in its own temporary directory. Where `openssl`
//! is installed, the same directory is also served over HTTPS (TLS 1.3 with AES-128-GCM,
//! a self-signed certificate made for the run), the way a lab would serve weights itself.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use super::programs;

/// How long nginx may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long nginx may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running nginx; stopped when dropped.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    port: u16,
    /// The HTTPS port and the certificate to trust, when HTTPS is served.
    tls: Option<(u16, PathBuf)>,
    prefix: TempDir,
}

impl Nginx {
    /// Starts `nginx` (the executable at `bin`) serving `root` on 127.0.0.1, with its
    /// files in a new temporary directory under `work`.
    pub fn start(bin: &Path, root: &Path, work: &Path) -> anyhow::Result<Self> {
        let prefix = tempfile::Builder::new()
            .prefix("nginx-")
            .tempdir_in(work)
            .context("creating nginx's directory")?;
        let port = free_port()?;
        let without = compiled_without(bin);
        let tls = match make_certificate(prefix.path()) {
            Some(cert) => Some((free_port()?, cert)),
            None => None,
        };
        let tls_listen = tls.as_ref().map(|(port, cert)| TlsListen {
            port: *port,
            cert: cert.clone(),
            key: prefix.path().join("key.pem"),
        });
        let conf = config(prefix.path(), root, port, tls_listen.as_ref(), &without);
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).context("writing nginx.conf")?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(prefix.path())
            .arg("-e")
            .arg(prefix.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut nginx = Self {
            child,
            port,
            tls,
            prefix,
        };
        nginx.wait_listening()?;
        Ok(nginx)
    }

    /// The URL of `path` (relative to the served root).
    pub fn url(&self, path: &Path) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, path.display())
    }

    /// The HTTPS URL of `path` and the certificate a client must trust, when HTTPS is
    /// served.
    pub fn https_url(&self, path: &Path) -> Option<(String, &Path)> {
        self.tls.as_ref().map(|(port, cert)| {
            (
                format!("https://localhost:{port}/{}", path.display()),
                cert.as_path(),
            )
        })
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.path().join("error.log")).unwrap_or_default()
    }

    fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for nginx")? {
                bail!("nginx exited ({status}) at start:\n{}", self.error_log());
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "nginx did not listen on port {} within {START_TIMEOUT:?}:\n{}",
                    self.port,
                    self.error_log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master stops its workers too; SIGKILL would orphan them.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes a self-signed ECDSA P-256 certificate for `localhost` in `dir` (`cert.pem`,
/// `key.pem`) with `openssl`; `None` when openssl is missing or fails.
fn make_certificate(dir: &Path) -> Option<PathBuf> {
    let openssl = programs::find("openssl")?;
    let cert = dir.join("cert.pem");
    let status = Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(cert)
}

/// The HTTPS listener of the configuration.
struct TlsListen {
    port: u16,
    cert: PathBuf,
    key: PathBuf,
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port for nginx")?;
    Ok(listener.local_addr()?.port())
}

/// The HTTP modules nginx was built without (`--without-http_NAME_module` in `nginx -V`),
/// whose temporary-path directives it would reject.
fn compiled_without(bin: &Path) -> Vec<String> {
    let Ok(output) = Command::new(bin).arg("-V").output() else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&output.stderr);
    text.split_whitespace()
        .filter_map(|flag| flag.strip_prefix("--without-http_"))
        .filter_map(|rest| rest.strip_suffix("_module"))
        .map(str::to_owned)
        .collect()
}

/// nginx.conf: one worker, sendfile on, no access log, everything under `prefix`; with
/// `tls`, a second listener serving the same root over TLS 1.3 with AES-128-GCM.
fn config(
    prefix: &Path,
    root: &Path,
    port: u16,
    tls: Option<&TlsListen>,
    without: &[String],
) -> String {
    let p = |name: &str| -> PathBuf { prefix.join(name) };
    // As root, workers would otherwise switch to `nobody`, who cannot read a private
    // temporary directory. As anyone else, nginx ignores `user`.
    let user = if programs::is_root() {
        "user root;\n"
    } else {
        ""
    };
    let mut temp_paths = format!("    client_body_temp_path {};\n", p("body").display());
    for module in ["proxy", "fastcgi", "uwsgi", "scgi"] {
        if !without.iter().any(|w| w == module) {
            temp_paths.push_str(&format!(
                "    {module}_temp_path {};\n",
                p(module).display()
            ));
        }
    }
    let tls_lines = tls.map_or_else(String::new, |tls| {
        format!(
            "        listen 127.0.0.1:{port} ssl;\n\
             \x20       ssl_certificate {cert};\n\
             \x20       ssl_certificate_key {key};\n\
             \x20       ssl_protocols TLSv1.3;\n\
             \x20       ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;\n",
            port = tls.port,
            cert = tls.cert.display(),
            key = tls.key.display(),
        )
    });
    format!(
        "{user}worker_processes 1;\n\
         pid {pid};\n\
         error_log {error_log} warn;\n\
         events {{\n    worker_connections 64;\n}}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   sendfile on;\n\
         \x20   tcp_nopush on;\n\
         \x20   default_type application/octet-stream;\n\
         {temp_paths}\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         {tls_lines}\
         \x20       root {root};\n\
         \x20   }}\n\
         }}\n",
        pid = p("nginx.pid").display(),
        error_log = p("error.log").display(),
        root = root.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_serves_the_root_with_sendfile() {
        let conf = config(
            Path::new("/tmp/n"),
            Path::new("/data/ckpt"),
            8080,
            Some(&TlsListen {
                port: 8443,
                cert: PathBuf::from("/tmp/n/cert.pem"),
                key: PathBuf::from("/tmp/n/key.pem"),
            }),
            &["scgi".to_owned()],
        );
        assert!(conf.contains("sendfile on;"));
        assert!(conf.contains("access_log off;"));
        assert!(conf.contains("listen 127.0.0.1:8080;"));
        assert!(conf.contains("root /data/ckpt;"));
        assert!(conf.contains("pid /tmp/n/nginx.pid;"));
        assert!(conf.contains("proxy_temp_path /tmp/n/proxy;"));
        assert!(!conf.contains("scgi_temp_path"));
        assert!(conf.contains("listen 127.0.0.1:8443 ssl;"));
        assert!(conf.contains("ssl_certificate /tmp/n/cert.pem;"));
        assert!(conf.contains("Ciphersuites TLS_AES_128_GCM_SHA256;"));
    }
}
