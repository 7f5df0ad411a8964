"""The rules of the manual (R2–R15) as operations on the store; the API and the admin UI both call these."""
