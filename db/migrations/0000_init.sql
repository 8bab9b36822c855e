CREATE TABLE "api_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"token_hash" text NOT NULL,
	"hint" text NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"user_id" uuid,
	"expires_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "api_tokens_token_hash_unique" UNIQUE("token_hash"),
	CONSTRAINT "api_tokens_role_check" CHECK (role in ('admin', 'deployer', 'reader'))
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"email" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "applications" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" varchar(63) NOT NULL,
	"owner" text NOT NULL,
	"owner_user_id" uuid,
	"max_artifacts" integer,
	"max_total_bytes" bigint,
	"retain_latest" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "applications_name_unique" UNIQUE("name"),
	CONSTRAINT "applications_name_dns_label" CHECK (name ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'),
	CONSTRAINT "applications_quota_non_negative" CHECK (coalesce(max_artifacts, 0) >= 0 and coalesce(max_total_bytes, 0) >= 0 and coalesce(retain_latest, 1) >= 1)
);
--> statement-breakpoint
CREATE TABLE "public_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"app_id" uuid NOT NULL,
	"public_key_hex" varchar(64) NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deactivated_at" timestamp with time zone,
	CONSTRAINT "public_keys_hex" CHECK (public_key_hex ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "artifact_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"artifact_id" uuid NOT NULL,
	"type" text NOT NULL,
	"message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "artifacts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"app_id" uuid NOT NULL,
	"digest" varchar(64) NOT NULL,
	"size_bytes" bigint NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"storage_key" text NOT NULL,
	"signature" varchar(128),
	"verified" boolean DEFAULT false NOT NULL,
	"verified_key_id" uuid,
	"idempotency_key" text,
	"multipart_upload_id" text,
	"failure_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	"stored_at" timestamp with time zone,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "artifacts_status_check" CHECK (status in ('pending', 'verifying', 'stored', 'failed', 'deleted')),
	CONSTRAINT "artifacts_digest_hex" CHECK (digest ~ '^[0-9a-f]{64}$'),
	CONSTRAINT "artifacts_size_non_negative" CHECK (size_bytes >= 0)
);
--> statement-breakpoint
CREATE TABLE "deployment_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"deployment_id" uuid NOT NULL,
	"phase" text NOT NULL,
	"message" text DEFAULT '' NOT NULL,
	"duration_ms" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deployments" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"app_id" uuid NOT NULL,
	"artifact_id" uuid NOT NULL,
	"digest" varchar(64) NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"failure_reason" text,
	"url" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_transition_at" timestamp with time zone DEFAULT now() NOT NULL,
	"rollout_started_at" timestamp with time zone,
	"rollout_completed_at" timestamp with time zone,
	CONSTRAINT "deployments_status_check" CHECK (status in ('pending', 'rolling_out', 'running', 'failed', 'superseded', 'rolled_back'))
);
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "applications" ADD CONSTRAINT "applications_owner_user_id_users_id_fk" FOREIGN KEY ("owner_user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "public_keys" ADD CONSTRAINT "public_keys_app_id_applications_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "artifact_events" ADD CONSTRAINT "artifact_events_artifact_id_artifacts_id_fk" FOREIGN KEY ("artifact_id") REFERENCES "public"."artifacts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "artifacts" ADD CONSTRAINT "artifacts_app_id_applications_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "artifacts" ADD CONSTRAINT "artifacts_verified_key_id_public_keys_id_fk" FOREIGN KEY ("verified_key_id") REFERENCES "public"."public_keys"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployment_events" ADD CONSTRAINT "deployment_events_deployment_id_deployments_id_fk" FOREIGN KEY ("deployment_id") REFERENCES "public"."deployments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployments" ADD CONSTRAINT "deployments_app_id_applications_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."applications"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployments" ADD CONSTRAINT "deployments_artifact_id_artifacts_id_fk" FOREIGN KEY ("artifact_id") REFERENCES "public"."artifacts"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_tokens_user_idx" ON "api_tokens" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "public_keys_app_key_uniq" ON "public_keys" USING btree ("app_id","public_key_hex");--> statement-breakpoint
CREATE INDEX "public_keys_app_active_idx" ON "public_keys" USING btree ("app_id") WHERE active;--> statement-breakpoint
CREATE INDEX "artifact_events_artifact_idx" ON "artifact_events" USING btree ("artifact_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "artifacts_app_digest_uniq" ON "artifacts" USING btree ("app_id","digest");--> statement-breakpoint
CREATE UNIQUE INDEX "artifacts_app_idempotency_uniq" ON "artifacts" USING btree ("app_id","idempotency_key") WHERE idempotency_key is not null;--> statement-breakpoint
CREATE INDEX "artifacts_app_status_created_idx" ON "artifacts" USING btree ("app_id","status","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "artifacts_status_updated_idx" ON "artifacts" USING btree ("status","updated_at");--> statement-breakpoint
CREATE INDEX "deployment_events_deployment_idx" ON "deployment_events" USING btree ("deployment_id","id");--> statement-breakpoint
CREATE INDEX "deployments_app_created_idx" ON "deployments" USING btree ("app_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "deployments_status_idx" ON "deployments" USING btree ("status");--> statement-breakpoint
CREATE UNIQUE INDEX "deployments_in_flight_uniq" ON "deployments" USING btree ("app_id","digest") WHERE status in ('pending', 'rolling_out');