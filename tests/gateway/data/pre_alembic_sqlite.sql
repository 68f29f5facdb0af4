BEGIN TRANSACTION;
CREATE TABLE api_token (
	id VARCHAR(40) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(40), 
	revoked_at DATETIME, 
	last_used_at DATETIME, 
	PRIMARY KEY (id)
);
INSERT INTO "api_token" VALUES('tok_2cb0815a86f74558','bootstrap admin','ncb_admin','5dcba6ebdd3012d78ab06f07c36602d74d7f5d158b3b5fbc8256c04741296508','2026-12-01 12:41:06.391722',NULL,NULL,NULL);
INSERT INTO "api_token" VALUES('tok_5736927e213a4862','SEEK-LEGACY','device','e4d81ed641885b8d2d4e17b51b5052d6aecf3cf5ed45b279d6db5c5780e7ad05','2026-12-01 12:41:08.869151','tok_2cb0815a86f74558',NULL,NULL);
CREATE TABLE audit_entry (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor_token_id VARCHAR(40), 
	actor_name VARCHAR(200), 
	actor_role VARCHAR(20), 
	device_id VARCHAR(100), 
	action VARCHAR(60) NOT NULL, 
	target_type VARCHAR(40), 
	target_id VARCHAR(60), 
	"before" JSON, 
	"after" JSON, 
	detail VARCHAR(2000), 
	PRIMARY KEY (id)
);
INSERT INTO "audit_entry" VALUES(1,'2026-12-01 12:41:08.870113','tok_2cb0815a86f74558','bootstrap admin','ncb_admin',NULL,'token.create','token','tok_5736927e213a4862','null','{"role": "device", "name": "SEEK-LEGACY"}',NULL);
INSERT INTO "audit_entry" VALUES(2,'2026-12-01 12:41:08.922704','tok_2cb0815a86f74558','bootstrap admin','ncb_admin',NULL,'subject.create','subject','sub_0e538d98c27f448ca61a','null','{"id": "sub_0e538d98c27f448ca61a", "name": "Old Record", "category": "red", "external_ref": "legacy-001", "aliases": ["O. Record"], "date_of_birth": null, "nationality": "MU", "originating_country": "MU", "sharing": null, "handling_instructions": "Wanted person (Red Notice). Do not alert the subject. Contact the NCB at once and act under national law.", "handling_instructions_overridden": false, "expires_at": null, "notes": null, "created_at": "2026-12-01T12:41:08.907811Z", "updated_at": "2026-12-01T12:41:08.907825Z", "biometrics": []}',NULL);
CREATE TABLE biometric_template (
	id VARCHAR(40) NOT NULL, 
	subject_id VARCHAR(40) NOT NULL, 
	modality VARCHAR(10) NOT NULL, 
	position INTEGER NOT NULL, 
	data BLOB NOT NULL, 
	quality JSON NOT NULL, 
	model VARCHAR(60) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(subject_id) REFERENCES subject (id) ON DELETE CASCADE
);
INSERT INTO "biometric_template" VALUES('tpl_legacy_face','sub_0e538d98c27f448ca61a','face',0,X'772C093D4810A33D4C29033D045101BEC7AEB33D432E313D642255BD33AA663DF3B5103D6E80E93CED81343B2102593D512992BD205481BC755E3FBDA2B36D3DA9457C3BDE2BE8BCBC2E9BBD142DCCBC6DD74E3AABCADABC026A003E0CCDC73DC78486BEED733BBEDDBE8ABCCB9427BD949AA93C3F86AC3CF128523EE1B2DCBD42E215BDF4B54A3E4C59803D8698833DA7064CBD358B23BECBF1843CC7152D3C9096F3BDF89887BDA1C5E4BB5F80BBBDBB061CBCF499173C6A01623BBAF648BD97AD6B3DDFDDB03DDFB5FE3C2664A2BD5935913DBB0947BDDD7BAE3DBAB6D4BDB37DB53DCDD7FEBAAFD5F7BDA931F9BCBDCCAB3B458FD83C6CEEC2BDBEC6DBBD7C719E3CAB4439BDB6F5BA3C36BD963D4C9D23BE32F3C93C200DF33D4232ECBC61EBA0BD8D4B953DD533C93C7DCDB13D060709BDAB0B13BEE3AA2EBCBCF630BD30E0993DECB7993C9BD521BE2133EDBD0667AF3D18E9863D33227EBD8125D5B8DEDC303DCFEC393D96E7AD3D799DCB3CD98F16BC977DCDBC8C87D13D065C5FBEBA255CBCC894513B23710DBECA1A043DE54181BD942AAB3D0E6847BCEFCD843D45E6F13D50FF173D1DCDADBD4B4516BE71FE2D3EBCB330BC32A888BD9E0A653C72F497BC221FA93DAF79573B28A5AE3AEFD18DBD11633A3D1530CDBD1C28843DA639173EAA4C17BE58BB74BE02DC743D08D67C3E63A6C6BD9838F8BDF5C7693D','{}','yunet2023mar+sface2021dec-int8bq','2026-12-01 12:41:08.969305');
INSERT INTO "biometric_template" VALUES('tpl_legacy_finger','sub_0e538d98c27f448ca61a','finger',2,X'464D5200203230000000010E0000012C012C00C500C5010002000028009900BBA943010B00F23F57003900AEC54E010B00583631006500EED53800820098103100EB0099D31D007E00D82A2400A3003A602B001B00E9512D00D800C6B12D00A000E12E42006A0046656200E100E50152006300464353008A00296C51003700F21B44007D00F4A25D004900F8614B0058008FBA3C00D7005BA71A005D00166E3B009200BCDE25011300CFA21F010E00EDCF3C00D0005D575300A1004C8B2C005C00BA3252003E00E5FF3E0110010F3E20009A003B426100320091133400B600FD422C00DE0082C35800B300ADB31E0102001A214F001E00C36023009D01036C33008B00EBAA27002400FA75570000','{}','leader-2026+mcc','2026-12-01 12:41:08.970622');
CREATE TABLE check_record (
	id VARCHAR(40) NOT NULL, 
	created_at DATETIME NOT NULL, 
	token_id VARCHAR(40) NOT NULL, 
	device_id VARCHAR(100), 
	adapter VARCHAR(40) NOT NULL, 
	purpose VARCHAR(60), 
	local_decision VARCHAR(12) NOT NULL, 
	decision VARCHAR(12) NOT NULL, 
	watchlist_version INTEGER NOT NULL, 
	response JSON NOT NULL, 
	upstream_status VARCHAR(16) NOT NULL, 
	upstream_result JSON, 
	review_status VARCHAR(12), 
	review_comment VARCHAR(2000), 
	reviewed_by VARCHAR(40), 
	reviewed_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE deployment_setting (
	"key" VARCHAR(40) NOT NULL, 
	value VARCHAR(200) NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "deployment_setting" VALUES('country','MU');
CREATE TABLE device_language (
	token_id VARCHAR(40) NOT NULL, 
	language VARCHAR(5) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (token_id)
);
CREATE TABLE import_job (
	id VARCHAR(40) NOT NULL, 
	status VARCHAR(12) NOT NULL, 
	source VARCHAR(200) NOT NULL, 
	total INTEGER NOT NULL, 
	processed INTEGER NOT NULL, 
	imported INTEGER NOT NULL, 
	skipped INTEGER NOT NULL, 
	rejected INTEGER NOT NULL, 
	created_by VARCHAR(40), 
	created_at DATETIME NOT NULL, 
	started_at DATETIME, 
	finished_at DATETIME, 
	error VARCHAR(2000), 
	results JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE import_job_owner (
	job_id VARCHAR(40) NOT NULL, 
	process_id VARCHAR(120) NOT NULL, 
	heartbeat_at DATETIME NOT NULL, 
	PRIMARY KEY (job_id)
);
CREATE TABLE probe_image (
	id VARCHAR(40) NOT NULL, 
	check_id VARCHAR(40) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	position INTEGER NOT NULL, 
	content_type VARCHAR(40) NOT NULL, 
	width INTEGER NOT NULL, 
	height INTEGER NOT NULL, 
	key_id VARCHAR(20) NOT NULL, 
	blob BLOB NOT NULL, 
	size INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE reference_image (
	id VARCHAR(40) NOT NULL, 
	subject_id VARCHAR(40) NOT NULL, 
	template_id VARCHAR(40), 
	kind VARCHAR(16) NOT NULL, 
	position INTEGER NOT NULL, 
	content_type VARCHAR(40) NOT NULL, 
	width INTEGER NOT NULL, 
	height INTEGER NOT NULL, 
	ppi INTEGER NOT NULL, 
	key_id VARCHAR(20) NOT NULL, 
	blob BLOB NOT NULL, 
	size INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(subject_id) REFERENCES subject (id) ON DELETE CASCADE, 
	FOREIGN KEY(template_id) REFERENCES biometric_template (id) ON DELETE CASCADE
);
CREATE TABLE snapshot_load (
	id INTEGER NOT NULL, 
	snapshot_id VARCHAR(60) NOT NULL, 
	source_gateway VARCHAR(60) NOT NULL, 
	kind VARCHAR(10) NOT NULL, 
	version INTEGER NOT NULL, 
	loaded_at DATETIME NOT NULL, 
	summary JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE staff_session (
	id_hash VARCHAR(64) NOT NULL, 
	user_id VARCHAR(40) NOT NULL, 
	csrf_token VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (id_hash)
);
CREATE TABLE staff_user (
	id VARCHAR(40) NOT NULL, 
	username VARCHAR(100) NOT NULL, 
	password_hash VARCHAR(200) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	language VARCHAR(5) NOT NULL, 
	failed_attempts INTEGER NOT NULL, 
	locked_until DATETIME, 
	disabled_at DATETIME, 
	created_at DATETIME NOT NULL, 
	last_login_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE subject (
	id VARCHAR(40) NOT NULL, 
	external_ref VARCHAR(100), 
	name VARCHAR(200) NOT NULL, 
	aliases JSON NOT NULL, 
	date_of_birth DATE, 
	nationality VARCHAR(2), 
	category VARCHAR(30) NOT NULL, 
	originating_country VARCHAR(2) NOT NULL, 
	sharing JSON, 
	handling_instructions VARCHAR(2000), 
	expires_at DATETIME, 
	notes VARCHAR(4000), 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "subject" VALUES('sub_0e538d98c27f448ca61a','legacy-001','Old Record','["O. Record"]',NULL,'MU','red','MU','null',NULL,NULL,NULL,'2026-12-01 12:41:08.907811','2026-12-01 12:41:08.907825');
CREATE TABLE subject_origin (
	subject_id VARCHAR(40) NOT NULL, 
	source_gateway VARCHAR(60) NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (subject_id)
);
CREATE TABLE subject_scope (
	id INTEGER NOT NULL, 
	subject_id VARCHAR(40) NOT NULL, 
	originating_country VARCHAR(2) NOT NULL, 
	sharing JSON, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "subject_scope" VALUES(1,'sub_0e538d98c27f448ca61a','MU','null','2026-12-01 12:41:08.922425');
CREATE TABLE upstream_document (
	document_number VARCHAR(40) NOT NULL, 
	issuing_state VARCHAR(3) NOT NULL, 
	status VARCHAR(8) NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (document_number, issuing_state)
);
CREATE TABLE upstream_feed_state (
	name VARCHAR(40) NOT NULL, 
	version INTEGER NOT NULL, 
	synced_at FLOAT NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE upstream_notice (
	notice_id VARCHAR(60) NOT NULL, 
	surname VARCHAR(100), 
	given_names VARCHAR(200), 
	birth_date VARCHAR(10), 
	category VARCHAR(30), 
	data JSON NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (notice_id)
);
CREATE TABLE upstream_outbox (
	id INTEGER NOT NULL, 
	check_id VARCHAR(40) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	idempotency_key VARCHAR(120) NOT NULL, 
	priority INTEGER NOT NULL, 
	payload JSON NOT NULL, 
	state VARCHAR(8) NOT NULL, 
	attempts INTEGER NOT NULL, 
	created_at FLOAT NOT NULL, 
	available_at FLOAT NOT NULL, 
	expires_at FLOAT NOT NULL, 
	locked_by VARCHAR(80), 
	locked_until FLOAT NOT NULL, 
	last_error VARCHAR(1000), 
	dead_reason VARCHAR(1000), 
	finished_at FLOAT, 
	PRIMARY KEY (id), 
	UNIQUE (idempotency_key)
);
CREATE TABLE watchlist_change (
	version INTEGER NOT NULL, 
	subject_id VARCHAR(40) NOT NULL, 
	op VARCHAR(10) NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO "watchlist_change" VALUES(1,'sub_0e538d98c27f448ca61a','upsert','2026-12-01 12:41:08.912919');
CREATE TABLE watchlist_meta (
	"key" VARCHAR(60) NOT NULL, 
	value VARCHAR(200) NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE UNIQUE INDEX ix_api_token_token_hash ON api_token (token_hash);
CREATE INDEX ix_subject_name ON subject (name);
CREATE INDEX ix_subject_category ON subject (category);
CREATE UNIQUE INDEX ix_subject_external_ref ON subject (external_ref);
CREATE INDEX ix_watchlist_change_subject_id ON watchlist_change (subject_id);
CREATE INDEX ix_subject_scope_subject_id ON subject_scope (subject_id);
CREATE INDEX ix_subject_origin_source_gateway ON subject_origin (source_gateway);
CREATE INDEX ix_snapshot_load_snapshot_id ON snapshot_load (snapshot_id);
CREATE INDEX ix_snapshot_load_source_gateway ON snapshot_load (source_gateway);
CREATE INDEX ix_import_job_owner_process_id ON import_job_owner (process_id);
CREATE INDEX ix_check_record_review_status ON check_record (review_status);
CREATE INDEX ix_check_record_token_id ON check_record (token_id);
CREATE INDEX ix_check_record_created_at ON check_record (created_at);
CREATE INDEX ix_check_record_decision ON check_record (decision);
CREATE INDEX ix_check_record_upstream_status ON check_record (upstream_status);
CREATE INDEX ix_audit_entry_action ON audit_entry (action);
CREATE INDEX ix_audit_entry_at ON audit_entry (at);
CREATE INDEX ix_audit_entry_target_id ON audit_entry (target_id);
CREATE INDEX ix_audit_entry_actor_token_id ON audit_entry (actor_token_id);
CREATE INDEX ix_probe_image_created_at ON probe_image (created_at);
CREATE INDEX ix_probe_image_check_id ON probe_image (check_id);
CREATE UNIQUE INDEX ix_staff_user_username ON staff_user (username);
CREATE INDEX ix_staff_session_user_id ON staff_session (user_id);
CREATE INDEX ix_upstream_outbox_claim ON upstream_outbox (state, priority, id);
CREATE INDEX ix_upstream_outbox_check_id ON upstream_outbox (check_id);
CREATE INDEX ix_upstream_notice_surname ON upstream_notice (surname);
CREATE INDEX ix_biometric_template_subject_id ON biometric_template (subject_id);
CREATE INDEX ix_reference_image_subject_id ON reference_image (subject_id);
CREATE INDEX ix_reference_image_template_id ON reference_image (template_id);
CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
COMMIT;
