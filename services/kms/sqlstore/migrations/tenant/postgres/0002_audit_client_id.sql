-- name: kms audit events record the client id
ALTER TABLE "kms_audit_events" ADD COLUMN "client_id" varchar(255) NOT NULL DEFAULT '';
