-- credstore:drops every refresh token: token clients sign in again
-- credstore:drops the token signing keys: every access token issued stops working
DROP TABLE signing_keys;
DROP TABLE refresh_tokens;
