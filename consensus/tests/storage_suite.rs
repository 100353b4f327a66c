//! openraft's storage conformance suite against the sled log store and the registry state
//! machine, each case on a fresh sled database in its own temporary directory.

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageIOError;
use ossa_audit::{AuditLog, SledAuditStore};
use ossa_consensus::{RegistryStateMachine, SledLogStore, StorageError, TypeConfig};

/// Keeps a case's database and directory alive until the suite drops it.
struct Guard {
    _db: sled::Db,
    _dir: tempfile::TempDir,
}

struct SledBuilder;

fn io_err<E: std::error::Error + 'static>(e: E) -> StorageError {
    StorageIOError::write(&e).into()
}

impl StoreBuilder<TypeConfig, SledLogStore, RegistryStateMachine, Guard> for SledBuilder {
    async fn build(&self) -> Result<(Guard, SledLogStore, RegistryStateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(io_err)?;
        let db = ossa_audit::open_sled(&dir.path().join("db")).map_err(io_err)?;
        let audit = AuditLog::open(SledAuditStore::open(&db).map_err(io_err)?).map_err(io_err)?;
        let log_store = SledLogStore::open(&db).map_err(io_err)?;
        let state_machine = RegistryStateMachine::open(&db, Arc::new(audit))?;
        Ok((Guard { _db: db, _dir: dir }, log_store, state_machine))
    }
}

#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(SledBuilder) {
        panic!("storage suite failed: {e}");
    }
}
