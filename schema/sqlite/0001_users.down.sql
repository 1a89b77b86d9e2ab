-- credstore:drops every user and their password
DROP TABLE credentials;
DROP INDEX users_email_lower_key;
DROP TABLE users;
