-- credstore:drops every second factor and recovery code: those users sign in with their password alone until they enroll again
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE totp_enrollments;
DROP TABLE totp_factors;
