CREATE TABLE "teams" (
	"name" varchar(63) PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "teams_name_dns_label" CHECK (name ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')
);
--> statement-breakpoint
CREATE TABLE "config_versions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"app_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"entries" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"settings" jsonb DEFAULT '{"start_command":null,"health_path":null,"health_timeout_secs":null}'::jsonb NOT NULL,
	"changes" jsonb DEFAULT '{"set":[],"unset":[],"settings":[]}'::jsonb NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "config_versions_version_positive" CHECK (version >= 1)
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"actor_role" text,
	"actor_token_id" uuid,
	"team" text,
	"action" text NOT NULL,
	"target" text,
	"request_id" text,
	"outcome" text NOT NULL,
	"detail" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
INSERT INTO "teams" ("name") VALUES ('default');--> statement-breakpoint
DROP INDEX "deployments_in_flight_uniq";--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "teams" text[];--> statement-breakpoint
ALTER TABLE "applications" ADD COLUMN "team" varchar(63) DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "applications" ADD COLUMN "config_version_id" uuid;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "config_version_id" uuid;--> statement-breakpoint
ALTER TABLE "config_versions" ADD CONSTRAINT "config_versions_app_id_applications_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "config_versions_app_version_uniq" ON "config_versions" USING btree ("app_id","version");--> statement-breakpoint
CREATE INDEX "config_versions_app_idx" ON "config_versions" USING btree ("app_id","version" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_log_team_idx" ON "audit_log" USING btree ("team","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_log_target_idx" ON "audit_log" USING btree ("target","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_log_created_idx" ON "audit_log" USING btree ("created_at" DESC NULLS LAST);--> statement-breakpoint
ALTER TABLE "applications" ADD CONSTRAINT "applications_team_teams_name_fk" FOREIGN KEY ("team") REFERENCES "public"."teams"("name") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
-- Every existing app gets version 1, empty (what its releases ran with until now).
INSERT INTO "config_versions" ("app_id", "version", "created_by") SELECT "id", 1, 'migration' FROM "applications";--> statement-breakpoint
UPDATE "applications" a SET "config_version_id" = c."id" FROM "config_versions" c WHERE c."app_id" = a."id";--> statement-breakpoint
UPDATE "deployments" d SET "config_version_id" = c."id" FROM "config_versions" c WHERE c."app_id" = d."app_id";--> statement-breakpoint
ALTER TABLE "deployments" ALTER COLUMN "config_version_id" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "applications" ADD CONSTRAINT "applications_config_version_id_config_versions_id_fk" FOREIGN KEY ("config_version_id") REFERENCES "public"."config_versions"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployments" ADD CONSTRAINT "deployments_config_version_id_config_versions_id_fk" FOREIGN KEY ("config_version_id") REFERENCES "public"."config_versions"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "applications_team_idx" ON "applications" USING btree ("team");--> statement-breakpoint
CREATE UNIQUE INDEX "deployments_in_flight_uniq" ON "deployments" USING btree ("app_id","digest","config_version_id") WHERE status in ('pending', 'rolling_out');--> statement-breakpoint
-- The audit log is append-only below the code too: no role the app connects as can rewrite history.
CREATE FUNCTION "audit_log_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;--> statement-breakpoint
CREATE TRIGGER "audit_log_no_rewrite" BEFORE UPDATE OR DELETE ON "audit_log" FOR EACH ROW EXECUTE FUNCTION "audit_log_append_only"();
