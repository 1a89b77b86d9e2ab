DROP INDEX signing_keys_state_key;
DROP TABLE signing_keys;
DROP INDEX refresh_tokens_live_key;
DROP INDEX refresh_tokens_session_id_idx;
DROP TABLE refresh_tokens;
