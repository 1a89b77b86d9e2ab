-- credstore:drops every refresh token: token clients sign in again
-- credstore:drops the token signing keys: every access token issued stops working
DROP INDEX signing_keys_state_key;
DROP TABLE signing_keys;
DROP INDEX refresh_tokens_live_key;
DROP INDEX refresh_tokens_session_id_idx;
DROP TABLE refresh_tokens;
