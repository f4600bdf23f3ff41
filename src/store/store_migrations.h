/* Versioned schema migrations of the SQLite store. Each entry moves the
 * database from version i to i+1 (PRAGMA user_version); never edit a released
 * entry, append a new one. */
#ifndef SIEGEL_STORE_MIGRATIONS_H
#define SIEGEL_STORE_MIGRATIONS_H

static const char *const store_migrations[] = {
	/* 1: TSS, users, clients, transactions, log messages */
	"CREATE TABLE tss ("
	"  id TEXT PRIMARY KEY,"
	"  state TEXT NOT NULL CHECK (state IN ('CREATED','UNINITIALIZED','INITIALIZED','DISABLED')),"
	"  description TEXT,"
	"  alg TEXT NOT NULL,"
	"  time_format TEXT NOT NULL,"
	"  key_backend TEXT NOT NULL,"
	"  key_label TEXT NOT NULL,"
	"  soft_key BLOB,"                       /* tests only: PEM of a software key */
	"  serial BLOB,"
	"  pubkey BLOB,"
	"  cert_leaf BLOB, cert_ca BLOB, cert_root BLOB,"
	"  sig_counter INTEGER NOT NULL DEFAULT 0 CHECK (sig_counter >= 0),"
	"  tx_counter INTEGER NOT NULL DEFAULT 0 CHECK (tx_counter >= 0),"
	"  max_clients INTEGER NOT NULL,"
	"  max_open_tx INTEGER NOT NULL,"
	"  time_offset_ns INTEGER,"               /* TSE time = host time + offset */
	"  time_synced_at INTEGER,"               /* TSE time of the last sync */
	"  time_boot_id TEXT,"                    /* time is lost on reboot */
	"  time_server TEXT,"
	"  created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE users ("
	"  tss_id TEXT NOT NULL REFERENCES tss(id),"
	"  user_id TEXT NOT NULL,"
	"  pin_hash BLOB NOT NULL, puk_hash BLOB NOT NULL,"
	"  pin_retries INTEGER NOT NULL,"
	"  puk_retries INTEGER NOT NULL,"
	"  logged_in_until INTEGER,"             /* TSE time; NULL = logged out */
	"  PRIMARY KEY (tss_id, user_id)"
	") STRICT;"
	"CREATE TABLE clients ("
	"  tss_id TEXT NOT NULL REFERENCES tss(id),"
	"  client_id TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('REGISTERED','DEREGISTERED')),"
	"  changed_at INTEGER NOT NULL,"
	"  PRIMARY KEY (tss_id, client_id)"
	") STRICT;"
	"CREATE TABLE transactions ("
	"  tss_id TEXT NOT NULL REFERENCES tss(id),"
	"  number INTEGER NOT NULL,"
	"  client_id TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('ACTIVE','FINISHED')),"
	"  process_type TEXT,"
	"  start_time INTEGER NOT NULL,"
	"  start_counter INTEGER NOT NULL,"
	"  last_time INTEGER NOT NULL,"
	"  last_counter INTEGER NOT NULL,"
	"  revision INTEGER NOT NULL,"
	"  PRIMARY KEY (tss_id, number)"
	") STRICT;"
	"CREATE INDEX transactions_active ON transactions(tss_id, state) WHERE state = 'ACTIVE';"
	"CREATE TABLE logs ("
	"  tss_id TEXT NOT NULL,"
	"  counter INTEGER NOT NULL,"
	"  kind INTEGER NOT NULL,"
	"  log_time INTEGER NOT NULL,"
	"  tx_number INTEGER,"
	"  client_id TEXT,"
	"  operation TEXT NOT NULL,"
	"  der BLOB NOT NULL,"
	"  exported INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (tss_id, counter)"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX logs_tx ON logs(tss_id, tx_number) WHERE tx_number IS NOT NULL;",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

#endif
