CREATE TABLE "cli_logins" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"device_code_hash" text NOT NULL,
	"user_code" varchar(9) NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"approved_by_name" text,
	"approved_role" text,
	"token_id" uuid,
	"expires_at" timestamp with time zone NOT NULL,
	"last_polled_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cli_logins_device_code_hash_unique" UNIQUE("device_code_hash"),
	CONSTRAINT "cli_logins_status_check" CHECK (status in ('pending', 'approved', 'denied', 'consumed', 'expired')),
	CONSTRAINT "cli_logins_role_check" CHECK (approved_role is null or approved_role in ('admin', 'deployer', 'reader')),
	CONSTRAINT "cli_logins_user_code_format" CHECK (user_code ~ '^[A-Z]{4}-[A-Z]{4}$')
);
--> statement-breakpoint
ALTER TABLE "cli_logins" ADD CONSTRAINT "cli_logins_token_id_api_tokens_id_fk" FOREIGN KEY ("token_id") REFERENCES "public"."api_tokens"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "cli_logins_pending_user_code_uniq" ON "cli_logins" USING btree ("user_code") WHERE status = 'pending';