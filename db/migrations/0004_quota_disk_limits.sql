ALTER TABLE "applications" ADD COLUMN "max_unpacked_bytes" bigint;--> statement-breakpoint
ALTER TABLE "artifacts" ADD COLUMN "part_size_bytes" bigint;--> statement-breakpoint
ALTER TABLE "applications" ADD CONSTRAINT "applications_max_unpacked_positive" CHECK (coalesce(max_unpacked_bytes, 1) >= 1);