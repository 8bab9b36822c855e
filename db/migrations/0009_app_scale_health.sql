ALTER TABLE "applications" ADD COLUMN "instances" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "applications" ADD COLUMN "last_instances" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "applications" ADD COLUMN "max_instances" integer;--> statement-breakpoint
ALTER TABLE "applications" ADD COLUMN "health" text;--> statement-breakpoint
ALTER TABLE "applications" ADD COLUMN "health_message" text;--> statement-breakpoint
ALTER TABLE "applications" ADD COLUMN "health_changed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "applications" ADD CONSTRAINT "applications_instances_non_negative" CHECK (instances >= 0);--> statement-breakpoint
ALTER TABLE "applications" ADD CONSTRAINT "applications_last_instances_positive" CHECK (last_instances >= 1);--> statement-breakpoint
ALTER TABLE "applications" ADD CONSTRAINT "applications_max_instances_positive" CHECK (coalesce(max_instances, 1) >= 1);--> statement-breakpoint
ALTER TABLE "applications" ADD CONSTRAINT "applications_health_check" CHECK (health in ('healthy', 'degraded', 'restarting', 'crash_loop', 'stopped'));