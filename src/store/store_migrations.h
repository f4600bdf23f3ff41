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
	/* 2: tenants of the HTTPS service, their bearer tokens (hashed), and the
	 * answers of transaction requests for idempotent retries (src/tenant, src/http) */
	"CREATE TABLE tenants ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  api_key TEXT NOT NULL UNIQUE,"
	"  secret_hash BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  disabled INTEGER NOT NULL DEFAULT 0"
	") STRICT;"
	"CREATE TABLE tenant_tokens ("
	"  token_hash BLOB PRIMARY KEY,"
	"  tenant_id TEXT NOT NULL REFERENCES tenants(id),"
	"  expires_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE tx_requests ("
	"  tss_id TEXT NOT NULL,"
	"  tx_id TEXT NOT NULL,"
	"  revision INTEGER NOT NULL,"
	"  number INTEGER NOT NULL,"
	"  request_hash BLOB NOT NULL,"
	"  response TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (tss_id, tx_id, revision)"
	") STRICT;"
	"CREATE INDEX tx_requests_number ON tx_requests(tss_id, number);",
	/* 3: TSE exports (src/export): one row per export written, for the
	 * incremental export (everything after the previous full/incremental one) */
	"CREATE TABLE exports ("
	"  tss_id TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('full','incremental','filtered')),"
	"  first_counter INTEGER,"
	"  last_counter INTEGER,"
	"  snapshot_counter INTEGER NOT NULL,"
	"  logs INTEGER NOT NULL,"
	"  PRIMARY KEY (tss_id, seq)"
	") STRICT;",
	/* 4: batch signing (src/job): jobs with their confirmed documents, and
	 * the audit trail of every signature (hash chain, each entry signed) */
	"CREATE TABLE sign_jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  number TEXT NOT NULL,"                 /* the job number shown to the signer */
	"  route TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('CONFIRMED','RUNNING','DONE','FAILED','ABORTED')),"
	"  abort_requested INTEGER NOT NULL DEFAULT 0,"
	"  n_docs INTEGER NOT NULL,"
	"  n_signed INTEGER NOT NULL DEFAULT 0,"
	"  pin_asks INTEGER NOT NULL DEFAULT 0,"
	"  key TEXT,"
	"  reason TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  finished_at INTEGER"
	") STRICT;"
	"CREATE INDEX sign_jobs_number ON sign_jobs(number);"
	"CREATE TABLE sign_job_docs ("
	"  job_id INTEGER NOT NULL REFERENCES sign_jobs(id),"
	"  idx INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  sha256 BLOB NOT NULL,"
	"  output TEXT NOT NULL,"
	"  PRIMARY KEY (job_id, idx)"
	") STRICT;"
	"CREATE TABLE sign_audit ("
	"  seq INTEGER PRIMARY KEY,"
	"  job_id INTEGER NOT NULL,"
	"  job_number TEXT NOT NULL,"
	"  route TEXT NOT NULL,"
	"  doc_name TEXT,"
	"  doc_sha256 BLOB,"
	"  key_id TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  result TEXT NOT NULL,"
	"  prev_hash BLOB NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  sig BLOB NOT NULL"
	") STRICT;",
	/* 5: the idempotency records of 2 (tx_requests) split in two, so that a request
	 * writes on pages other requests of its group commit write too:
	 * tx_answers is keyed by the transaction number, which grows, and
	 * holds the answer of every revision; only a start adds a key in
	 * client order (the txId, often random) to tx_refs. With one table
	 * keyed by txId every request dirtied a page of its own: 2.8 instead
	 * of 0.9 WAL pages per call in bench/http_tx. */
	"CREATE TABLE tx_refs ("
	"  tss_id TEXT NOT NULL,"
	"  tx_id TEXT NOT NULL,"
	"  number INTEGER NOT NULL,"
	"  PRIMARY KEY (tss_id, tx_id)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE tx_answers ("
	"  tss_id TEXT NOT NULL,"
	"  number INTEGER NOT NULL,"
	"  revision INTEGER NOT NULL,"
	"  tx_id TEXT NOT NULL,"
	"  request_hash BLOB NOT NULL,"
	"  response TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (tss_id, number, revision)"
	") STRICT;"
	"INSERT INTO tx_refs (tss_id, tx_id, number)"
	"  SELECT tss_id, tx_id, MIN(number) FROM tx_requests GROUP BY tss_id, tx_id;"
	"INSERT INTO tx_answers (tss_id, number, revision, tx_id, request_hash, response, created_at)"
	"  SELECT tss_id, number, revision, tx_id, request_hash, response, created_at"
	"  FROM tx_requests;"
	"DROP TABLE tx_requests;",
	/* 6: the signer of a batch-signing job (hex SHA-256 of its certificate,
	 * as in sign_audit.key_id) and its outbox, recorded when the job
	 * starts, so that the audit entries of a job whose process ended can be
	 * completed later and its status can tell that it ended */
	"ALTER TABLE sign_jobs ADD COLUMN key_id TEXT;"
	"ALTER TABLE sign_jobs ADD COLUMN outbox TEXT;",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

#endif
