//! A temporary directory for one unit test, removed when the test ends,
//! pass or fail. Test code only.

use std::path::PathBuf;

pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `/tmp/flightrec-NAME-PID`, empty.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("flightrec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
