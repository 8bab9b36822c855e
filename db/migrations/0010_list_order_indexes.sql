DROP INDEX "deployments_app_created_idx";--> statement-breakpoint
CREATE INDEX "artifacts_app_created_id_idx" ON "artifacts" USING btree ("app_id","created_at","id");--> statement-breakpoint
CREATE INDEX "artifacts_created_id_idx" ON "artifacts" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "deployments_app_created_id_idx" ON "deployments" USING btree ("app_id","created_at","id");--> statement-breakpoint
CREATE INDEX "deployments_created_id_idx" ON "deployments" USING btree ("created_at","id");