//! A real nginx (the Debian package) in front of Keyhole replicas, configured as
//! `deploy/nginx/keyhole.conf` is: an upstream per location, passed on without a URI, and the
//! shipped `deploy/nginx/keyhole-proxy.conf` included.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{request_as, Response, TempDir};

/// An nginx process started for one test, stopped (by its pid) when dropped.
pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    pub dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM to the master, which stops its workers; KILL only if it does not go.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn snippet() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/keyhole-proxy.conf")
}

/// A port nothing listens on right now, for nginx to take.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

impl Nginx {
    /// nginx on `port`, passing each location prefix to its replicas (one upstream each).
    pub fn start(port: u16, locations: &[(&str, &[SocketAddr])]) -> Nginx {
        let dir = TempDir::new("nginx");
        let d = dir.0.display();
        let include = snippet();
        let include = include.display();
        let mut upstreams = String::new();
        let mut servers = String::new();
        for (i, (prefix, replicas)) in locations.iter().enumerate() {
            let lines: String = replicas.iter().map(|a| format!("server {a}; ")).collect();
            upstreams.push_str(&format!(
                "    upstream keyhole{i} {{ {lines}keepalive 4; }}\n"
            ));
            servers.push_str(&format!(
                "        location {prefix} {{\n            proxy_pass http://keyhole{i};\n            include {include};\n        }}\n"
            ));
        }
        let conf = format!(
            r#"worker_processes 1;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{upstreams}    server {{
        listen 127.0.0.1:{port};
{servers}    }}
}}
"#
        );
        let file = dir.0.join("nginx.conf");
        std::fs::write(&file, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(&file)
            .arg("-e")
            .arg(dir.0.join("error.log"))
            .arg("-g")
            .arg(format!("daemon off; pid {d}/nginx.pid;"))
            .spawn()
            .expect("nginx starts");
        let mut n = Nginx {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(n.addr).is_err() {
            let exited = n.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!("nginx did not start ({exited:?}):\n{}", n.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("error.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        request_as(self.addr, "GET", &self.host(), target, headers)
    }
}
