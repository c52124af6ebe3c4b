table admin_sessions column id uuid NOT NULL
table admin_sessions column created_at timestamp with time zone NOT NULL
table admin_sessions column updated_at timestamp with time zone NOT NULL
table admin_sessions column user_id uuid NOT NULL
table admin_sessions column secret_hash text NOT NULL
table admin_sessions column csrf_token text NOT NULL
table admin_sessions column expires_at timestamp with time zone NOT NULL
table admin_sessions constraint admin_sessions_csrf_token_check CHECK ((length(csrf_token) >= 32))
table admin_sessions constraint admin_sessions_pkey PRIMARY KEY (id)
table admin_sessions constraint admin_sessions_secret_hash_check CHECK ((secret_hash ~ '^[0-9a-f]{64}$'::text))
table admin_sessions constraint admin_sessions_secret_hash_key UNIQUE (secret_hash)
table admin_sessions constraint admin_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id)
index admin_sessions_expires_at_idx CREATE INDEX admin_sessions_expires_at_idx ON admin_sessions USING btree (expires_at)
index admin_sessions_pkey CREATE UNIQUE INDEX admin_sessions_pkey ON admin_sessions USING btree (id)
index admin_sessions_secret_hash_key CREATE UNIQUE INDEX admin_sessions_secret_hash_key ON admin_sessions USING btree (secret_hash)
index admin_sessions_user_id_idx CREATE INDEX admin_sessions_user_id_idx ON admin_sessions USING btree (user_id)
table api_tokens column id uuid NOT NULL
table api_tokens column created_at timestamp with time zone NOT NULL
table api_tokens column updated_at timestamp with time zone NOT NULL
table api_tokens column user_id uuid NOT NULL
table api_tokens column name text NOT NULL DEFAULT ''::text
table api_tokens column token_hash text NOT NULL
table api_tokens column prefix text NOT NULL
table api_tokens column last_used_at timestamp with time zone
table api_tokens column expires_at timestamp with time zone
table api_tokens column revoked_at timestamp with time zone
table api_tokens constraint api_tokens_pkey PRIMARY KEY (id)
table api_tokens constraint api_tokens_token_hash_check CHECK ((token_hash ~ '^[0-9a-f]{64}$'::text))
table api_tokens constraint api_tokens_token_hash_key UNIQUE (token_hash)
table api_tokens constraint api_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id)
index api_tokens_pkey CREATE UNIQUE INDEX api_tokens_pkey ON api_tokens USING btree (id)
index api_tokens_token_hash_key CREATE UNIQUE INDEX api_tokens_token_hash_key ON api_tokens USING btree (token_hash)
index api_tokens_user_id_idx CREATE INDEX api_tokens_user_id_idx ON api_tokens USING btree (user_id)
table ingest_files column id uuid NOT NULL
table ingest_files column created_at timestamp with time zone NOT NULL
table ingest_files column updated_at timestamp with time zone NOT NULL
table ingest_files column status text NOT NULL DEFAULT 'UPLOADING'::text
table ingest_files column sha256 text
table ingest_files column size_bytes bigint NOT NULL
table ingest_files column storage_backend text
table ingest_files column storage_bucket text
table ingest_files column storage_key text
table ingest_files column original_filename text NOT NULL
table ingest_files column content_type text NOT NULL DEFAULT ''::text
table ingest_files column uploaded_by_id uuid NOT NULL
table ingest_files column batch_id uuid
table ingest_files column stored_at timestamp with time zone
table ingest_files column failure_reason text
table ingest_files column partial boolean NOT NULL DEFAULT false
table ingest_files column metadata jsonb NOT NULL DEFAULT '{}'::jsonb
table ingest_files column failure_code text
table ingest_files column grant_id uuid
table ingest_files constraint ingest_files_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES upload_batches(id)
table ingest_files constraint ingest_files_failed_check CHECK (((status <> 'FAILED'::text) OR (failure_reason IS NOT NULL)))
table ingest_files constraint ingest_files_failed_code_check CHECK (((status = 'FAILED'::text) = (failure_code IS NOT NULL)))
table ingest_files constraint ingest_files_failure_code_check CHECK ((failure_code = ANY (ARRAY['CHECKSUM_MISMATCH'::text, 'SESSION_EXPIRED'::text, 'SESSION_NOT_ACTIVE'::text, 'ABORTED'::text, 'BATCH_CANCELLED'::text])))
table ingest_files constraint ingest_files_grant_id_fkey FOREIGN KEY (grant_id) REFERENCES upload_grants(id)
table ingest_files constraint ingest_files_metadata_check CHECK ((jsonb_typeof(metadata) = 'object'::text))
table ingest_files constraint ingest_files_original_filename_check CHECK ((length(original_filename) >= 1))
table ingest_files constraint ingest_files_partial_check CHECK (((NOT partial) OR (status <> 'STORED'::text)))
table ingest_files constraint ingest_files_pkey PRIMARY KEY (id)
table ingest_files constraint ingest_files_sha256_check CHECK ((sha256 ~ '^[0-9a-f]{64}$'::text))
table ingest_files constraint ingest_files_size_bytes_check CHECK ((size_bytes >= 0))
table ingest_files constraint ingest_files_status_check CHECK ((status = ANY (ARRAY['UPLOADING'::text, 'STORED'::text, 'FAILED'::text])))
table ingest_files constraint ingest_files_storage_backend_check CHECK ((storage_backend = ANY (ARRAY['local'::text, 's3'::text, 'gcs'::text, 'azure'::text])))
table ingest_files constraint ingest_files_stored_check CHECK (((status <> 'STORED'::text) OR ((sha256 IS NOT NULL) AND (size_bytes IS NOT NULL) AND (storage_backend IS NOT NULL) AND (storage_key IS NOT NULL) AND (storage_key <> ''::text) AND (stored_at IS NOT NULL) AND ((storage_backend <> ALL (ARRAY['s3'::text, 'gcs'::text, 'azure'::text])) OR ((storage_bucket IS NOT NULL) AND (storage_bucket <> ''::text))))))
table ingest_files constraint ingest_files_uploaded_by_id_fkey FOREIGN KEY (uploaded_by_id) REFERENCES users(id)
index ingest_files_batch_id_idx CREATE INDEX ingest_files_batch_id_idx ON ingest_files USING btree (batch_id, id)
index ingest_files_grant_id_idx CREATE INDEX ingest_files_grant_id_idx ON ingest_files USING btree (grant_id, id)
index ingest_files_pkey CREATE UNIQUE INDEX ingest_files_pkey ON ingest_files USING btree (id)
index ingest_files_sha256_idx CREATE INDEX ingest_files_sha256_idx ON ingest_files USING btree (sha256) WHERE (sha256 IS NOT NULL)
index ingest_files_size_bytes_idx CREATE INDEX ingest_files_size_bytes_idx ON ingest_files USING btree (size_bytes, id)
index ingest_files_status_idx CREATE INDEX ingest_files_status_idx ON ingest_files USING btree (status, id)
index ingest_files_stored_at_idx CREATE INDEX ingest_files_stored_at_idx ON ingest_files USING btree (stored_at) WHERE (stored_at IS NOT NULL)
index ingest_files_uploaded_by_id_idx CREATE INDEX ingest_files_uploaded_by_id_idx ON ingest_files USING btree (uploaded_by_id, id)
trigger ingest_files_terminal_status CREATE TRIGGER ingest_files_terminal_status BEFORE UPDATE OF status ON ingest_files FOR EACH ROW EXECUTE FUNCTION ingest_files_terminal_status()
table portal_event_outbox column id uuid NOT NULL
table portal_event_outbox column created_at timestamp with time zone NOT NULL
table portal_event_outbox column updated_at timestamp with time zone NOT NULL
table portal_event_outbox column event_type text NOT NULL
table portal_event_outbox column event_id uuid NOT NULL
table portal_event_outbox column idempotency_key text NOT NULL
table portal_event_outbox column payload jsonb NOT NULL
table portal_event_outbox column status text NOT NULL DEFAULT 'PENDING'::text
table portal_event_outbox column next_attempt_at timestamp with time zone NOT NULL
table portal_event_outbox column attempt_count integer NOT NULL DEFAULT 0
table portal_event_outbox column file_id uuid NOT NULL
table portal_event_outbox column last_error text
table portal_event_outbox column delivered_at timestamp with time zone
table portal_event_outbox column retry_base_attempts integer NOT NULL DEFAULT 0
table portal_event_outbox constraint portal_event_outbox_attempt_count_check CHECK ((attempt_count >= 0))
table portal_event_outbox constraint portal_event_outbox_delivered_check CHECK (((status <> 'DELIVERED'::text) OR (delivered_at IS NOT NULL)))
table portal_event_outbox constraint portal_event_outbox_event_id_key UNIQUE (event_id)
table portal_event_outbox constraint portal_event_outbox_file_id_fkey FOREIGN KEY (file_id) REFERENCES ingest_files(id)
table portal_event_outbox constraint portal_event_outbox_pkey PRIMARY KEY (id)
table portal_event_outbox constraint portal_event_outbox_retry_base_attempts_check CHECK (((retry_base_attempts >= 0) AND (retry_base_attempts <= attempt_count)))
table portal_event_outbox constraint portal_event_outbox_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'SENDING'::text, 'DELIVERED'::text, 'FAILED'::text])))
table portal_event_outbox constraint portal_event_outbox_type_key_unique UNIQUE (event_type, idempotency_key)
index portal_event_outbox_due_idx CREATE INDEX portal_event_outbox_due_idx ON portal_event_outbox USING btree (next_attempt_at, id) WHERE (status = ANY (ARRAY['PENDING'::text, 'SENDING'::text]))
index portal_event_outbox_event_id_key CREATE UNIQUE INDEX portal_event_outbox_event_id_key ON portal_event_outbox USING btree (event_id)
index portal_event_outbox_failed_idx CREATE INDEX portal_event_outbox_failed_idx ON portal_event_outbox USING btree (id) WHERE (status = 'FAILED'::text)
index portal_event_outbox_file_id_idx CREATE INDEX portal_event_outbox_file_id_idx ON portal_event_outbox USING btree (file_id)
index portal_event_outbox_pkey CREATE UNIQUE INDEX portal_event_outbox_pkey ON portal_event_outbox USING btree (id)
index portal_event_outbox_status_idx CREATE INDEX portal_event_outbox_status_idx ON portal_event_outbox USING btree (status, id)
index portal_event_outbox_type_key_unique CREATE UNIQUE INDEX portal_event_outbox_type_key_unique ON portal_event_outbox USING btree (event_type, idempotency_key)
trigger portal_event_outbox_requires_stored_file CREATE TRIGGER portal_event_outbox_requires_stored_file BEFORE INSERT OR UPDATE OF file_id ON portal_event_outbox FOR EACH ROW EXECUTE FUNCTION portal_event_outbox_requires_stored_file()
table upload_batches column id uuid NOT NULL
table upload_batches column created_at timestamp with time zone NOT NULL
table upload_batches column updated_at timestamp with time zone NOT NULL
table upload_batches column status text NOT NULL DEFAULT 'OPEN'::text
table upload_batches column name text NOT NULL DEFAULT ''::text
table upload_batches column created_by_id uuid NOT NULL
table upload_batches column total_files integer NOT NULL DEFAULT 0
table upload_batches column stored_count integer NOT NULL DEFAULT 0
table upload_batches column failed_count integer NOT NULL DEFAULT 0
table upload_batches column sealed_at timestamp with time zone
table upload_batches constraint upload_batches_counts_check CHECK (((stored_count + failed_count) <= total_files))
table upload_batches constraint upload_batches_created_by_id_fkey FOREIGN KEY (created_by_id) REFERENCES users(id)
table upload_batches constraint upload_batches_failed_count_check CHECK ((failed_count >= 0))
table upload_batches constraint upload_batches_outcome_check CHECK ((((status <> 'COMPLETE'::text) OR ((stored_count = total_files) AND (failed_count = 0))) AND ((status <> 'PARTIAL'::text) OR (((stored_count + failed_count) = total_files) AND (stored_count > 0) AND (failed_count > 0))) AND ((status <> 'FAILED'::text) OR ((failed_count = total_files) AND (total_files > 0)))))
table upload_batches constraint upload_batches_pkey PRIMARY KEY (id)
table upload_batches constraint upload_batches_sealed_check CHECK (((status = ANY (ARRAY['OPEN'::text, 'CANCELLED'::text])) OR (sealed_at IS NOT NULL)))
table upload_batches constraint upload_batches_status_check CHECK ((status = ANY (ARRAY['OPEN'::text, 'SEALED'::text, 'COMPLETE'::text, 'PARTIAL'::text, 'FAILED'::text, 'CANCELLED'::text])))
table upload_batches constraint upload_batches_stored_count_check CHECK ((stored_count >= 0))
table upload_batches constraint upload_batches_total_files_check CHECK ((total_files >= 0))
index upload_batches_created_by_id_idx CREATE INDEX upload_batches_created_by_id_idx ON upload_batches USING btree (created_by_id, id)
index upload_batches_pkey CREATE UNIQUE INDEX upload_batches_pkey ON upload_batches USING btree (id)
index upload_batches_status_idx CREATE INDEX upload_batches_status_idx ON upload_batches USING btree (status, id)
table upload_grants column id uuid NOT NULL
table upload_grants column created_at timestamp with time zone NOT NULL
table upload_grants column updated_at timestamp with time zone NOT NULL
table upload_grants column created_by_id uuid NOT NULL
table upload_grants column token_hash text NOT NULL
table upload_grants column prefix text NOT NULL
table upload_grants column batch_id uuid
table upload_grants column max_files integer NOT NULL
table upload_grants column max_file_bytes bigint
table upload_grants column max_total_bytes bigint
table upload_grants column content_types jsonb NOT NULL DEFAULT '[]'::jsonb
table upload_grants column metadata jsonb NOT NULL DEFAULT '{}'::jsonb
table upload_grants column expires_at timestamp with time zone NOT NULL
table upload_grants column revoked_at timestamp with time zone
table upload_grants column files_used integer NOT NULL DEFAULT 0
table upload_grants column bytes_used bigint NOT NULL DEFAULT 0
table upload_grants constraint upload_grants_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES upload_batches(id)
table upload_grants constraint upload_grants_bytes_check CHECK (((bytes_used >= 0) AND ((max_total_bytes IS NULL) OR (bytes_used <= max_total_bytes))))
table upload_grants constraint upload_grants_content_types_check CHECK ((jsonb_typeof(content_types) = 'array'::text))
table upload_grants constraint upload_grants_created_by_id_fkey FOREIGN KEY (created_by_id) REFERENCES users(id)
table upload_grants constraint upload_grants_files_check CHECK (((files_used >= 0) AND (files_used <= max_files)))
table upload_grants constraint upload_grants_max_file_bytes_check CHECK ((max_file_bytes >= 1))
table upload_grants constraint upload_grants_max_files_check CHECK ((max_files >= 1))
table upload_grants constraint upload_grants_max_total_bytes_check CHECK ((max_total_bytes >= 1))
table upload_grants constraint upload_grants_metadata_check CHECK ((jsonb_typeof(metadata) = 'object'::text))
table upload_grants constraint upload_grants_pkey PRIMARY KEY (id)
table upload_grants constraint upload_grants_token_hash_check CHECK ((token_hash ~ '^[0-9a-f]{64}$'::text))
table upload_grants constraint upload_grants_token_hash_key UNIQUE (token_hash)
index upload_grants_created_by_id_idx CREATE INDEX upload_grants_created_by_id_idx ON upload_grants USING btree (created_by_id, id)
index upload_grants_pkey CREATE UNIQUE INDEX upload_grants_pkey ON upload_grants USING btree (id)
index upload_grants_token_hash_key CREATE UNIQUE INDEX upload_grants_token_hash_key ON upload_grants USING btree (token_hash)
table upload_parts column id uuid NOT NULL
table upload_parts column created_at timestamp with time zone NOT NULL
table upload_parts column updated_at timestamp with time zone NOT NULL
table upload_parts column session_id uuid NOT NULL
table upload_parts column part_number integer NOT NULL
table upload_parts column status text NOT NULL DEFAULT 'PENDING'::text
table upload_parts column temp_key text NOT NULL
table upload_parts column size_bytes bigint NOT NULL
table upload_parts column crc32c bigint
table upload_parts column sha256 text
table upload_parts column etag text
table upload_parts constraint upload_parts_crc32c_check CHECK (((crc32c >= 0) AND (crc32c <= '4294967295'::bigint)))
table upload_parts constraint upload_parts_part_number_check CHECK (((part_number >= 1) AND (part_number <= 10000)))
table upload_parts constraint upload_parts_pkey PRIMARY KEY (id)
table upload_parts constraint upload_parts_received_check CHECK (((status <> 'RECEIVED'::text) OR (crc32c IS NOT NULL)))
table upload_parts constraint upload_parts_session_id_fkey FOREIGN KEY (session_id) REFERENCES upload_sessions(id)
table upload_parts constraint upload_parts_session_part_unique UNIQUE (session_id, part_number)
table upload_parts constraint upload_parts_sha256_check CHECK ((sha256 ~ '^[0-9a-f]{64}$'::text))
table upload_parts constraint upload_parts_size_bytes_check CHECK ((size_bytes >= 0))
table upload_parts constraint upload_parts_status_check CHECK ((status = ANY (ARRAY['PENDING'::text, 'RECEIVED'::text, 'FAILED'::text])))
index upload_parts_pkey CREATE UNIQUE INDEX upload_parts_pkey ON upload_parts USING btree (id)
index upload_parts_session_part_unique CREATE UNIQUE INDEX upload_parts_session_part_unique ON upload_parts USING btree (session_id, part_number)
table upload_reservations column id uuid NOT NULL
table upload_reservations column user_id uuid NOT NULL
table upload_reservations column size_bytes bigint NOT NULL
table upload_reservations column expires_at timestamp with time zone NOT NULL
table upload_reservations constraint upload_reservations_pkey PRIMARY KEY (id)
table upload_reservations constraint upload_reservations_size_bytes_check CHECK ((size_bytes >= 0))
table upload_reservations constraint upload_reservations_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
index upload_reservations_pkey CREATE UNIQUE INDEX upload_reservations_pkey ON upload_reservations USING btree (id)
index upload_reservations_user_idx CREATE INDEX upload_reservations_user_idx ON upload_reservations USING btree (user_id, expires_at)
table upload_sessions column id uuid NOT NULL
table upload_sessions column created_at timestamp with time zone NOT NULL
table upload_sessions column updated_at timestamp with time zone NOT NULL
table upload_sessions column file_id uuid NOT NULL
table upload_sessions column status text NOT NULL DEFAULT 'INIT'::text
table upload_sessions column chunk_size_bytes bigint NOT NULL
table upload_sessions column total_parts integer NOT NULL
table upload_sessions column received_parts_count integer NOT NULL DEFAULT 0
table upload_sessions column idempotency_key text
table upload_sessions column uploaded_by_id uuid NOT NULL
table upload_sessions column expires_at timestamp with time zone NOT NULL
table upload_sessions column declared_sha256 text
table upload_sessions column hash_state bytea
table upload_sessions column hashed_parts integer NOT NULL DEFAULT 0
table upload_sessions column storage_upload_id text
table upload_sessions column completed_at timestamp with time zone
table upload_sessions column streamed boolean NOT NULL DEFAULT false
table upload_sessions column offset_bytes bigint NOT NULL DEFAULT 0
table upload_sessions column tail_crc32c bigint NOT NULL DEFAULT 0
table upload_sessions column length_deferred boolean NOT NULL DEFAULT false
table upload_sessions column partial boolean NOT NULL DEFAULT false
table upload_sessions column lease_owner text
table upload_sessions column lease_expires_at timestamp with time zone
table upload_sessions column tus_metadata text
table upload_sessions column tus_concat text
table upload_sessions constraint upload_sessions_chunk_size_bytes_check CHECK ((chunk_size_bytes > 0))
table upload_sessions constraint upload_sessions_complete_check CHECK (((status <> 'COMPLETE'::text) OR ((completed_at IS NOT NULL) AND (received_parts_count = total_parts))))
table upload_sessions constraint upload_sessions_declared_sha256_check CHECK ((declared_sha256 ~ '^[0-9a-f]{64}$'::text))
table upload_sessions constraint upload_sessions_file_id_fkey FOREIGN KEY (file_id) REFERENCES ingest_files(id)
table upload_sessions constraint upload_sessions_file_id_key UNIQUE (file_id)
table upload_sessions constraint upload_sessions_hashed_parts_check CHECK (((hashed_parts >= 0) AND (hashed_parts <= received_parts_count)))
table upload_sessions constraint upload_sessions_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 255)))
table upload_sessions constraint upload_sessions_idempotency_key_unique UNIQUE (uploaded_by_id, idempotency_key)
table upload_sessions constraint upload_sessions_lease_owner_check CHECK (((length(lease_owner) >= 1) AND (length(lease_owner) <= 64)))
table upload_sessions constraint upload_sessions_offset_bytes_check CHECK ((offset_bytes >= 0))
table upload_sessions constraint upload_sessions_parts_check CHECK (((received_parts_count >= 0) AND (received_parts_count <= total_parts)))
table upload_sessions constraint upload_sessions_pkey PRIMARY KEY (id)
table upload_sessions constraint upload_sessions_status_check CHECK ((status = ANY (ARRAY['INIT'::text, 'IN_PROGRESS'::text, 'COMPLETE'::text, 'FAILED'::text, 'ABORTED'::text])))
table upload_sessions constraint upload_sessions_tail_crc32c_check CHECK (((tail_crc32c >= 0) AND (tail_crc32c <= '4294967295'::bigint)))
table upload_sessions constraint upload_sessions_total_parts_check CHECK (((total_parts >= 0) AND (total_parts <= 10000)))
table upload_sessions constraint upload_sessions_tus_concat_check CHECK (((length(tus_concat) >= 1) AND (length(tus_concat) <= 65536)))
table upload_sessions constraint upload_sessions_tus_metadata_check CHECK (((length(tus_metadata) >= 1) AND (length(tus_metadata) <= 16384)))
table upload_sessions constraint upload_sessions_uploaded_by_id_fkey FOREIGN KEY (uploaded_by_id) REFERENCES users(id)
index upload_sessions_active_expires_at_idx CREATE INDEX upload_sessions_active_expires_at_idx ON upload_sessions USING btree (expires_at) WHERE (status = ANY (ARRAY['INIT'::text, 'IN_PROGRESS'::text]))
index upload_sessions_active_uploader_idx CREATE INDEX upload_sessions_active_uploader_idx ON upload_sessions USING btree (uploaded_by_id) WHERE (status = ANY (ARRAY['INIT'::text, 'IN_PROGRESS'::text]))
index upload_sessions_file_id_key CREATE UNIQUE INDEX upload_sessions_file_id_key ON upload_sessions USING btree (file_id)
index upload_sessions_idempotency_key_unique CREATE UNIQUE INDEX upload_sessions_idempotency_key_unique ON upload_sessions USING btree (uploaded_by_id, idempotency_key)
index upload_sessions_pkey CREATE UNIQUE INDEX upload_sessions_pkey ON upload_sessions USING btree (id)
index upload_sessions_status_idx CREATE INDEX upload_sessions_status_idx ON upload_sessions USING btree (status, id)
table uppy_part_sizes column session_id uuid NOT NULL
table uppy_part_sizes column part_size_bytes bigint NOT NULL
table uppy_part_sizes constraint uppy_part_sizes_part_size_bytes_check CHECK ((part_size_bytes > 0))
table uppy_part_sizes constraint uppy_part_sizes_pkey PRIMARY KEY (session_id)
table uppy_part_sizes constraint uppy_part_sizes_session_id_fkey FOREIGN KEY (session_id) REFERENCES upload_sessions(id) ON DELETE CASCADE
index uppy_part_sizes_pkey CREATE UNIQUE INDEX uppy_part_sizes_pkey ON uppy_part_sizes USING btree (session_id)
table users column id uuid NOT NULL
table users column created_at timestamp with time zone NOT NULL
table users column updated_at timestamp with time zone NOT NULL
table users column username text NOT NULL
table users column is_admin boolean NOT NULL DEFAULT false
table users column disabled_at timestamp with time zone
table users column password_hash text
table users constraint users_password_hash_check CHECK ((password_hash ~~ '$argon2id$%'::text))
table users constraint users_pkey PRIMARY KEY (id)
table users constraint users_username_check CHECK (((length(username) >= 1) AND (length(username) <= 64)))
table users constraint users_username_key UNIQUE (username)
index users_pkey CREATE UNIQUE INDEX users_pkey ON users USING btree (id)
index users_username_key CREATE UNIQUE INDEX users_username_key ON users USING btree (username)
function ingest_files_terminal_status

BEGIN
    IF OLD.status IN ('STORED', 'FAILED') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'ingest_files: a STORED or FAILED file cannot change status'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END

function portal_event_outbox_requires_stored_file

BEGIN
    IF NOT EXISTS (SELECT 1 FROM ingest_files WHERE id = NEW.file_id AND status = 'STORED') THEN
        RAISE EXCEPTION 'portal_event_outbox: the file is not STORED'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END

