--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)


--
-- Name: <schema>; Type: SCHEMA; Schema: -; Owner: -
--



--
-- Name: fieldcheck_audit_append_only(); Type: FUNCTION; Schema: <schema>; Owner: -
--

CREATE FUNCTION fieldcheck_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$;




--
-- Name: api_token; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE api_token (
    id character varying(40) NOT NULL,
    name character varying(200) NOT NULL,
    role character varying(20) NOT NULL,
    token_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    created_by character varying(40),
    revoked_at timestamp with time zone,
    last_used_at timestamp with time zone
);


--
-- Name: audit_entry; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE audit_entry (
    id integer NOT NULL,
    at timestamp with time zone NOT NULL,
    actor_token_id character varying(40),
    actor_name character varying(200),
    actor_role character varying(20),
    device_id character varying(100),
    action character varying(60) NOT NULL,
    target_type character varying(40),
    target_id character varying(60),
    before json,
    after json,
    detail character varying(2000)
);


--
-- Name: audit_entry_id_seq; Type: SEQUENCE; Schema: <schema>; Owner: -
--

CREATE SEQUENCE audit_entry_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: audit_entry_id_seq; Type: SEQUENCE OWNED BY; Schema: <schema>; Owner: -
--

ALTER SEQUENCE audit_entry_id_seq OWNED BY audit_entry.id;


--
-- Name: biometric_template; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE biometric_template (
    id character varying(40) NOT NULL,
    subject_id character varying(40) NOT NULL,
    modality character varying(10) NOT NULL,
    "position" integer NOT NULL,
    data bytea NOT NULL,
    quality json NOT NULL,
    model character varying(60) NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: check_record; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE check_record (
    id character varying(40) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    token_id character varying(40) NOT NULL,
    device_id character varying(100),
    adapter character varying(40) NOT NULL,
    purpose character varying(60),
    local_decision character varying(12) NOT NULL,
    decision character varying(12) NOT NULL,
    watchlist_version integer NOT NULL,
    response json NOT NULL,
    upstream_status character varying(16) NOT NULL,
    upstream_result json,
    review_status character varying(12),
    review_comment character varying(2000),
    reviewed_by character varying(40),
    reviewed_at timestamp with time zone
);


--
-- Name: deployment_setting; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE deployment_setting (
    key character varying(40) NOT NULL,
    value character varying(200) NOT NULL
);


--
-- Name: device_language; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE device_language (
    token_id character varying(40) NOT NULL,
    language character varying(5) NOT NULL,
    updated_at timestamp with time zone NOT NULL
);


--
-- Name: import_job; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE import_job (
    id character varying(40) NOT NULL,
    status character varying(12) NOT NULL,
    source character varying(200) NOT NULL,
    total integer NOT NULL,
    processed integer NOT NULL,
    imported integer NOT NULL,
    skipped integer NOT NULL,
    rejected integer NOT NULL,
    created_by character varying(40),
    created_at timestamp with time zone NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone,
    error character varying(2000),
    results json NOT NULL
);


--
-- Name: import_job_owner; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE import_job_owner (
    job_id character varying(40) NOT NULL,
    process_id character varying(120) NOT NULL,
    heartbeat_at timestamp with time zone NOT NULL
);


--
-- Name: probe_image; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE probe_image (
    id character varying(40) NOT NULL,
    check_id character varying(40) NOT NULL,
    kind character varying(16) NOT NULL,
    "position" integer NOT NULL,
    content_type character varying(40) NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    key_id character varying(20) NOT NULL,
    blob bytea NOT NULL,
    size integer NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: reference_image; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE reference_image (
    id character varying(40) NOT NULL,
    subject_id character varying(40) NOT NULL,
    template_id character varying(40),
    kind character varying(16) NOT NULL,
    "position" integer NOT NULL,
    content_type character varying(40) NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    ppi integer NOT NULL,
    key_id character varying(20) NOT NULL,
    blob bytea NOT NULL,
    size integer NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: snapshot_load; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE snapshot_load (
    id integer NOT NULL,
    snapshot_id character varying(60) NOT NULL,
    source_gateway character varying(60) NOT NULL,
    kind character varying(10) NOT NULL,
    version integer NOT NULL,
    loaded_at timestamp with time zone NOT NULL,
    summary json NOT NULL
);


--
-- Name: snapshot_load_id_seq; Type: SEQUENCE; Schema: <schema>; Owner: -
--

CREATE SEQUENCE snapshot_load_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: snapshot_load_id_seq; Type: SEQUENCE OWNED BY; Schema: <schema>; Owner: -
--

ALTER SEQUENCE snapshot_load_id_seq OWNED BY snapshot_load.id;


--
-- Name: staff_session; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE staff_session (
    id_hash character varying(64) NOT NULL,
    user_id character varying(40) NOT NULL,
    csrf_token character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone
);


--
-- Name: staff_user; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE staff_user (
    id character varying(40) NOT NULL,
    username character varying(100) NOT NULL,
    password_hash character varying(200) NOT NULL,
    role character varying(20) NOT NULL,
    language character varying(5) NOT NULL,
    failed_attempts integer NOT NULL,
    locked_until timestamp with time zone,
    disabled_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    last_login_at timestamp with time zone
);


--
-- Name: subject; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE subject (
    id character varying(40) NOT NULL,
    external_ref character varying(100),
    name character varying(200) NOT NULL,
    aliases json NOT NULL,
    date_of_birth date,
    nationality character varying(2),
    category character varying(30) NOT NULL,
    originating_country character varying(2) NOT NULL,
    sharing json,
    handling_instructions character varying(2000),
    expires_at timestamp with time zone,
    notes character varying(4000),
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);


--
-- Name: subject_origin; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE subject_origin (
    subject_id character varying(40) NOT NULL,
    source_gateway character varying(60) NOT NULL,
    at timestamp with time zone NOT NULL
);


--
-- Name: subject_scope; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE subject_scope (
    id integer NOT NULL,
    subject_id character varying(40) NOT NULL,
    originating_country character varying(2) NOT NULL,
    sharing json,
    at timestamp with time zone NOT NULL
);


--
-- Name: subject_scope_id_seq; Type: SEQUENCE; Schema: <schema>; Owner: -
--

CREATE SEQUENCE subject_scope_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: subject_scope_id_seq; Type: SEQUENCE OWNED BY; Schema: <schema>; Owner: -
--

ALTER SEQUENCE subject_scope_id_seq OWNED BY subject_scope.id;


--
-- Name: upstream_document; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE upstream_document (
    document_number character varying(40) NOT NULL,
    issuing_state character varying(3) NOT NULL,
    status character varying(8) NOT NULL,
    version integer NOT NULL
);


--
-- Name: upstream_feed_state; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE upstream_feed_state (
    name character varying(40) NOT NULL,
    version integer NOT NULL,
    synced_at double precision NOT NULL
);


--
-- Name: upstream_notice; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE upstream_notice (
    notice_id character varying(60) NOT NULL,
    surname character varying(100),
    given_names character varying(200),
    birth_date character varying(10),
    category character varying(30),
    data json NOT NULL,
    version integer NOT NULL
);


--
-- Name: upstream_outbox; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE upstream_outbox (
    id integer NOT NULL,
    check_id character varying(40) NOT NULL,
    kind character varying(16) NOT NULL,
    idempotency_key character varying(120) NOT NULL,
    priority integer NOT NULL,
    payload json NOT NULL,
    state character varying(8) NOT NULL,
    attempts integer NOT NULL,
    created_at double precision NOT NULL,
    available_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    locked_by character varying(80),
    locked_until double precision NOT NULL,
    last_error character varying(1000),
    dead_reason character varying(1000),
    finished_at double precision
);


--
-- Name: upstream_outbox_id_seq; Type: SEQUENCE; Schema: <schema>; Owner: -
--

CREATE SEQUENCE upstream_outbox_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: upstream_outbox_id_seq; Type: SEQUENCE OWNED BY; Schema: <schema>; Owner: -
--

ALTER SEQUENCE upstream_outbox_id_seq OWNED BY upstream_outbox.id;


--
-- Name: watchlist_change; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE watchlist_change (
    version integer NOT NULL,
    subject_id character varying(40) NOT NULL,
    op character varying(10) NOT NULL,
    at timestamp with time zone NOT NULL
);


--
-- Name: watchlist_change_version_seq; Type: SEQUENCE; Schema: <schema>; Owner: -
--

CREATE SEQUENCE watchlist_change_version_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: watchlist_change_version_seq; Type: SEQUENCE OWNED BY; Schema: <schema>; Owner: -
--

ALTER SEQUENCE watchlist_change_version_seq OWNED BY watchlist_change.version;


--
-- Name: watchlist_meta; Type: TABLE; Schema: <schema>; Owner: -
--

CREATE TABLE watchlist_meta (
    key character varying(60) NOT NULL,
    value character varying(200) NOT NULL
);


--
-- Name: audit_entry id; Type: DEFAULT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY audit_entry ALTER COLUMN id SET DEFAULT nextval('audit_entry_id_seq'::regclass);


--
-- Name: snapshot_load id; Type: DEFAULT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY snapshot_load ALTER COLUMN id SET DEFAULT nextval('snapshot_load_id_seq'::regclass);


--
-- Name: subject_scope id; Type: DEFAULT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY subject_scope ALTER COLUMN id SET DEFAULT nextval('subject_scope_id_seq'::regclass);


--
-- Name: upstream_outbox id; Type: DEFAULT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY upstream_outbox ALTER COLUMN id SET DEFAULT nextval('upstream_outbox_id_seq'::regclass);


--
-- Name: watchlist_change version; Type: DEFAULT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY watchlist_change ALTER COLUMN version SET DEFAULT nextval('watchlist_change_version_seq'::regclass);


--
-- Data for Name: api_token; Type: TABLE DATA; Schema: <schema>; Owner: -
--

INSERT INTO api_token VALUES ('tok_cd1f59f1a67b46cc', 'bootstrap admin', 'ncb_admin', '5dcba6ebdd3012d78ab06f07c36602d74d7f5d158b3b5fbc8256c04741296508', '2026-12-01 12:41:10.6051+00', NULL, NULL, NULL);
INSERT INTO api_token VALUES ('tok_a52153385238405d', 'SEEK-LEGACY', 'device', 'd1b6af8cb86905ed81bd229ea1e03a8275d8cf308e49bbfd03df0edae392acd3', '2026-12-01 12:41:11.277041+00', 'tok_cd1f59f1a67b46cc', NULL, NULL);


--
-- Data for Name: audit_entry; Type: TABLE DATA; Schema: <schema>; Owner: -
--

INSERT INTO audit_entry VALUES (1, '2026-12-01 12:41:11.285052+00', 'tok_cd1f59f1a67b46cc', 'bootstrap admin', 'ncb_admin', NULL, 'token.create', 'token', 'tok_a52153385238405d', 'null', '{"role": "device", "name": "SEEK-LEGACY"}', NULL);
INSERT INTO audit_entry VALUES (2, '2026-12-01 12:41:11.33208+00', 'tok_cd1f59f1a67b46cc', 'bootstrap admin', 'ncb_admin', NULL, 'subject.create', 'subject', 'sub_c71fe20181fa4e3f90cc', 'null', '{"id": "sub_c71fe20181fa4e3f90cc", "name": "Old Record", "category": "red", "external_ref": "legacy-001", "aliases": ["O. Record"], "date_of_birth": null, "nationality": "MU", "originating_country": "MU", "sharing": null, "handling_instructions": "Wanted person (Red Notice). Do not alert the subject. Contact the NCB at once and act under national law.", "handling_instructions_overridden": false, "expires_at": null, "notes": null, "created_at": "2026-12-01T12:41:11.317427Z", "updated_at": "2026-12-01T12:41:11.317448Z", "biometrics": []}', NULL);


--
-- Data for Name: biometric_template; Type: TABLE DATA; Schema: <schema>; Owner: -
--

INSERT INTO biometric_template VALUES ('tpl_legacy_face', 'sub_c71fe20181fa4e3f90cc', 'face', 0, '\x772c093d4810a33d4c29033d045101bec7aeb33d432e313d642255bd33aa663df3b5103d6e80e93ced81343b2102593d512992bd205481bc755e3fbda2b36d3da9457c3bde2be8bcbc2e9bbd142dccbc6dd74e3aabcadabc026a003e0ccdc73dc78486beed733bbeddbe8abccb9427bd949aa93c3f86ac3cf128523ee1b2dcbd42e215bdf4b54a3e4c59803d8698833da7064cbd358b23becbf1843cc7152d3c9096f3bdf89887bda1c5e4bb5f80bbbdbb061cbcf499173c6a01623bbaf648bd97ad6b3ddfddb03ddfb5fe3c2664a2bd5935913dbb0947bddd7bae3dbab6d4bdb37db53dcdd7febaafd5f7bda931f9bcbdccab3b458fd83c6ceec2bdbec6dbbd7c719e3cab4439bdb6f5ba3c36bd963d4c9d23be32f3c93c200df33d4232ecbc61eba0bd8d4b953dd533c93c7dcdb13d060709bdab0b13bee3aa2ebcbcf630bd30e0993decb7993c9bd521be2133edbd0667af3d18e9863d33227ebd8125d5b8dedc303dcfec393d96e7ad3d799dcb3cd98f16bc977dcdbc8c87d13d065c5fbeba255cbcc894513b23710dbeca1a043de54181bd942aab3d0e6847bcefcd843d45e6f13d50ff173d1dcdadbd4b4516be71fe2d3ebcb330bc32a888bd9e0a653c72f497bc221fa93daf79573b28a5ae3aefd18dbd11633a3d1530cdbd1c28843da639173eaa4c17be58bb74be02dc743d08d67c3e63a6c6bd9838f8bdf5c7693d', '{}', 'yunet2023mar+sface2021dec-int8bq', '2026-12-01 12:41:11.365869+00');
INSERT INTO biometric_template VALUES ('tpl_legacy_finger', 'sub_c71fe20181fa4e3f90cc', 'finger', 2, '\x464d5200203230000000010e0000012c012c00c500c5010002000028009900bba943010b00f23f57003900aec54e010b00583631006500eed53800820098103100eb0099d31d007e00d82a2400a3003a602b001b00e9512d00d800c6b12d00a000e12e42006a0046656200e100e50152006300464353008a00296c51003700f21b44007d00f4a25d004900f8614b0058008fba3c00d7005ba71a005d00166e3b009200bcde25011300cfa21f010e00edcf3c00d0005d575300a1004c8b2c005c00ba3252003e00e5ff3e0110010f3e20009a003b426100320091133400b600fd422c00de0082c35800b300adb31e0102001a214f001e00c36023009d01036c33008b00ebaa27002400fa75570000', '{}', 'leader-2026+mcc', '2026-12-01 12:41:11.367004+00');


--
-- Data for Name: check_record; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: deployment_setting; Type: TABLE DATA; Schema: <schema>; Owner: -
--

INSERT INTO deployment_setting VALUES ('country', 'MU');


--
-- Data for Name: device_language; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: import_job; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: import_job_owner; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: probe_image; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: reference_image; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: snapshot_load; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: staff_session; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: staff_user; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: subject; Type: TABLE DATA; Schema: <schema>; Owner: -
--

INSERT INTO subject VALUES ('sub_c71fe20181fa4e3f90cc', 'legacy-001', 'Old Record', '["O. Record"]', NULL, 'MU', 'red', 'MU', 'null', NULL, NULL, NULL, '2026-12-01 12:41:11.317427+00', '2026-12-01 12:41:11.317448+00');


--
-- Data for Name: subject_origin; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: subject_scope; Type: TABLE DATA; Schema: <schema>; Owner: -
--

INSERT INTO subject_scope VALUES (1, 'sub_c71fe20181fa4e3f90cc', 'MU', 'null', '2026-12-01 12:41:11.331878+00');


--
-- Data for Name: upstream_document; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: upstream_feed_state; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: upstream_notice; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: upstream_outbox; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Data for Name: watchlist_change; Type: TABLE DATA; Schema: <schema>; Owner: -
--

INSERT INTO watchlist_change VALUES (1, 'sub_c71fe20181fa4e3f90cc', 'upsert', '2026-12-01 12:41:11.326837+00');


--
-- Data for Name: watchlist_meta; Type: TABLE DATA; Schema: <schema>; Owner: -
--



--
-- Name: audit_entry_id_seq; Type: SEQUENCE SET; Schema: <schema>; Owner: -
--

SELECT pg_catalog.setval('audit_entry_id_seq', 2, true);


--
-- Name: snapshot_load_id_seq; Type: SEQUENCE SET; Schema: <schema>; Owner: -
--

SELECT pg_catalog.setval('snapshot_load_id_seq', 1, false);


--
-- Name: subject_scope_id_seq; Type: SEQUENCE SET; Schema: <schema>; Owner: -
--

SELECT pg_catalog.setval('subject_scope_id_seq', 1, true);


--
-- Name: upstream_outbox_id_seq; Type: SEQUENCE SET; Schema: <schema>; Owner: -
--

SELECT pg_catalog.setval('upstream_outbox_id_seq', 1, false);


--
-- Name: watchlist_change_version_seq; Type: SEQUENCE SET; Schema: <schema>; Owner: -
--

SELECT pg_catalog.setval('watchlist_change_version_seq', 1, true);


--
-- Name: api_token api_token_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY api_token
    ADD CONSTRAINT api_token_pkey PRIMARY KEY (id);


--
-- Name: audit_entry audit_entry_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY audit_entry
    ADD CONSTRAINT audit_entry_pkey PRIMARY KEY (id);


--
-- Name: biometric_template biometric_template_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY biometric_template
    ADD CONSTRAINT biometric_template_pkey PRIMARY KEY (id);


--
-- Name: check_record check_record_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY check_record
    ADD CONSTRAINT check_record_pkey PRIMARY KEY (id);


--
-- Name: deployment_setting deployment_setting_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY deployment_setting
    ADD CONSTRAINT deployment_setting_pkey PRIMARY KEY (key);


--
-- Name: device_language device_language_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY device_language
    ADD CONSTRAINT device_language_pkey PRIMARY KEY (token_id);


--
-- Name: import_job_owner import_job_owner_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY import_job_owner
    ADD CONSTRAINT import_job_owner_pkey PRIMARY KEY (job_id);


--
-- Name: import_job import_job_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY import_job
    ADD CONSTRAINT import_job_pkey PRIMARY KEY (id);


--
-- Name: probe_image probe_image_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY probe_image
    ADD CONSTRAINT probe_image_pkey PRIMARY KEY (id);


--
-- Name: reference_image reference_image_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY reference_image
    ADD CONSTRAINT reference_image_pkey PRIMARY KEY (id);


--
-- Name: snapshot_load snapshot_load_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY snapshot_load
    ADD CONSTRAINT snapshot_load_pkey PRIMARY KEY (id);


--
-- Name: staff_session staff_session_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY staff_session
    ADD CONSTRAINT staff_session_pkey PRIMARY KEY (id_hash);


--
-- Name: staff_user staff_user_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY staff_user
    ADD CONSTRAINT staff_user_pkey PRIMARY KEY (id);


--
-- Name: subject_origin subject_origin_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY subject_origin
    ADD CONSTRAINT subject_origin_pkey PRIMARY KEY (subject_id);


--
-- Name: subject subject_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY subject
    ADD CONSTRAINT subject_pkey PRIMARY KEY (id);


--
-- Name: subject_scope subject_scope_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY subject_scope
    ADD CONSTRAINT subject_scope_pkey PRIMARY KEY (id);


--
-- Name: upstream_document upstream_document_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY upstream_document
    ADD CONSTRAINT upstream_document_pkey PRIMARY KEY (document_number, issuing_state);


--
-- Name: upstream_feed_state upstream_feed_state_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY upstream_feed_state
    ADD CONSTRAINT upstream_feed_state_pkey PRIMARY KEY (name);


--
-- Name: upstream_notice upstream_notice_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY upstream_notice
    ADD CONSTRAINT upstream_notice_pkey PRIMARY KEY (notice_id);


--
-- Name: upstream_outbox upstream_outbox_idempotency_key_key; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY upstream_outbox
    ADD CONSTRAINT upstream_outbox_idempotency_key_key UNIQUE (idempotency_key);


--
-- Name: upstream_outbox upstream_outbox_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY upstream_outbox
    ADD CONSTRAINT upstream_outbox_pkey PRIMARY KEY (id);


--
-- Name: watchlist_change watchlist_change_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY watchlist_change
    ADD CONSTRAINT watchlist_change_pkey PRIMARY KEY (version);


--
-- Name: watchlist_meta watchlist_meta_pkey; Type: CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY watchlist_meta
    ADD CONSTRAINT watchlist_meta_pkey PRIMARY KEY (key);


--
-- Name: ix_api_token_token_hash; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE UNIQUE INDEX ix_api_token_token_hash ON api_token USING btree (token_hash);


--
-- Name: ix_audit_entry_action; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_audit_entry_action ON audit_entry USING btree (action);


--
-- Name: ix_audit_entry_actor_token_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_audit_entry_actor_token_id ON audit_entry USING btree (actor_token_id);


--
-- Name: ix_audit_entry_at; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_audit_entry_at ON audit_entry USING btree (at);


--
-- Name: ix_audit_entry_target_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_audit_entry_target_id ON audit_entry USING btree (target_id);


--
-- Name: ix_biometric_template_subject_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_biometric_template_subject_id ON biometric_template USING btree (subject_id);


--
-- Name: ix_check_record_created_at; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_check_record_created_at ON check_record USING btree (created_at);


--
-- Name: ix_check_record_decision; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_check_record_decision ON check_record USING btree (decision);


--
-- Name: ix_check_record_review_status; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_check_record_review_status ON check_record USING btree (review_status);


--
-- Name: ix_check_record_token_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_check_record_token_id ON check_record USING btree (token_id);


--
-- Name: ix_check_record_upstream_status; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_check_record_upstream_status ON check_record USING btree (upstream_status);


--
-- Name: ix_import_job_owner_process_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_import_job_owner_process_id ON import_job_owner USING btree (process_id);


--
-- Name: ix_probe_image_check_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_probe_image_check_id ON probe_image USING btree (check_id);


--
-- Name: ix_probe_image_created_at; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_probe_image_created_at ON probe_image USING btree (created_at);


--
-- Name: ix_reference_image_subject_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_reference_image_subject_id ON reference_image USING btree (subject_id);


--
-- Name: ix_reference_image_template_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_reference_image_template_id ON reference_image USING btree (template_id);


--
-- Name: ix_snapshot_load_snapshot_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_snapshot_load_snapshot_id ON snapshot_load USING btree (snapshot_id);


--
-- Name: ix_snapshot_load_source_gateway; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_snapshot_load_source_gateway ON snapshot_load USING btree (source_gateway);


--
-- Name: ix_staff_session_user_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_staff_session_user_id ON staff_session USING btree (user_id);


--
-- Name: ix_staff_user_username; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE UNIQUE INDEX ix_staff_user_username ON staff_user USING btree (username);


--
-- Name: ix_subject_category; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_subject_category ON subject USING btree (category);


--
-- Name: ix_subject_external_ref; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE UNIQUE INDEX ix_subject_external_ref ON subject USING btree (external_ref);


--
-- Name: ix_subject_name; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_subject_name ON subject USING btree (name);


--
-- Name: ix_subject_origin_source_gateway; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_subject_origin_source_gateway ON subject_origin USING btree (source_gateway);


--
-- Name: ix_subject_scope_subject_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_subject_scope_subject_id ON subject_scope USING btree (subject_id);


--
-- Name: ix_upstream_notice_surname; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_upstream_notice_surname ON upstream_notice USING btree (surname);


--
-- Name: ix_upstream_outbox_check_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_upstream_outbox_check_id ON upstream_outbox USING btree (check_id);


--
-- Name: ix_upstream_outbox_claim; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_upstream_outbox_claim ON upstream_outbox USING btree (state, priority, id);


--
-- Name: ix_watchlist_change_subject_id; Type: INDEX; Schema: <schema>; Owner: -
--

CREATE INDEX ix_watchlist_change_subject_id ON watchlist_change USING btree (subject_id);


--
-- Name: audit_entry audit_entry_append_only; Type: TRIGGER; Schema: <schema>; Owner: -
--

CREATE TRIGGER audit_entry_append_only BEFORE DELETE OR UPDATE ON audit_entry FOR EACH ROW EXECUTE FUNCTION fieldcheck_audit_append_only();


--
-- Name: biometric_template biometric_template_subject_id_fkey; Type: FK CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY biometric_template
    ADD CONSTRAINT biometric_template_subject_id_fkey FOREIGN KEY (subject_id) REFERENCES subject(id) ON DELETE CASCADE;


--
-- Name: reference_image reference_image_subject_id_fkey; Type: FK CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY reference_image
    ADD CONSTRAINT reference_image_subject_id_fkey FOREIGN KEY (subject_id) REFERENCES subject(id) ON DELETE CASCADE;


--
-- Name: reference_image reference_image_template_id_fkey; Type: FK CONSTRAINT; Schema: <schema>; Owner: -
--

ALTER TABLE ONLY reference_image
    ADD CONSTRAINT reference_image_template_id_fkey FOREIGN KEY (template_id) REFERENCES biometric_template(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--


