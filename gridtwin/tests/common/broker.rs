//! A Mosquitto broker of our own (Debian's `mosquitto`, installed by `cargo xtask ci` when
//! missing): a free port on loopback, anonymous clients, persistence when asked for.

// Each test crate and bench uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Broker {
    /// No persistence.
    pub fn start(tag: &str) -> Broker {
        Broker::start_with(tag, "")
    }

    /// With `settings` (TLS, persistence, queue sizes) added to its configuration.
    pub fn start_with(tag: &str, settings: &str) -> Broker {
        let dir = std::env::temp_dir().join(format!("gridtwin-mqtt-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let persistence = if settings.contains("persistence true") {
            format!("persistence_location {}/\n", dir.display())
        } else {
            "persistence false\n".into()
        };
        let anonymous = if settings.contains("allow_anonymous") {
            ""
        } else {
            "allow_anonymous true\n"
        };
        // As root, mosquitto would drop to the `mosquitto` user; stay who we are.
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\n{settings}{persistence}{anonymous}user root\nlog_dest stderr\n"
            ),
        )
        .unwrap();
        let child = spawn(&dir, port);
        Broker { child, port, dir }
    }

    /// Stopped as a service manager stops it (SIGTERM: it saves its state when persistent)
    /// and started again on the same port.
    pub fn restart(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.child = spawn(&self.dir, self.port);
    }
}

fn spawn(dir: &Path, port: u16) -> Child {
    let child = Command::new(mosquitto())
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto (cargo xtask ci installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn mosquitto() -> &'static Path {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .unwrap_or(Path::new("mosquitto"))
}
