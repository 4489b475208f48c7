"""Authentication and roles: users, API and sensor tokens (argon2 hashes), the caller's
``Principal``, the role each route allows, and the limit on failed logins."""
