-- credstore:drops every second factor and recovery code: those users sign in with their password alone until they enroll again
DROP INDEX mfa_challenges_expires_at_idx;
DROP INDEX mfa_challenges_user_id_idx;
DROP TABLE mfa_challenges;
DROP INDEX recovery_codes_user_id_idx;
DROP TABLE recovery_codes;
DROP INDEX totp_enrollments_expires_at_idx;
DROP TABLE totp_enrollments;
DROP TABLE totp_factors;
