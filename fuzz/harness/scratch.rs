//! The scratch directory every harness that opens a store uses.

/// A fresh directory, in memory when the machine has /dev/shm (the fuzzer
/// makes one per input).
pub(crate) fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let mut builder = tempfile::Builder::new();
    builder.prefix("jxc-fuzz-");
    if shm.is_dir() {
        builder.tempdir_in(shm)
    } else {
        builder.tempdir()
    }
    .expect("a scratch directory")
}
